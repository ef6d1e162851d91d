"""Reporting's read models and the platform tables.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from chargeyard_platform.db import create_platform_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_platform_tables(op)
    op.create_table(
        "sites",
        sa.Column("site_id", sa.String(64), primary_key=True),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("topology_updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "station_sites",
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("site_id", sa.String(64), nullable=False, index=True),
        sa.Column("topology_updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "stations",
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("vendor", sa.Text, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("serial_number", sa.Text),
        sa.Column("firmware_version", sa.Text),
        sa.Column("ocpp_version", sa.String(20), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "connector_status",
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("evse_id", sa.Integer, primary_key=True),
        sa.Column("connector_id", sa.Integer, primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error_code", sa.Text),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "evse_power",
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("evse_id", sa.Integer, primary_key=True),
        sa.Column("power_w", sa.Integer, nullable=False),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "meter_readings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("evse_id", sa.Integer, nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("register_wh", sa.BigInteger, nullable=False),
        sa.Column("delta_wh", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("station_id", "evse_id", "read_at", name="uq_meter_readings_evse_time"),
    )
    op.create_index("ix_meter_readings_read_at", "meter_readings", ["read_at"])
    op.create_table(
        "transactions",
        sa.Column("transaction_id", sa.String(36), primary_key=True),
        sa.Column("station_id", sa.String(48), nullable=False, index=True),
        sa.Column("evse_id", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    for table in (
        "transactions",
        "meter_readings",
        "evse_power",
        "connector_status",
        "stations",
        "station_sites",
        "sites",
        "processed_events",
        "outbox",
    ):
        op.drop_table(table)
