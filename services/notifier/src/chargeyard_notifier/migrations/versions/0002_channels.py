"""Channels: the delivery log (push, e-mail, webhook), preferences, webhooks, station states.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("body", sa.Text))
        batch.add_column(sa.Column("data", sa.JSON))
        batch.add_column(sa.Column("dedup_key", sa.String(300)))
        batch.create_unique_constraint("uq_notifications_dedup_key", ["dedup_key"])
    with op.batch_alter_table("reservations") as batch:
        batch.add_column(sa.Column("status", sa.String(20)))
        batch.add_column(sa.Column("conflict", sa.JSON))
        batch.add_column(sa.Column("plan_id", sa.String(64)))
        batch.add_column(sa.Column("assigned_station_id", sa.String(48)))
        batch.add_column(sa.Column("assigned_evse_id", sa.Integer))
    op.create_table(
        "deliveries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("notification_id", sa.String(36), sa.ForeignKey("notifications.id"), nullable=False, index=True),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("target", sa.String(320), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
        sa.Column("address", sa.String(320)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("notification_id", "channel", "target", name="uq_deliveries_notification_channel_target"),
        sa.Index("ix_deliveries_due", "status", "next_attempt_at"),
        sa.Index("ix_deliveries_stream", "channel", "target", "id"),
    )
    op.create_table(
        "preferences",
        sa.Column("recipient", sa.String(64), primary_key=True),
        sa.Column("channel", sa.String(20), primary_key=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("secret", sa.String(200), nullable=False),
        sa.Column("kinds", sa.JSON, nullable=False),
        sa.Column("recipient", sa.String(64)),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "station_states",
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("evse_id", sa.Integer, primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("station_states", "webhooks", "preferences", "deliveries"):
        op.drop_table(table)
    with op.batch_alter_table("reservations") as batch:
        for column in ("assigned_evse_id", "assigned_station_id", "plan_id", "conflict"):
            batch.drop_column(column)
        batch.drop_column("status")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_constraint("uq_notifications_dedup_key", type_="unique")
        batch.drop_column("dedup_key")
        batch.drop_column("data")
        batch.drop_column("body")
