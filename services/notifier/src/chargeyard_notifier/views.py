"""Read side: notifications and the delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from .adapters.orm import deliveries, notifications


class NotificationView(BaseModel):
    id: str
    recipient: str
    channel: str
    """The channels it went out on, comma-separated."""
    kind: str
    subject: str
    body: str | None = None
    data: dict[str, Any] | None = None
    reservation_id: str | None
    created_at: datetime


class DeliveryView(BaseModel):
    id: int
    notification_id: str
    recipient: str
    kind: str
    channel: str
    target: str
    """The recipient (push, driver e-mail), the operator's address, or the webhook id."""
    address: str | None
    """Where it went: the e-mail address or webhook URL used on the last attempt."""
    status: str
    """pending, sent, failed (gave up, see last_error) or skipped (nowhere to send it)."""
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


async def list_notifications(
    session: AsyncSession,
    *,
    recipient: str | None = None,
    reservation_id: str | None = None,
    kind: str | None = None,
    limit: int = 100,
) -> list[NotificationView]:
    n = notifications.c
    query = sa.select(notifications).order_by(n.created_at.desc(), n.id).limit(limit)
    if recipient is not None:
        query = query.where(n.recipient == recipient)
    if reservation_id is not None:
        query = query.where(n.reservation_id == reservation_id)
    if kind is not None:
        query = query.where(n.kind == kind)
    return [NotificationView.model_validate(row._asdict()) for row in (await session.execute(query)).all()]


async def list_deliveries(
    session: AsyncSession,
    *,
    recipient: str | None = None,
    notification_id: str | None = None,
    channel: str | None = None,
    status: str | None = None,
    limit: int = 100,
) -> list[DeliveryView]:
    d, n = deliveries.c, notifications.c
    query = (
        sa.select(deliveries, n.recipient, n.kind)
        .join(notifications, n.id == d.notification_id)
        .order_by(d.id.desc())
        .limit(limit)
    )
    for column, value in (
        (n.recipient, recipient),
        (d.notification_id, notification_id),
        (d.channel, channel),
        (d.status, status),
    ):
        if value is not None:
            query = query.where(column == value)
    return [DeliveryView.model_validate(row._asdict()) for row in (await session.execute(query)).all()]
