from __future__ import annotations

import sqlalchemy as sa
from chargeyard_platform.db import UtcDateTime

metadata = sa.MetaData()


notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("recipient", sa.String(64), nullable=False, index=True),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("kind", sa.String(50), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("reservation_id", sa.String(64), index=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("body", sa.Text),
    sa.Column("data", sa.JSON),
    sa.Column("dedup_key", sa.String(300)),
    # What the notification is about (a reservation's status, a plan, a fault); a fact told
    # once, however often and under however many event ids it arrives.
    sa.UniqueConstraint("dedup_key", name="uq_notifications_dedup_key"),
)

# What the notifier knows of each reservation: who to tell, and what it told them last, so a
# re-plan that changes nothing for a driver sends nothing.
reservations = sa.Table(
    "reservations",
    metadata,
    sa.Column("reservation_id", sa.String(64), primary_key=True),
    sa.Column("site_id", sa.String(64), nullable=False),
    sa.Column("driver_id", sa.String(64)),
    sa.Column("requested", sa.Boolean, nullable=False),
    sa.Column("station_id", sa.String(48)),
    sa.Column("evse_id", sa.Integer),
    sa.Column("connector_id", sa.Integer),
    sa.Column("planned_start", UtcDateTime()),
    sa.Column("planned_finish", UtcDateTime()),
    sa.Column("planned_energy_wh", sa.Integer),
    sa.Column("requested_wh", sa.Integer),
    sa.Column("time_zone", sa.String(64)),
    sa.Column("scheduled_to", sa.String(64)),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    # The life-cycle status last seen on reservation.updated, and the latest conflict offer.
    sa.Column("status", sa.String(20)),
    sa.Column("conflict", sa.JSON),
    sa.Column("plan_id", sa.String(64)),
    sa.Column("assigned_station_id", sa.String(48)),
    sa.Column("assigned_evse_id", sa.Integer),
)

# The delivery log: one row per notification, channel and target. Its integer id is the push
# stream's event id (SSE `id:`), so a client that reconnects with Last-Event-ID gets the rest.
deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("notification_id", sa.String(36), sa.ForeignKey("notifications.id"), nullable=False, index=True),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("target", sa.String(320), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UtcDateTime()),
    sa.Column("last_error", sa.Text),
    sa.Column("address", sa.String(320)),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("sent_at", UtcDateTime()),
    sa.UniqueConstraint("notification_id", "channel", "target", name="uq_deliveries_notification_channel_target"),
    sa.Index("ix_deliveries_due", "status", "next_attempt_at"),
    sa.Index("ix_deliveries_stream", "channel", "target", "id"),
)

preferences = sa.Table(
    "preferences",
    metadata,
    sa.Column("recipient", sa.String(64), primary_key=True),
    sa.Column("channel", sa.String(20), primary_key=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("secret", sa.String(200), nullable=False),
    sa.Column("kinds", sa.JSON, nullable=False),
    sa.Column("recipient", sa.String(64)),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

# Last status per station and EVSE, so a fault is told when it starts, not at every repeat.
station_states = sa.Table(
    "station_states",
    metadata,
    sa.Column("station_id", sa.String(48), primary_key=True),
    sa.Column("evse_id", sa.Integer, primary_key=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)
