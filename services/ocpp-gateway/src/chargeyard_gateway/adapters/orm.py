"""The gateway's tables. Keep in step with migrations/versions/ (0001_initial, then each revision)."""

import sqlalchemy as sa

metadata = sa.MetaData()

stations = sa.Table(
    "stations",
    metadata,
    sa.Column("id", sa.String(48), primary_key=True),
    sa.Column("accepted", sa.Boolean, nullable=False),
    sa.Column("ocpp_version", sa.String(16)),
    sa.Column("vendor", sa.String(50)),
    sa.Column("model", sa.String(50)),
    sa.Column("serial_number", sa.String(50)),
    sa.Column("firmware_version", sa.String(50)),
    sa.Column("capabilities", sa.JSON),
    sa.Column("evses", sa.JSON),
    sa.Column("last_seen_at", sa.DateTime(timezone=True)),
    sa.Column("registered_at", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # 0003_security: OCPP security profile 0-3 and the argon2id hash of the Basic password.
    sa.Column("security_profile", sa.Integer, nullable=False, server_default="0"),
    sa.Column("password_hash", sa.String(255)),
    sa.Column("password_updated_at", sa.DateTime(timezone=True)),
)

# Which instance holds each station's websocket: instances share the fleet and the database.
connections = sa.Table(
    "connections",
    metadata,
    sa.Column("station_id", sa.String(48), primary_key=True),
    sa.Column("instance_id", sa.String(100), nullable=False, index=True),
    sa.Column("ocpp_version", sa.String(16), nullable=False),
    sa.Column("connected_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
)

# `id` is the OCPP 1.6 integer transactionId: allocated by the database, so unique across
# instances; `transaction_id` is the platform's string id, a UUID for every version (rows from
# before migration 0002 keep the 2.0.1 station's own id); `station_transaction_id` is the
# 2.0.1 station's own transactionId, unique only per station (2.0.1 E01: "unique ... within the
# Charging Station").
transactions = sa.Table(
    "transactions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("station_id", sa.String(48), nullable=False),
    sa.Column("transaction_id", sa.String(36), nullable=False),
    sa.Column("ocpp_version", sa.String(16), nullable=False),
    sa.Column("evse_id", sa.Integer, nullable=False),
    sa.Column("connector_id", sa.Integer, nullable=False),
    sa.Column("id_token", sa.String(36)),
    sa.Column("meter_start_wh", sa.BigInteger),
    sa.Column("meter_stop_wh", sa.BigInteger),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ended_at", sa.DateTime(timezone=True)),
    sa.Column("offline", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("station_transaction_id", sa.String(36)),
    sa.UniqueConstraint("station_id", "transaction_id", name="uq_transactions_station_tx"),
    sa.UniqueConstraint("station_id", "station_transaction_id", name="uq_transactions_station_own_tx"),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id_token", sa.String(36), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("driver_id", sa.String(64)),
    sa.Column("expires_at", sa.DateTime(timezone=True)),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# Commands from station.commands, recorded by the consumer and delivered by the dispatcher.
# status: pending -> sending (claimed by instance_id) -> done (with outcome).
station_commands = sa.Table(
    "station_commands",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("command_id", sa.String(64), nullable=False, unique=True),
    sa.Column("station_id", sa.String(48), nullable=False),
    sa.Column("command", sa.String(40), nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("correlation_id", sa.String(64)),
    sa.Column("expires_at", sa.DateTime(timezone=True)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("outcome", sa.String(16)),
    sa.Column("detail", sa.Text),
    sa.Column("instance_id", sa.String(100)),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("claimed_at", sa.DateTime(timezone=True)),
    sa.Column("completed_at", sa.DateTime(timezone=True)),
    # 0003_security: the instance whose consumer recorded it; since when (wall time) it waits
    # for its station to come back (offline_grace_s).
    sa.Column("recorded_by", sa.String(100)),
    sa.Column("offline_since", sa.DateTime(timezone=True)),
    sa.Index("ix_station_commands_status_station", "status", "station_id"),
)

# 0003_security: the last accepted SetChargingProfile per station, EVSE, purpose and stack level
# (what the station should hold); re-sent when the station reconnects.
delivered_profiles = sa.Table(
    "delivered_profiles",
    metadata,
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

# OCPP reservationId is an integer (1.6 §6.38, 2.0.1 H01 `id`); the platform's is a string. `id`
# is allocated by the database, so unique across gateway instances.
reservations = sa.Table(
    "reservations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("station_id", sa.String(48), nullable=False),
    sa.Column("reservation_id", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("station_id", "reservation_id", name="uq_reservations_station_reservation"),
)

# Every OCPP frame per station, both directions (service_layer/journal.py).
journal = sa.Table(
    "journal",
    metadata,
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
    sa.Index("ix_journal_station_id", "station_id", "id"),
    sa.Index("ix_journal_at", "at"),
)
