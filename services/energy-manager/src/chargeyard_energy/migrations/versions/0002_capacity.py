"""Circuits, phase rotation, dynamic load, non-obeying EVSEs, fail-safe maxima, groups, third
parties and their audit log, capacity profiles and reports, prices, operator commands, priority.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

NEW_TABLES = (
    "circuits",
    "building_readings",
    "evse_state",
    "sent_failsafe",
    "published_capacity",
    "groups",
    "group_evses",
    "parties",
    "party_groups",
    "capacity_profiles",
    "audit_log",
    "group_reports",
    "site_energy",
    "operator_commands",
    "priority_requests",
)


def upgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.add_column(sa.Column("grid_limit_a", sa.Float))
        batch.add_column(sa.Column("safety_margin_w", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("building_timeout_s", sa.Integer))
        batch.add_column(sa.Column("building_fallback_w", sa.Integer))
        batch.add_column(sa.Column("max_priority", sa.Integer, nullable=False, server_default="5"))
    with op.batch_alter_table("stations") as batch:
        batch.add_column(sa.Column("circuit_id", sa.String(64)))
        batch.add_column(sa.Column("phase_rotation", sa.String(8), nullable=False, server_default="RST"))
    op.create_table(
        "circuits",
        sa.Column("site_id", sa.String(64), sa.ForeignKey("sites.id"), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("parent_id", sa.String(64)),
        sa.Column("limit_a", sa.Float),
        sa.Column("limit_w", sa.Integer),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "building_readings",
        sa.Column("site_id", sa.String(64), primary_key=True),
        sa.Column("total_w", sa.Integer),
        sa.Column("phase_a", sa.JSON),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "evse_state",
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("evse_id", sa.Integer, primary_key=True),
        sa.Column("power_w", sa.Integer),
        sa.Column("phase_a", sa.JSON),
        sa.Column("energy_wh", sa.Integer),
        sa.Column("measured_at", sa.DateTime(timezone=True)),
        sa.Column("counted_reason", sa.String(16)),
        sa.Column("counted_w", sa.Integer),
        sa.Column("counted_since", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "sent_failsafe",
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("steps", sa.JSON, nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "published_capacity",
        sa.Column("site_id", sa.String(64), primary_key=True),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "groups",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("strategy", sa.String(32), nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "group_evses",
        sa.Column("group_id", sa.String(64), sa.ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("evse_id", sa.Integer, primary_key=True),
    )
    op.create_table(
        "parties",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "party_groups",
        sa.Column("party_id", sa.String(64), sa.ForeignKey("parties.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("group_id", sa.String(64), primary_key=True),
    )
    op.create_table(
        "capacity_profiles",
        sa.Column("group_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("unit", sa.String(4), nullable=False),
        sa.Column("intervals", sa.JSON, nullable=False),
        sa.Column("set_by", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("party_id", sa.String(64)),
        sa.Column("group_id", sa.String(64), index=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("accepted", sa.Boolean, nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_table(
        "group_reports",
        sa.Column("group_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("energy", sa.JSON),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "site_energy",
        sa.Column("site_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "operator_commands",
        sa.Column("command_id", sa.String(64), primary_key=True),
        sa.Column("station_id", sa.String(48), nullable=False, index=True),
        sa.Column("command", sa.JSON, nullable=False),
        sa.Column("issued_by", sa.String(100), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(16)),
        sa.Column("detail", sa.Text),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "priority_requests",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("site_id", sa.String(64), nullable=False, index=True),
        sa.Column("reservation_id", sa.String(64), nullable=False),
        sa.Column("requested", sa.Integer, nullable=False),
        sa.Column("granted", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("requested_by", sa.String(100), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in reversed(NEW_TABLES):
        op.drop_table(table)
    with op.batch_alter_table("stations") as batch:
        batch.drop_column("phase_rotation")
        batch.drop_column("circuit_id")
    with op.batch_alter_table("sites") as batch:
        for column in ("max_priority", "building_fallback_w", "building_timeout_s", "safety_margin_w", "grid_limit_a"):
            batch.drop_column(column)
