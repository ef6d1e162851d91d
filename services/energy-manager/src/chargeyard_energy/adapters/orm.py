import sqlalchemy as sa
from chargeyard_platform.db import UtcDateTime

metadata = sa.MetaData()

sites = sa.Table(
    "sites",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("time_zone", sa.String(64), nullable=False),
    sa.Column("grid_limit_w", sa.Integer, nullable=False),
    sa.Column("voltage_v", sa.Float, nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("grid_limit_a", sa.Float),
    sa.Column("safety_margin_w", sa.Integer, nullable=False, server_default="0"),
    sa.Column("building_timeout_s", sa.Integer),
    sa.Column("building_fallback_w", sa.Integer),
    sa.Column("max_priority", sa.Integer, nullable=False, server_default="5"),
)

stations = sa.Table(
    "stations",
    metadata,
    sa.Column("id", sa.String(48), primary_key=True),
    sa.Column("site_id", sa.String(64), sa.ForeignKey("sites.id"), nullable=False, index=True),
    sa.Column("max_power_w", sa.Integer, nullable=False),
    sa.Column("phases", sa.Integer, nullable=False),
    sa.Column("evse_ids", sa.JSON, nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("circuit_id", sa.String(64)),
    sa.Column("phase_rotation", sa.String(8), nullable=False, server_default="RST"),
)

sent_profiles = sa.Table(
    "sent_profiles",
    metadata,
    sa.Column("station_id", sa.String(48), primary_key=True),
    sa.Column("evse_id", sa.Integer, primary_key=True),
    sa.Column("steps", sa.JSON, nullable=False),
    sa.Column("plan_id", sa.String(64), nullable=False),
)
"""The plan-layer limit each EVSE was last sent, as [[iso time, W], ...]: the start point of the
next safe transition."""

# --- 0002: electrical topology, dynamic load, groups and third parties, prices, commands ---------

circuits = sa.Table(
    "circuits",
    metadata,
    sa.Column("site_id", sa.String(64), sa.ForeignKey("sites.id"), primary_key=True),
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("parent_id", sa.String(64)),
    sa.Column("limit_a", sa.Float),
    sa.Column("limit_w", sa.Integer),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)
"""Boards and circuits: a tree under the grid connection (parent_id None = on the connection)."""

building_readings = sa.Table(
    "building_readings",
    metadata,
    sa.Column("site_id", sa.String(64), primary_key=True),
    sa.Column("total_w", sa.Integer),
    sa.Column("phase_a", sa.JSON),
    sa.Column("measured_at", UtcDateTime(), nullable=False),
)

evse_state = sa.Table(
    "evse_state",
    metadata,
    sa.Column("station_id", sa.String(48), primary_key=True),
    sa.Column("evse_id", sa.Integer, primary_key=True),
    sa.Column("power_w", sa.Integer),
    sa.Column("phase_a", sa.JSON),
    sa.Column("energy_wh", sa.Integer),
    sa.Column("measured_at", UtcDateTime()),
    sa.Column("counted_reason", sa.String(16)),
    sa.Column("counted_w", sa.Integer),
    sa.Column("counted_since", UtcDateTime()),
)
"""Last metered draw of each EVSE and whether it is counted as not obeying (see domain.capacity)."""

sent_failsafe = sa.Table(
    "sent_failsafe",
    metadata,
    sa.Column("station_id", sa.String(48), primary_key=True),
    sa.Column("steps", sa.JSON, nullable=False),
    sa.Column("sent_at", UtcDateTime(), nullable=False),
)
"""The station maximum (A per phase) each station was last sent, as [[iso time, A], ...]."""

published_capacity = sa.Table(
    "published_capacity",
    metadata,
    sa.Column("site_id", sa.String(64), primary_key=True),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("published_at", UtcDateTime(), nullable=False),
)

groups = sa.Table(
    "groups",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("strategy", sa.String(32), nullable=False),
    sa.Column("settings", sa.JSON, nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

group_evses = sa.Table(
    "group_evses",
    metadata,
    sa.Column("group_id", sa.String(64), sa.ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("station_id", sa.String(48), primary_key=True),
    sa.Column("evse_id", sa.Integer, primary_key=True),
)

parties = sa.Table(
    "parties",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)
"""Third parties (DSOs, traders, local EMS); only the SHA-256 of their API key is kept."""

party_groups = sa.Table(
    "party_groups",
    metadata,
    sa.Column("party_id", sa.String(64), sa.ForeignKey("parties.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("group_id", sa.String(64), primary_key=True),
)

capacity_profiles = sa.Table(
    "capacity_profiles",
    metadata,
    sa.Column("group_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("unit", sa.String(4), nullable=False),
    sa.Column("intervals", sa.JSON, nullable=False),
    sa.Column("set_by", sa.String(64), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)
"""One profile per group; a new one replaces the old entirely. intervals: [[start, end, value, W], ...]."""

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("party_id", sa.String(64)),
    sa.Column("group_id", sa.String(64), index=True),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("accepted", sa.Boolean, nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),
)

group_reports = sa.Table(
    "group_reports",
    metadata,
    sa.Column("group_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("energy", sa.JSON),
    sa.Column("reported_at", UtcDateTime(), nullable=False),
)
"""The latest flexibility / allocation event per group (kind), and the EVSE registers at the
start of the next allocation interval."""

site_energy = sa.Table(
    "site_energy",
    metadata,
    sa.Column("site_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(8), primary_key=True),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("published_at", UtcDateTime(), nullable=False),
)
"""The latest prices / green energy published per site."""

operator_commands = sa.Table(
    "operator_commands",
    metadata,
    sa.Column("command_id", sa.String(64), primary_key=True),
    sa.Column("station_id", sa.String(48), nullable=False, index=True),
    sa.Column("command", sa.JSON, nullable=False),
    sa.Column("issued_by", sa.String(100), nullable=False),
    sa.Column("issued_at", UtcDateTime(), nullable=False),
    sa.Column("outcome", sa.String(16)),
    sa.Column("detail", sa.Text),
    sa.Column("completed_at", UtcDateTime()),
)

priority_requests = sa.Table(
    "priority_requests",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("site_id", sa.String(64), nullable=False, index=True),
    sa.Column("reservation_id", sa.String(64), nullable=False),
    sa.Column("requested", sa.Integer, nullable=False),
    sa.Column("granted", sa.Integer, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("requested_by", sa.String(100), nullable=False),
    sa.Column("requested_at", UtcDateTime(), nullable=False),
)

# A firmware roll-out: one UpdateFirmware per station, each an operator command (its outcome comes
# from station.command-results); the stations' FirmwareStatusNotifications are on station.events.
firmware_rollouts = sa.Table(
    "firmware_rollouts",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("location", sa.Text, nullable=False),
    sa.Column("retrieve_at", UtcDateTime(), nullable=False),
    sa.Column("site_id", sa.String(64)),
    sa.Column("retries", sa.Integer),
    sa.Column("retry_interval_s", sa.Integer),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False, index=True),
)

firmware_rollout_stations = sa.Table(
    "firmware_rollout_stations",
    metadata,
    sa.Column("rollout_id", sa.String(64), sa.ForeignKey("firmware_rollouts.id"), primary_key=True),
    sa.Column("station_id", sa.String(48), primary_key=True),
    sa.Column("command_id", sa.String(64), nullable=False, unique=True),
    sa.Column("request_id", sa.Integer, nullable=False),
)
