"""Security profiles, connection life and scale-out: station credentials, the profiles last
accepted per station (re-sent on reconnect), and the command columns for offline grace.

Revision ID: 0003_security
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_security"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stations") as batch:
        batch.add_column(sa.Column("security_profile", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("password_hash", sa.String(255)))
        batch.add_column(sa.Column("password_updated_at", sa.DateTime(timezone=True)))
    with op.batch_alter_table("station_commands") as batch:
        batch.add_column(sa.Column("recorded_by", sa.String(100)))
        batch.add_column(sa.Column("offline_since", sa.DateTime(timezone=True)))
    op.create_table(
        "delivered_profiles",
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("evse_id", sa.Integer, primary_key=True),
        sa.Column("purpose", sa.String(40), primary_key=True),
        sa.Column("stack_level", sa.Integer, primary_key=True),
        sa.Column("profile_id", sa.Integer, nullable=False),
        sa.Column("transaction_id", sa.String(36)),
        sa.Column("command", sa.JSON, nullable=False),
        sa.Column("command_id", sa.String(64), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("delivered_profiles")
    with op.batch_alter_table("station_commands") as batch:
        batch.drop_column("offline_since")
        batch.drop_column("recorded_by")
    with op.batch_alter_table("stations") as batch:
        batch.drop_column("password_updated_at")
        batch.drop_column("password_hash")
        batch.drop_column("security_profile")
