"""Sites, stations on sites, and the platform tables.

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
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("grid_limit_w", sa.Integer, nullable=False),
        sa.Column("voltage_v", sa.Float, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "stations",
        sa.Column("id", sa.String(48), primary_key=True),
        sa.Column("site_id", sa.String(64), sa.ForeignKey("sites.id"), nullable=False, index=True),
        sa.Column("max_power_w", sa.Integer, nullable=False),
        sa.Column("phases", sa.Integer, nullable=False),
        sa.Column("evse_ids", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "sent_profiles",
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("evse_id", sa.Integer, primary_key=True),
        sa.Column("steps", sa.JSON, nullable=False),
        sa.Column("plan_id", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sent_profiles")
    op.drop_table("stations")
    op.drop_table("sites")
    op.drop_table("processed_events")
    op.drop_table("outbox")
