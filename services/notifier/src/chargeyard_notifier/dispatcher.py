"""Sends what the handlers wrote down for e-mail and webhooks, with retries and backoff.

Each due delivery is claimed first (its next attempt pushed out by a lease, rows locked with
SKIP LOCKED on PostgreSQL, so several notifier instances share the work), then sent outside any
transaction, then its outcome recorded with notification.sent in one transaction. A crash after
sending and before recording sends it again when the lease ends: at least once, with the same
Message-ID / X-Chargeyard-Delivery so receivers can tell.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from chargeyard_contracts import NotificationSent
from chargeyard_platform.bus import Outbox
from chargeyard_platform.clock import Clock
from chargeyard_platform.db import Database
from chargeyard_platform.webhooks import next_attempt

from .adapters.channels import DeliveryFailed, Mailer, WebhookSender
from .adapters.directory import Directory, DirectoryUnavailable
from .adapters.orm import deliveries, notifications, webhooks
from .domain.messages import OPERATOR

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=120)


@dataclass
class Dispatcher:
    db: Database
    clock: Clock
    outbox: Outbox
    mailer: Mailer
    webhooks: WebhookSender
    directory: Directory
    max_attempts: int = 6
    retry_base_s: float = 2.0
    retry_max_s: float = 600.0
    interval_s: float = 0.5
    batch: int = 20

    async def run(self) -> None:
        while True:
            try:
                await self.dispatch_once()
            except Exception:
                # Never silent: the rows stay due and are tried again; the loop lives on.
                log.exception("dispatching notifications failed; retrying")
            await asyncio.sleep(self.interval_s)

    async def dispatch_once(self) -> int:
        """Sends every due delivery once; returns how many were tried."""
        claimed = await self._claim()
        for delivery in claimed:
            await self._send(delivery)
        return len(claimed)

    async def _claim(self) -> list[dict[str, Any]]:
        d, n = deliveries.c, notifications.c
        now = self.clock.now()
        async with self.db.transaction() as session:
            query = (
                sa.select(d.id)
                .where(d.status == "pending")
                .where(d.next_attempt_at <= now)
                .order_by(d.next_attempt_at, d.id)
                .limit(self.batch)
            )
            if self.db.is_postgres:
                query = query.with_for_update(skip_locked=True)
            ids = list((await session.execute(query)).scalars())
            if not ids:
                return []
            await session.execute(deliveries.update().where(d.id.in_(ids)).values(next_attempt_at=now + LEASE))
            rows = await session.execute(
                sa.select(
                    d.id,
                    d.channel,
                    d.target,
                    d.attempts,
                    d.notification_id,
                    n.recipient,
                    n.kind,
                    n.subject,
                    n.body,
                    n.data,
                    n.reservation_id,
                    n.created_at,
                )
                .join(notifications, n.id == d.notification_id)
                .where(d.id.in_(ids))
                .order_by(d.id)
            )
            return [dict(row._mapping) for row in rows]

    async def _send(self, delivery: dict[str, Any]) -> None:
        address: str | None = None
        try:
            if delivery["channel"] == "email":
                address = await self._address(delivery)
                if address is None:
                    await self._record(delivery, "skipped", error="no e-mail address known for this recipient")
                    return
                await self.mailer.send(
                    to=address,
                    subject=delivery["subject"],
                    body=_email_body(delivery),
                    message_id=f"<{delivery['notification_id']}.{delivery['id']}@chargeyard>",
                )
            elif delivery["channel"] == "webhook":
                hook = await self._webhook(delivery["target"])
                if hook is None:
                    await self._record(delivery, "skipped", error="the webhook was deleted")
                    return
                address = hook["url"]
                await self.webhooks.post(
                    url=hook["url"],
                    secret=hook["secret"],
                    payload=_webhook_payload(delivery),
                    delivery_id=str(delivery["id"]),
                    at=self.clock.now(),
                )
            else:
                raise DeliveryFailed(f"no sender for channel {delivery['channel']}", permanent=True)
        except (DeliveryFailed, DirectoryUnavailable) as exc:
            permanent = isinstance(exc, DeliveryFailed) and exc.permanent
            attempts = delivery["attempts"] + 1
            if permanent or attempts >= self.max_attempts:
                log.error("%s delivery %s failed for good: %s", delivery["channel"], delivery["id"], exc)
                await self._record(delivery, "failed", error=str(exc), address=address)
            else:
                log.warning("%s delivery %s failed (%s); retry %d", delivery["channel"], delivery["id"], exc, attempts)
                await self._record(
                    delivery,
                    "pending",
                    error=str(exc),
                    address=address,
                    retry_at=next_attempt(self.clock.now(), attempts, self.retry_base_s, self.retry_max_s),
                )
            return
        await self._record(delivery, "sent", address=address)

    async def _address(self, delivery: dict[str, Any]) -> str | None:
        if delivery["recipient"] == OPERATOR:
            target: str = delivery["target"]  # operator alerts: the address itself
            return target
        return await self.directory.email_of(delivery["target"])

    async def _webhook(self, webhook_id: str) -> dict[str, Any] | None:
        async with self.db.sessions() as session:
            row = (await session.execute(sa.select(webhooks).where(webhooks.c.id == webhook_id))).first()
        return None if row is None or not row.active else dict(row._mapping)

    async def _record(
        self,
        delivery: dict[str, Any],
        status: str,
        *,
        error: str | None = None,
        address: str | None = None,
        retry_at: Any = None,
    ) -> None:
        now = self.clock.now()
        async with self.db.transaction() as session:
            await session.execute(
                deliveries.update()
                .where(deliveries.c.id == delivery["id"])
                .values(
                    status=status,
                    attempts=delivery["attempts"] + 1,
                    last_error=error[:2000] if error else None,
                    address=address,
                    next_attempt_at=retry_at,
                    sent_at=now if status == "sent" else None,
                )
            )
            if status == "sent":
                await self.outbox.add(
                    session,
                    NotificationSent(
                        notification_id=delivery["notification_id"],
                        recipient=delivery["recipient"],
                        channel=delivery["channel"],
                        kind=delivery["kind"],
                        subject=delivery["subject"],
                        reservation_id=delivery["reservation_id"],
                        sent_at=now,
                    ),
                )


def _email_body(delivery: dict[str, Any]) -> str:
    parts = [delivery["subject"]]
    if delivery["body"]:
        parts.append(delivery["body"])
    return "\n\n".join(parts) + "\n"


def _webhook_payload(delivery: dict[str, Any]) -> dict[str, Any]:
    return {
        "notification_id": delivery["notification_id"],
        "recipient": delivery["recipient"],
        "kind": delivery["kind"],
        "subject": delivery["subject"],
        "body": delivery["body"],
        "data": delivery["data"] or {},
        "reservation_id": delivery["reservation_id"],
        "created_at": delivery["created_at"].isoformat(),
    }
