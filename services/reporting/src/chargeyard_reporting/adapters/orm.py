from __future__ import annotations

import sqlalchemy as sa
from chargeyard_platform.db import UtcDateTime

metadata = sa.MetaData()


sites = sa.Table(
    "sites",
    metadata,
    sa.Column("site_id", sa.String(64), primary_key=True),
    sa.Column("time_zone", sa.String(64), nullable=False),
    sa.Column("topology_updated_at", UtcDateTime(), nullable=False),
)

station_sites = sa.Table(
    "station_sites",
    metadata,
    sa.Column("station_id", sa.String(48), primary_key=True),
    sa.Column("site_id", sa.String(64), nullable=False, index=True),
    sa.Column("topology_updated_at", UtcDateTime(), nullable=False),
)

stations = sa.Table(
    "stations",
    metadata,
    sa.Column("station_id", sa.String(48), primary_key=True),
    sa.Column("vendor", sa.Text, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("serial_number", sa.Text),
    sa.Column("firmware_version", sa.Text),
    sa.Column("ocpp_version", sa.String(20), nullable=False),
    sa.Column("registered_at", UtcDateTime(), nullable=False),
)

connector_status = sa.Table(
    "connector_status",
    metadata,
    sa.Column("station_id", sa.String(48), primary_key=True),
    sa.Column("evse_id", sa.Integer, primary_key=True),
    sa.Column("connector_id", sa.Integer, primary_key=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("error_code", sa.Text),
    sa.Column("status_at", UtcDateTime(), nullable=False),
)

evse_power = sa.Table(
    "evse_power",
    metadata,
    sa.Column("station_id", sa.String(48), primary_key=True),
    sa.Column("evse_id", sa.Integer, primary_key=True),
    sa.Column("power_w", sa.Integer, nullable=False),
    sa.Column("measured_at", UtcDateTime(), nullable=False),
)

meter_readings = sa.Table(
    "meter_readings",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("station_id", sa.String(48), nullable=False),
    sa.Column("evse_id", sa.Integer, nullable=False),
    sa.Column("read_at", UtcDateTime(), nullable=False),
    sa.Column("register_wh", sa.BigInteger, nullable=False),
    sa.Column("delta_wh", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("station_id", "evse_id", "read_at", name="uq_meter_readings_evse_time"),
    sa.Index("ix_meter_readings_read_at", "read_at"),
)

transactions = sa.Table(
    "transactions",
    metadata,
    sa.Column("transaction_id", sa.String(36), primary_key=True),
    sa.Column("station_id", sa.String(48), nullable=False, index=True),
    sa.Column("evse_id", sa.Integer, nullable=False),
    sa.Column("started_at", UtcDateTime()),
    sa.Column("ended_at", UtcDateTime()),
)

status_history = sa.Table(
    "status_history",
    metadata,
    sa.Column("station_id", sa.String(48), primary_key=True),
    sa.Column("evse_id", sa.Integer, primary_key=True),
    sa.Column("connector_id", sa.Integer, primary_key=True),
    sa.Column("at", UtcDateTime(), primary_key=True),
    sa.Column("status", sa.String(20), primary_key=True),
    sa.Column("error_code", sa.Text),
    sa.Column("vendor_error_code", sa.Text),
    sa.Index("ix_status_history_at", "at"),
)

station_events = sa.Table(
    "station_events",
    metadata,
    sa.Column("event_key", sa.String(64), primary_key=True),
    sa.Column("station_id", sa.String(48), nullable=False, index=True),
    sa.Column("at", UtcDateTime(), nullable=False, index=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("code", sa.Text),
    sa.Column("detail", sa.Text),
)

charges = sa.Table(
    "charges",
    metadata,
    sa.Column("transaction_id", sa.String(36), primary_key=True),
    sa.Column("cdr_id", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("station_id", sa.String(48), nullable=False),
    sa.Column("site_id", sa.String(64)),
    sa.Column("driver_id", sa.String(64)),
    sa.Column("vehicle_id", sa.String(64)),
    sa.Column("tenant_id", sa.String(64)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("stopped_at", UtcDateTime(), nullable=False),
    sa.Column("energy_wh", sa.BigInteger),
    sa.Column("currency", sa.String(3)),
    sa.Column("net", sa.String(20)),
    sa.Column("gross", sa.String(20)),
)

green_intervals = sa.Table(
    "green_intervals",
    metadata,
    sa.Column("site_id", sa.String(64), primary_key=True),
    sa.Column("start", UtcDateTime(), primary_key=True),
    sa.Column("end", UtcDateTime(), nullable=False),
    sa.Column("renewable_share", sa.Float),
    sa.Column("forecast", sa.Boolean, nullable=False),
    sa.Column("published_at", UtcDateTime(), nullable=False),
)
