import sqlalchemy as sa
from chargeyard_platform.db import UtcDateTime

metadata = sa.MetaData()

reservations = sa.Table(
    "reservations",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("site_id", sa.String(64), nullable=False, index=True),
    sa.Column("vehicle_id", sa.String(64)),
    sa.Column("driver_id", sa.String(64)),
    sa.Column("arrival", UtcDateTime(), nullable=False),
    sa.Column("departure", UtcDateTime(), nullable=False),
    sa.Column("energy_wh", sa.Integer, nullable=False),
    sa.Column("max_power_w", sa.Integer, nullable=False),
    sa.Column("phases", sa.Integer, nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("station_id", sa.String(48)),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("assigned_station_id", sa.String(48)),
    sa.Column("assigned_evse_id", sa.Integer),
    sa.Column("planned_start", UtcDateTime()),
    sa.Column("planned_finish", UtcDateTime()),
    sa.Column("planned_energy_wh", sa.Integer),
    sa.Column("idempotency_key", sa.String(200), unique=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    # 0002: tenants and the life cycle
    sa.Column("tenant_id", sa.String(64), index=True),
    sa.Column("time_zone", sa.String(64)),
    sa.Column("ad_hoc", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("waitlisted_at", UtcDateTime()),
    sa.Column("arrived_at", UtcDateTime()),
    sa.Column("started_at", UtcDateTime()),
    sa.Column("finished_at", UtcDateTime()),
    sa.Column("transaction_id", sa.String(36)),
    sa.Column("meter_start_wh", sa.Integer),
    sa.Column("delivered_wh", sa.Integer),
    sa.Column("conflict", sa.JSON),
    sa.Column("decision", sa.JSON),
    sa.Column("alternatives", sa.JSON),
    sa.Column("reason", sa.String(200)),
    # 0003: the trip the energy is for (distance_km, consumption, temperature, state of charge)
    sa.Column("trip", sa.JSON),
)

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(200)),
    sa.Column("roles", sa.JSON, nullable=False),
    sa.Column("driver_id", sa.String(64)),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("roles", sa.JSON, nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("revoked_at", UtcDateTime()),
)

sites = sa.Table(
    "sites",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("tenant_id", sa.String(64), index=True),
    sa.Column("name", sa.String(200)),
    sa.Column("time_zone", sa.String(64), nullable=False),
    sa.Column("stations", sa.JSON, nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

vehicles = sa.Table(
    "vehicles",
    metadata,
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
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("tenant_id", "external_ref", name="uq_vehicles_tenant_ref"),
)

drivers = sa.Table(
    "drivers",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
    sa.Column("pseudonym", sa.String(64), nullable=False, unique=True),
    sa.Column("external_ref", sa.String(100)),
    sa.Column("name", sa.String(200)),
    sa.Column("email", sa.String(320)),
    sa.Column("phone", sa.String(40)),
    sa.Column("vehicle_ids", sa.JSON, nullable=False),
    sa.Column("app_token", sa.String(36), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("erased_at", UtcDateTime()),
    sa.UniqueConstraint("tenant_id", "external_ref", name="uq_drivers_tenant_ref"),
)

rfid_tokens = sa.Table(
    "rfid_tokens",
    metadata,
    sa.Column("id_token", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
    sa.Column("driver_id", sa.String(64), index=True),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("expires_at", UtcDateTime()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

token_list = sa.Table(
    "token_list",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("tenant_id", sa.String(64), index=True),
    sa.Column("actor", sa.String(140), nullable=False),
    sa.Column("action", sa.String(60), nullable=False),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("entity_id", sa.String(64), nullable=False),
    sa.Column("detail", sa.JSON),
    sa.Column("at", UtcDateTime(), nullable=False),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("scope", sa.String(140), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=False),
    sa.Column("response", sa.JSON),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

live_transactions = sa.Table(
    "live_transactions",
    metadata,
    sa.Column("transaction_id", sa.String(36), primary_key=True),
    sa.Column("station_id", sa.String(48), nullable=False),
    sa.Column("evse_id", sa.Integer, nullable=False),
    sa.Column("id_token", sa.String(36)),
    sa.Column("meter_start_wh", sa.Integer),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("reservation_id", sa.String(64)),
)

webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("secret", sa.String(100), nullable=False),
    sa.Column("events", sa.JSON, nullable=False),
    sa.Column("description", sa.String(200)),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("webhook_id", sa.String(64), nullable=False, index=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("event_type", sa.String(60), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UtcDateTime()),
    sa.Column("last_status_code", sa.Integer),
    sa.Column("last_error", sa.String(300)),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("delivered_at", UtcDateTime()),
    sa.UniqueConstraint("webhook_id", "event_id", name="uq_webhook_deliveries_event"),
)
