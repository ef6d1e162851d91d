"""Tenants, users, API keys, sites, vehicles, drivers, RFID tokens, the audit log, idempotency keys
for every POST, and the reservation life cycle's columns.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("reservations") as batch:
        batch.add_column(sa.Column("tenant_id", sa.String(64)))
        batch.add_column(sa.Column("time_zone", sa.String(64)))
        batch.add_column(sa.Column("ad_hoc", sa.Boolean, nullable=False, server_default=sa.false()))
        for name in ("waitlisted_at", "arrived_at", "started_at", "finished_at"):
            batch.add_column(sa.Column(name, TZ))
        batch.add_column(sa.Column("transaction_id", sa.String(36)))
        batch.add_column(sa.Column("meter_start_wh", sa.Integer))
        batch.add_column(sa.Column("delivered_wh", sa.Integer))
        for name in ("conflict", "decision", "alternatives"):
            batch.add_column(sa.Column(name, sa.JSON))
        batch.add_column(sa.Column("reason", sa.String(200)))
        batch.create_index("ix_reservations_tenant_id", ["tenant_id"])
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(200)),
        sa.Column("roles", sa.JSON, nullable=False),
        sa.Column("driver_id", sa.String(64)),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("roles", sa.JSON, nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("revoked_at", TZ),
    )
    op.create_table(
        "sites",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64), index=True),
        sa.Column("name", sa.String(200)),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("stations", sa.JSON, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "vehicles",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
        sa.Column("external_ref", sa.String(100)),
        sa.Column("make", sa.String(100), nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("battery_wh", sa.Integer, nullable=False),
        sa.Column("consumption_wh_per_100km", sa.Integer, nullable=False),
        sa.Column("max_ac_power_w", sa.Integer, nullable=False),
        sa.Column("phases", sa.Integer, nullable=False),
        sa.Column("connector_type", sa.String(40), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("tenant_id", "external_ref", name="uq_vehicles_tenant_ref"),
    )
    op.create_table(
        "drivers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
        sa.Column("pseudonym", sa.String(64), nullable=False, unique=True),
        sa.Column("external_ref", sa.String(100)),
        sa.Column("name", sa.String(200)),
        sa.Column("email", sa.String(320)),
        sa.Column("phone", sa.String(40)),
        sa.Column("vehicle_ids", sa.JSON, nullable=False),
        sa.Column("app_token", sa.String(36), nullable=False, unique=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("erased_at", TZ),
        sa.UniqueConstraint("tenant_id", "external_ref", name="uq_drivers_tenant_ref"),
    )
    op.create_table(
        "rfid_tokens",
        sa.Column("id_token", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
        sa.Column("driver_id", sa.String(64), index=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("expires_at", TZ),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "token_list",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(64), index=True),
        sa.Column("actor", sa.String(140), nullable=False),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=False),
        sa.Column("detail", sa.JSON),
        sa.Column("at", TZ, nullable=False),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(140), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("response", sa.JSON),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "live_transactions",
        sa.Column("transaction_id", sa.String(36), primary_key=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("evse_id", sa.Integer, nullable=False),
        sa.Column("id_token", sa.String(36)),
        sa.Column("meter_start_wh", sa.Integer),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("reservation_id", sa.String(64)),
    )


def downgrade() -> None:
    for table in (
        "live_transactions",
        "idempotency_keys",
        "audit_log",
        "token_list",
        "rfid_tokens",
        "drivers",
        "vehicles",
        "sites",
        "api_keys",
        "users",
        "tenants",
    ):
        op.drop_table(table)
    with op.batch_alter_table("reservations") as batch:
        batch.drop_index("ix_reservations_tenant_id")
        for name in (
            "reason",
            "alternatives",
            "decision",
            "conflict",
            "delivered_wh",
            "meter_start_wh",
            "transaction_id",
            "finished_at",
            "started_at",
            "arrived_at",
            "waitlisted_at",
            "ad_hoc",
            "time_zone",
            "tenant_id",
        ):
            batch.drop_column(name)
