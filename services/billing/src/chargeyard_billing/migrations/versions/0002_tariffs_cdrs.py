"""Tariffs, accounts, token owners, station sites, every register reading, CDRs.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sessions", sa.Column("full_at", sa.DateTime(timezone=True)))
    op.create_table(
        "session_readings",
        sa.Column("transaction_id", sa.String(36), primary_key=True),
        sa.Column("read_at", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("register_wh", sa.BigInteger, primary_key=True),
        sa.Column("signed", sa.JSON),
    )
    op.create_table(
        "tariffs",
        sa.Column("tariff_id", sa.String(64), primary_key=True),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "accounts",
        sa.Column("driver_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64)),
        sa.Column("user_group", sa.String(64)),
        sa.Column("cost_centre", sa.String(64)),
        sa.Column("vehicle_id", sa.String(64)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "token_owners",
        sa.Column("id_token", sa.String(36), primary_key=True),
        sa.Column("driver_id", sa.String(64)),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "station_sites",
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("topology_updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "cdrs",
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
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("energy_wh", sa.BigInteger),
        sa.Column("currency", sa.String(3)),
        sa.Column("net", sa.String(20)),
        sa.Column("vat", sa.String(20)),
        sa.Column("gross", sa.String(20)),
        sa.Column("anomalies", sa.JSON, nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("cdrs", "station_sites", "token_owners", "accounts", "tariffs", "session_readings"):
        op.drop_table(table)
    op.drop_column("sessions", "full_at")
