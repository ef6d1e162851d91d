"""Firmware roll-outs to groups of stations: the roll-out and one UpdateFirmware command per station.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "firmware_rollouts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("retrieve_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("site_id", sa.String(64)),
        sa.Column("retries", sa.Integer),
        sa.Column("retry_interval_s", sa.Integer),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )
    op.create_table(
        "firmware_rollout_stations",
        sa.Column("rollout_id", sa.String(64), sa.ForeignKey("firmware_rollouts.id"), primary_key=True),
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("command_id", sa.String(64), nullable=False, unique=True),
        sa.Column("request_id", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("firmware_rollout_stations")
    op.drop_table("firmware_rollouts")
