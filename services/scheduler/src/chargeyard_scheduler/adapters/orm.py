"""The scheduler's own database: its mirror of demand and supply, and the plans it made."""

import sqlalchemy as sa
from chargeyard_platform.db import UtcDateTime

metadata = sa.MetaData()

sites = sa.Table(
    "sites",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("time_zone", sa.String(64), nullable=False),
    sa.Column("grid_limit_w", sa.Integer, nullable=False),
    sa.Column("voltage_v", sa.Float, nullable=False),
    sa.Column("stations", sa.JSON, nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("circuits", sa.JSON, nullable=True),
)

demands = sa.Table(
    "demands",
    metadata,
    sa.Column("reservation_id", sa.String(64), primary_key=True),
    sa.Column("site_id", sa.String(64), nullable=False, index=True),
    sa.Column("arrival", UtcDateTime(), nullable=False),
    sa.Column("departure", UtcDateTime(), nullable=False),
    sa.Column("energy_wh", sa.Integer, nullable=False),
    sa.Column("delivered_wh", sa.Integer, nullable=False),
    sa.Column("max_power_w", sa.Integer, nullable=False),
    sa.Column("phases", sa.Integer, nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("station_id", sa.String(48)),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("assigned_station_id", sa.String(48)),
    sa.Column("assigned_evse_id", sa.Integer),
    sa.Column("last_register_wh", sa.Integer),
    sa.Column("distance_km", sa.Float),
    sa.Column("consumption_wh_per_100km", sa.Integer),
    sa.Column("outside_temperature_c", sa.Float),
    sa.Column("soc_percent", sa.Float),
    sa.Column("battery_capacity_wh", sa.Integer),
    sa.Column("full_soc_percent", sa.Float),
    sa.Column("ev_requested_wh", sa.Integer),
    sa.Column("soc_delivered_wh", sa.Integer),
)
"""`energy_wh`, `departure` are the reservation's terms; the energy planned comes from the demand
model (domain/demand.py) over the trip and battery columns. `soc_delivered_wh` is the energy
delivered when the state of charge was reported: what the battery lacks counts from there."""

connector_status = sa.Table(
    "connector_status",
    metadata,
    sa.Column("station_id", sa.String(48), primary_key=True),
    sa.Column("evse_id", sa.Integer, primary_key=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

plans = sa.Table(
    "plans",
    metadata,
    sa.Column("site_id", sa.String(64), primary_key=True),
    sa.Column("plan_id", sa.String(64), nullable=False),
    sa.Column("schedule", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

dirty_sites = sa.Table(
    "dirty_sites",
    metadata,
    sa.Column("site_id", sa.String(64), primary_key=True),
    sa.Column("generation", sa.Integer, nullable=False),
)

site_capacity = sa.Table(
    "site_capacity",
    metadata,
    sa.Column("site_id", sa.String(64), primary_key=True),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)
"""The energy manager's latest capacity.site per site: the per-slot limit and counted EVSEs."""

site_energy = sa.Table(
    "site_energy",
    metadata,
    sa.Column("site_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(8), primary_key=True),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)
"""The latest energy.prices ("prices") and energy.green ("green") per site, for the planner objective."""
