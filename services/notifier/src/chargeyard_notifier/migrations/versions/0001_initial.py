"""The delivery log, the reservations the notifier knows, and the platform tables.

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
        "notifications",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("recipient", sa.String(64), nullable=False, index=True),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("reservation_id", sa.String(64), index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "reservations",
        sa.Column("reservation_id", sa.String(64), primary_key=True),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("driver_id", sa.String(64)),
        sa.Column("requested", sa.Boolean, nullable=False),
        sa.Column("station_id", sa.String(48)),
        sa.Column("evse_id", sa.Integer),
        sa.Column("connector_id", sa.Integer),
        sa.Column("planned_start", sa.DateTime(timezone=True)),
        sa.Column("planned_finish", sa.DateTime(timezone=True)),
        sa.Column("planned_energy_wh", sa.Integer),
        sa.Column("requested_wh", sa.Integer),
        sa.Column("time_zone", sa.String(64)),
        sa.Column("scheduled_to", sa.String(64)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("reservations", "notifications", "processed_events", "outbox"):
        op.drop_table(table)
