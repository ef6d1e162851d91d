"""Protocol completeness: platform-wide transaction ids for 2.0.1, reservation ids, the journal.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.add_column(sa.Column("station_transaction_id", sa.String(36)))
        batch.create_unique_constraint("uq_transactions_station_own_tx", ["station_id", "station_transaction_id"])
    # Rows written before: a 2.0.1 transaction's platform id was the station's own id. It keeps
    # that id (consumers know it) and gains the mapping.
    op.execute("UPDATE transactions SET station_transaction_id = transaction_id WHERE ocpp_version <> 'ocpp1.6'")
    op.create_table(
        "reservations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("reservation_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("station_id", "reservation_id", name="uq_reservations_station_reservation"),
    )
    op.create_table(
        "journal",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("message_type", sa.String(12), nullable=False),
        sa.Column("unique_id", sa.String(64)),
        sa.Column("action", sa.String(64)),
        sa.Column("frame", sa.Text, nullable=False),
        sa.Column("error_code", sa.String(50)),
        sa.Column("vendor_error_code", sa.String(255)),
    )
    op.create_index("ix_journal_station_id", "journal", ["station_id", "id"])
    op.create_index("ix_journal_at", "journal", ["at"])


def downgrade() -> None:
    op.drop_table("journal")
    op.drop_table("reservations")
    with op.batch_alter_table("transactions") as batch:
        batch.drop_constraint("uq_transactions_station_own_tx", type_="unique")
        batch.drop_column("station_transaction_id")
