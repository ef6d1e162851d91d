"""Status history, station events, charges from billing's CDRs, green-energy intervals.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "status_history",
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("evse_id", sa.Integer, primary_key=True),
        sa.Column("connector_id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("status", sa.String(20), primary_key=True),
        sa.Column("error_code", sa.Text),
        sa.Column("vendor_error_code", sa.Text),
    )
    op.create_table(
        "station_events",
        sa.Column("event_key", sa.String(64), primary_key=True),
        sa.Column("station_id", sa.String(48), nullable=False, index=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("code", sa.Text),
        sa.Column("detail", sa.Text),
    )
    op.create_table(
        "charges",
        sa.Column("transaction_id", sa.String(36), primary_key=True),
        sa.Column("cdr_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("site_id", sa.String(64)),
        sa.Column("driver_id", sa.String(64)),
        sa.Column("vehicle_id", sa.String(64)),
        sa.Column("tenant_id", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("energy_wh", sa.BigInteger),
        sa.Column("currency", sa.String(3)),
        sa.Column("net", sa.String(20)),
        sa.Column("gross", sa.String(20)),
    )
    op.create_table(
        "green_intervals",
        sa.Column("site_id", sa.String(64), primary_key=True),
        sa.Column("start", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("renewable_share", sa.Float),
        sa.Column("forecast", sa.Boolean, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_status_history_at", "status_history", ["at"])


def downgrade() -> None:
    for table in ("green_intervals", "charges", "station_events", "status_history"):
        op.drop_table(table)
