from __future__ import annotations

import sqlalchemy as sa
from chargeyard_platform.db import UtcDateTime

metadata = sa.MetaData()


sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("transaction_id", sa.String(36), primary_key=True),
    sa.Column("station_id", sa.String(48), nullable=False, index=True),
    sa.Column("evse_id", sa.Integer, nullable=False),
    sa.Column("connector_id", sa.Integer, nullable=False),
    sa.Column("id_token", sa.String(36)),
    sa.Column("status", sa.String(20), nullable=False, index=True),
    sa.Column("started_at", UtcDateTime()),
    sa.Column("stopped_at", UtcDateTime()),
    sa.Column("stop_reason", sa.Text),
    sa.Column("offline", sa.Boolean, nullable=False),
    sa.Column("start_register_wh", sa.BigInteger),
    sa.Column("start_register_at", UtcDateTime()),
    sa.Column("start_from_transaction", sa.Boolean, nullable=False),
    sa.Column("start_signed", sa.JSON),
    sa.Column("stop_register_wh", sa.BigInteger),
    sa.Column("stop_register_at", UtcDateTime()),
    sa.Column("stop_from_transaction", sa.Boolean, nullable=False),
    sa.Column("stop_signed", sa.JSON),
    sa.Column("energy_wh", sa.BigInteger),
    sa.Column("anomaly", sa.Text),
    sa.Column("full_at", UtcDateTime()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

session_readings = sa.Table(
    "session_readings",
    metadata,
    sa.Column("transaction_id", sa.String(36), primary_key=True),
    sa.Column("read_at", UtcDateTime(), primary_key=True),
    sa.Column("register_wh", sa.BigInteger, primary_key=True),
    sa.Column("signed", sa.JSON),
)

tariffs = sa.Table(
    "tariffs",
    metadata,
    sa.Column("tariff_id", sa.String(64), primary_key=True),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("driver_id", sa.String(64), primary_key=True),
    sa.Column("tenant_id", sa.String(64)),
    sa.Column("user_group", sa.String(64)),
    sa.Column("cost_centre", sa.String(64)),
    sa.Column("vehicle_id", sa.String(64)),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

token_owners = sa.Table(
    "token_owners",
    metadata,
    sa.Column("id_token", sa.String(36), primary_key=True),
    sa.Column("driver_id", sa.String(64)),
    sa.Column("version", sa.Integer, nullable=False),
)

station_sites = sa.Table(
    "station_sites",
    metadata,
    sa.Column("station_id", sa.String(48), primary_key=True),
    sa.Column("site_id", sa.String(64), nullable=False),
    sa.Column("time_zone", sa.String(64), nullable=False),
    sa.Column("topology_updated_at", UtcDateTime(), nullable=False),
)

cdrs = sa.Table(
    "cdrs",
    metadata,
    sa.Column("cdr_id", sa.String(64), primary_key=True),
    sa.Column("transaction_id", sa.String(36), nullable=False, unique=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("driver_id", sa.String(64), index=True),
    sa.Column("vehicle_id", sa.String(64), index=True),
    sa.Column("cost_centre", sa.String(64), index=True),
    sa.Column("tenant_id", sa.String(64)),
    sa.Column("user_group", sa.String(64)),
    sa.Column("site_id", sa.String(64)),
    sa.Column("tariff_id", sa.String(64)),
    sa.Column("tariff", sa.JSON),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("stopped_at", UtcDateTime(), nullable=False, index=True),
    sa.Column("energy_wh", sa.BigInteger),
    sa.Column("currency", sa.String(3)),
    # Money as decimal strings: exact on SQLite too, where NUMERIC goes through float.
    sa.Column("net", sa.String(20)),
    sa.Column("vat", sa.String(20)),
    sa.Column("gross", sa.String(20)),
    sa.Column("anomalies", sa.JSON, nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)
