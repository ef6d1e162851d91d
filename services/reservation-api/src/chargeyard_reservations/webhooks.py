"""Webhooks on reservation changes, for fleet systems: every reservation event of a tenant
becomes one delivery per subscribed webhook (written in the transaction that consumes the event,
so a repeated event makes none twice), and the dispatcher POSTs the due ones, signed, trying
again with exponential backoff until the receiver answers 2xx or the attempts run out."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import httpx
import sqlalchemy as sa
from chargeyard_contracts import ReservationCancelled, ReservationCreated, ReservationDecided, ReservationUpdated
from chargeyard_platform.bus import Context
from chargeyard_platform.clock import Clock
from chargeyard_platform.db import Database
from chargeyard_platform.webhooks import SIGNATURE_HEADER, next_attempt, retryable_status, sign
from pydantic import BaseModel

from .adapters.orm import webhook_deliveries, webhooks
from .config import Settings
from .entrypoints.views import reservation_view
from .lifecycle import load, waitlist_position

log = logging.getLogger(__name__)

EVENT_TYPES: dict[type[BaseModel], str] = {
    ReservationCreated: "reservation.created",
    ReservationUpdated: "reservation.updated",
    ReservationCancelled: "reservation.cancelled",
    ReservationDecided: "reservation.decided",
}
DELIVERY_HEADER = "X-Chargeyard-Delivery"
EVENT_HEADER = "X-Chargeyard-Event"


def make_webhook_handler(settings: Settings) -> Any:
    async def on_reservation_event(event: Any, ctx: Context) -> None:
        """One delivery per active webhook of the reservation's tenant that asked for this type.
        The body carries the reservation as GET /v1/reservations/{id} shows it now (the tenant's
        own ids: the receiver is the tenant's), with what changed and why."""
        row = await load(ctx.session, event.reservation_id)
        if row is None or row.tenant_id is None:
            return
        event_type, event_id = EVENT_TYPES[type(event)], str(ctx.envelope.event_id)
        already = sa.select(webhook_deliveries.c.id).where(
            (webhook_deliveries.c.webhook_id == webhooks.c.id) & (webhook_deliveries.c.event_id == event_id)
        )
        hooks = [
            h
            for h in (
                await ctx.session.execute(
                    sa.select(webhooks)
                    .where(webhooks.c.tenant_id == row.tenant_id)
                    .where(webhooks.c.active)
                    # Changes from before the subscription are not sent (GET /v1/reservations has them).
                    .where(webhooks.c.created_at <= ctx.envelope.occurred_at)
                    .where(~already.exists())
                )
            ).all()
            if event_type in h.events
        ]
        if not hooks:
            return
        view = reservation_view(
            row, position=await waitlist_position(ctx.session, row), default_time_zone=settings.default_time_zone
        )
        body = json.dumps(
            {
                "id": event_id,
                "type": event_type,
                "occurred_at": ctx.envelope.occurred_at.isoformat(),
                "changes": list(getattr(event, "changes", ()) or ()),
                "reason": getattr(event, "reason", None),
                "reservation": view.model_dump(mode="json"),
            },
            separators=(",", ":"),
        )
        now = ctx.clock.now()
        for hook in hooks:
            await ctx.session.execute(
                webhook_deliveries.insert().values(
                    id=str(uuid.uuid4()),
                    webhook_id=hook.id,
                    tenant_id=hook.tenant_id,
                    event_id=event_id,
                    event_type=event_type,
                    body=body,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )

    return on_reservation_event


async def dispatch_due(db: Database, clock: Clock, http: httpx.AsyncClient, settings: Settings) -> dict[str, int]:
    """Sends the deliveries that are due once each; returns how many went, will retry, failed."""
    now = clock.now()
    done = {"delivered": 0, "retrying": 0, "failed": 0}
    async with db.sessions() as session:
        due = (
            await session.execute(
                sa.select(webhook_deliveries, webhooks.c.url, webhooks.c.secret)
                .join(webhooks, webhooks.c.id == webhook_deliveries.c.webhook_id)
                .where(webhook_deliveries.c.status == "pending")
                .where(webhook_deliveries.c.next_attempt_at <= now)
                .order_by(webhook_deliveries.c.next_attempt_at, webhook_deliveries.c.id)
                .limit(settings.webhook_batch)
            )
        ).all()
    for delivery in due:
        # Claimed by counting the attempt first: another replica's dispatcher that read the same
        # row finds the count changed and leaves it (at most one request per attempt).
        async with db.transaction() as session:
            claimed = await session.execute(
                webhook_deliveries.update()
                .where(webhook_deliveries.c.id == delivery.id)
                .where(webhook_deliveries.c.status == "pending")
                .where(webhook_deliveries.c.attempts == delivery.attempts)
                .values(attempts=delivery.attempts + 1)
            )
        if claimed.rowcount != 1:
            continue
        outcome, values = await _post(http, delivery, clock, settings)
        async with db.transaction() as session:
            await session.execute(
                webhook_deliveries.update().where(webhook_deliveries.c.id == delivery.id).values(**values)
            )
        done[outcome] += 1
    return done


async def _post(http: httpx.AsyncClient, delivery: Any, clock: Clock, settings: Settings) -> tuple[str, dict[str, Any]]:
    """One attempt; what it came to and the delivery's columns after it."""
    body = delivery.body.encode()
    attempts = delivery.attempts + 1
    status_code: int | None = None
    try:
        response = await http.post(
            delivery.url,
            content=body,
            headers={
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(delivery.secret, body, clock.now()),
                DELIVERY_HEADER: delivery.id,
                EVENT_HEADER: delivery.event_type,
            },
            timeout=settings.webhook_timeout_s,
        )
        status_code = response.status_code
        error = None if 200 <= status_code < 300 else f"HTTP {status_code}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    now = clock.now()
    values: dict[str, Any] = {"last_status_code": status_code, "last_error": error}
    if error is None:
        outcome = "delivered"
        values |= {"status": "delivered", "delivered_at": now, "next_attempt_at": None}
    elif (status_code is None or retryable_status(status_code)) and attempts < settings.webhook_max_attempts:
        outcome = "retrying"
        values["next_attempt_at"] = next_attempt(
            now, attempts, settings.webhook_retry_base_s, settings.webhook_retry_max_s
        )
    else:
        outcome = "failed"
        values |= {"status": "failed", "next_attempt_at": None}
        log.warning(
            "webhook delivery %s to %s failed after %d attempts: %s", delivery.id, delivery.url, attempts, error
        )
    return outcome, values
