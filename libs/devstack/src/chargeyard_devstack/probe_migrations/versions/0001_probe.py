"""A probe consumer for the bus and kill tests: the platform tables and a table of applied events.

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
    create_platform_tables(op)  # type: ignore[arg-type]  # alembic.op is the proxy of an Operations
    # No unique constraint on purpose: an event applied twice would show as two rows.
    op.create_table("applied", sa.Column("reservation_id", sa.String(64), nullable=False))


def downgrade() -> None:
    op.drop_table("applied")
