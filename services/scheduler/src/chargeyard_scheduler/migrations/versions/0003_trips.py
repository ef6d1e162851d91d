"""Trip and battery data per demand (demand model, state of charge from the car or the app).

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = (
    ("distance_km", sa.Float),
    ("consumption_wh_per_100km", sa.Integer),
    ("outside_temperature_c", sa.Float),
    ("soc_percent", sa.Float),
    ("battery_capacity_wh", sa.Integer),
    ("full_soc_percent", sa.Float),
    ("ev_requested_wh", sa.Integer),
    ("soc_delivered_wh", sa.Integer),
)


def upgrade() -> None:
    with op.batch_alter_table("demands") as batch:
        for name, kind in COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("demands") as batch:
        for name, _ in COLUMNS:
            batch.drop_column(name)
