"""The maintenance log: faults, repairs, inspections and documents per site and station.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "maintenance_entries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("station_id", sa.String(48)),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("author", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("document_name", sa.String(200)),
        sa.Column("document_type", sa.String(100)),
        sa.Column("document_size", sa.Integer),
        sa.Column("document", sa.LargeBinary),
    )
    op.create_index("ix_maintenance_site_station", "maintenance_entries", ["tenant_id", "site_id", "station_id"])


def downgrade() -> None:
    op.drop_table("maintenance_entries")
