"""Charging sessions and the platform tables.

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
        "sessions",
        sa.Column("transaction_id", sa.String(36), primary_key=True),
        sa.Column("station_id", sa.String(48), nullable=False, index=True),
        sa.Column("evse_id", sa.Integer, nullable=False),
        sa.Column("connector_id", sa.Integer, nullable=False),
        sa.Column("id_token", sa.String(36)),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("stopped_at", sa.DateTime(timezone=True)),
        sa.Column("stop_reason", sa.Text),
        sa.Column("offline", sa.Boolean, nullable=False),
        sa.Column("start_register_wh", sa.BigInteger),
        sa.Column("start_register_at", sa.DateTime(timezone=True)),
        sa.Column("start_from_transaction", sa.Boolean, nullable=False),
        sa.Column("start_signed", sa.JSON),
        sa.Column("stop_register_wh", sa.BigInteger),
        sa.Column("stop_register_at", sa.DateTime(timezone=True)),
        sa.Column("stop_from_transaction", sa.Boolean, nullable=False),
        sa.Column("stop_signed", sa.JSON),
        sa.Column("energy_wh", sa.BigInteger),
        sa.Column("anomaly", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sessions")
    op.drop_table("processed_events")
    op.drop_table("outbox")
