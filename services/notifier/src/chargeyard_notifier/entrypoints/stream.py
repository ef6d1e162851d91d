"""The push stream (Server-Sent Events, WHATWG HTML §9.2): one per authenticated user.

Every event's `id:` is the delivery's id in the log, so a client that reconnects with
Last-Event-ID (browsers send it by themselves) gets what it missed, in order, and nothing twice.
The stream reads the log, not a queue in memory: any notifier instance can serve any client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import sqlalchemy as sa
from chargeyard_platform.problems import Problem
from chargeyard_platform.runtime import runtime_of
from fastapi import APIRouter, Header, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from ..adapters.orm import deliveries, notifications
from ..domain.messages import OPERATOR
from ..wiring import wiring_of
from .auth import Authenticated

router = APIRouter(prefix="/v1", tags=["push"])


def _after(last_event_id: str | None, query_value: int | None) -> int:
    if query_value is not None:
        return query_value
    if last_event_id is None or last_event_id == "":
        return 0
    if not last_event_id.isdigit():
        raise Problem(
            400, "Bad Last-Event-ID", f"Last-Event-ID must be an event id from this stream, not {last_event_id!r}"
        )
    return int(last_event_id)


@router.get("/stream", response_class=EventSourceResponse)
async def driver_stream(
    request: Request,
    caller: Authenticated,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
    after: Annotated[
        int | None, Query(ge=0, description="Same as Last-Event-ID, for clients that cannot set it")
    ] = None,
) -> EventSourceResponse:
    """The signed-in driver's notifications, as they happen."""
    if caller.driver is None:
        raise Problem(403, "Not a driver", "This stream is for drivers; operators read /v1/operator/stream")
    return _stream(request, caller.driver, _after(last_event_id, after))


@router.get("/operator/stream", response_class=EventSourceResponse)
async def operator_stream(
    request: Request,
    caller: Authenticated,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> EventSourceResponse:
    """The back office's live feed: station alerts and news of reservations without a driver."""
    if not caller.operator:
        raise Problem(403, "Not an operator", "The operators' feed needs an administrator or operator role")
    return _stream(request, OPERATOR, _after(last_event_id, after))


def _stream(request: Request, recipient: str, after: int) -> EventSourceResponse:
    runtime = runtime_of(request)
    wiring = wiring_of(request)

    async def events() -> AsyncIterator[ServerSentEvent]:
        last = after
        while True:
            async with runtime.db.sessions() as session:
                rows = (await session.execute(_news(recipient, last))).all()
            for row in rows:
                last = row.id
                yield ServerSentEvent(data=json.dumps(_payload(row)), event=row.kind, id=str(row.id))
            if not rows:
                await asyncio.sleep(wiring.stream_poll_s)

    return EventSourceResponse(events(), ping=int(max(1, wiring.stream_ping_s)))


def _news(recipient: str, after: int) -> sa.Select[Any]:
    d, n = deliveries.c, notifications.c
    return (
        sa.select(
            d.id, n.id.label("notification_id"), n.kind, n.subject, n.body, n.data, n.reservation_id, n.created_at
        )
        .join(notifications, n.id == d.notification_id)
        .where(d.channel == "push")
        .where(d.target == recipient)
        .where(d.id > after)
        .order_by(d.id)
        .limit(100)
    )


def _payload(row: Any) -> dict[str, Any]:
    return {
        "notification_id": row.notification_id,
        "kind": row.kind,
        "subject": row.subject,
        "body": row.body,
        "data": row.data or {},
        "reservation_id": row.reservation_id,
        "created_at": row.created_at.isoformat(),
    }
