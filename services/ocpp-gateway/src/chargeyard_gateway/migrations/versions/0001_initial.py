"""The platform tables (outbox, processed events) and the gateway's own.

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
        "stations",
        sa.Column("id", sa.String(48), primary_key=True),
        sa.Column("accepted", sa.Boolean, nullable=False),
        sa.Column("ocpp_version", sa.String(16)),
        sa.Column("vendor", sa.String(50)),
        sa.Column("model", sa.String(50)),
        sa.Column("serial_number", sa.String(50)),
        sa.Column("firmware_version", sa.String(50)),
        sa.Column("capabilities", sa.JSON),
        sa.Column("evses", sa.JSON),
        sa.Column("last_seen_at", sa.DateTime(timezone=True)),
        sa.Column("registered_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "connections",
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("instance_id", sa.String(100), nullable=False),
        sa.Column("ocpp_version", sa.String(16), nullable=False),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_connections_instance_id", "connections", ["instance_id"])
    op.create_table(
        "transactions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("transaction_id", sa.String(36), nullable=False),
        sa.Column("ocpp_version", sa.String(16), nullable=False),
        sa.Column("evse_id", sa.Integer, nullable=False),
        sa.Column("connector_id", sa.Integer, nullable=False),
        sa.Column("id_token", sa.String(36)),
        sa.Column("meter_start_wh", sa.BigInteger),
        sa.Column("meter_stop_wh", sa.BigInteger),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("offline", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("station_id", "transaction_id", name="uq_transactions_station_tx"),
    )
    op.create_table(
        "tokens",
        sa.Column("id_token", sa.String(36), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("driver_id", sa.String(64)),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "station_commands",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("command_id", sa.String(64), nullable=False, unique=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("command", sa.String(40), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("correlation_id", sa.String(64)),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16)),
        sa.Column("detail", sa.Text),
        sa.Column("instance_id", sa.String(100)),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_station_commands_status_station", "station_commands", ["status", "station_id"])


def downgrade() -> None:
    op.drop_table("station_commands")
    op.drop_table("tokens")
    op.drop_table("transactions")
    op.drop_table("connections")
    op.drop_table("stations")
    op.drop_table("processed_events")
    op.drop_table("outbox")
