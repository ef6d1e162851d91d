"""Reservations and the platform tables.

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
        "reservations",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("site_id", sa.String(64), nullable=False, index=True),
        sa.Column("vehicle_id", sa.String(64)),
        sa.Column("driver_id", sa.String(64)),
        sa.Column("arrival", sa.DateTime(timezone=True), nullable=False),
        sa.Column("departure", sa.DateTime(timezone=True), nullable=False),
        sa.Column("energy_wh", sa.Integer, nullable=False),
        sa.Column("max_power_w", sa.Integer, nullable=False),
        sa.Column("phases", sa.Integer, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("station_id", sa.String(48)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("assigned_station_id", sa.String(48)),
        sa.Column("assigned_evse_id", sa.Integer),
        sa.Column("planned_start", sa.DateTime(timezone=True)),
        sa.Column("planned_finish", sa.DateTime(timezone=True)),
        sa.Column("planned_energy_wh", sa.Integer),
        sa.Column("idempotency_key", sa.String(200), unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reservations")
    op.drop_table("processed_events")
    op.drop_table("outbox")
