"""Webhooks on reservation changes (issue 7, fleet integration): signed with HMAC, tried again
with exponential backoff, one delivery per event even when the event comes twice, and only the
tenant's own reservations. The receiver is a real HTTP server on a local port."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from chargeyard_contracts import Envelope, ReservationCreated, ReservationUpdated
from chargeyard_platform.bus import Context
from chargeyard_platform.webhooks import SIGNATURE_HEADER, verify
from chargeyard_reservations.handlers import make_handlers
from chargeyard_reservations.webhooks import dispatch_due
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..builders import a_reservation, a_tenant, ok
from ..conftest import outbox_rows


@dataclass
class Receiver:
    """A fleet system's endpoint: answers with the next status in `answers` (then 204)."""

    url: str = ""
    answers: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    got = Receiver()

    async def hook(request: Request) -> Response:
        got.received.append((dict(request.headers), await request.body()))
        return Response(status_code=got.answers.pop(0) if got.answers else 204)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(Starlette(routes=[Route("/hook", hook, methods=["POST"])]), port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or task.done():
            raise RuntimeError("the receiver did not start")
        await asyncio.sleep(0.01)
    got.url = f"http://127.0.0.1:{port}/hook"
    yield got
    server.should_exit = True
    await task


async def consume_reservation_events(db: Any, runtime: Any, already: int = 0) -> int:
    """The reservation API consumes its own reservation topics: each outbox row's envelope, as
    Kafka would deliver it, from row `already` on; returns the number of rows."""
    handlers = make_handlers(runtime.settings)
    models = {"reservation.created": ReservationCreated, "reservation.updated": ReservationUpdated}
    rows = [r for r in await outbox_rows(db) if r["topic"] in models]
    for row in rows[already:]:
        envelope = Envelope.model_validate({k: v for k, v in row.items() if k != "topic"})
        event = models[row["topic"]].model_validate(row["payload"])
        async with db.transaction() as session:
            await handlers[type(event)](event, Context(session, envelope, runtime.outbox, runtime.clock))
    return len(rows)


@pytest.mark.asyncio
async def test_a_reservation_change_reaches_the_fleet_system_signed_and_after_retries(  # type: ignore[no-untyped-def]
    client, connect, deliver, runtime, db, receiver: Receiver
) -> None:
    tenant = await a_tenant(client, connect, deliver, "fleet-a")
    manager = connect(tenant.key)
    runtime.clock.advance(1)
    hook = ok(
        await manager.post(
            "/v1/webhooks",
            json={"url": receiver.url, "events": ["reservation.created"], "description": "TMS"},
            headers={"Idempotency-Key": "hook-1"},
        ),
        201,
    )
    secret = hook["secret"]
    assert secret.startswith("whsec_") and hook["tenant_id"] == "fleet-a"
    assert "secret" not in ok(await manager.get(f"/v1/webhooks/{hook['id']}")), "the secret is shown once"
    seen = await consume_reservation_events(db, runtime)  # what happened before the subscription

    booked = ok(await manager.post("/v1/reservations", json=a_reservation(site_id=tenant.site_id)), 201)
    seen = await consume_reservation_events(db, runtime, seen)
    # The same event again (at-least-once delivery): still one delivery.
    await consume_reservation_events(db, runtime, seen - 1)
    (created,) = [
        r for r in await outbox_rows(db, "reservation.created") if r["payload"]["reservation_id"] == booked["id"]
    ]

    async with httpx.AsyncClient() as http:
        receiver.answers = [503, 429]
        settings = runtime.settings
        assert await dispatch_due(db, runtime.clock, http, settings) == {"delivered": 0, "retrying": 1, "failed": 0}
        # Backoff: nothing is due until the first retry time (2 s), then 4 s after the second failure.
        assert await dispatch_due(db, runtime.clock, http, settings) == {"delivered": 0, "retrying": 0, "failed": 0}
        runtime.clock.advance(2)
        assert await dispatch_due(db, runtime.clock, http, settings) == {"delivered": 0, "retrying": 1, "failed": 0}
        runtime.clock.advance(3)
        assert (await dispatch_due(db, runtime.clock, http, settings))["delivered"] == 0
        runtime.clock.advance(1)
        assert await dispatch_due(db, runtime.clock, http, settings) == {"delivered": 1, "retrying": 0, "failed": 0}

    assert len(receiver.received) == 3
    headers, body = receiver.received[-1]
    assert verify(secret, body, headers[SIGNATURE_HEADER.lower()], runtime.clock.now())
    assert not verify("whsec_wrong", body, headers[SIGNATURE_HEADER.lower()], runtime.clock.now())
    assert not verify(secret, body, headers[SIGNATURE_HEADER.lower()], runtime.clock.now() + timedelta(minutes=10))
    event = json.loads(body)
    assert event["type"] == "reservation.created" and headers["x-chargeyard-event"] == "reservation.created"
    assert event["reservation"]["id"] == booked["id"] and event["reservation"]["tenant_id"] == "fleet-a"
    assert event["id"] == created["event_id"], "receivers deduplicate by the event id"
    # All three attempts carried the same delivery id.
    assert len({h["x-chargeyard-delivery"] for h, _ in receiver.received}) == 1

    log = ok(await manager.get(f"/v1/webhooks/{hook['id']}/deliveries"))["items"]
    assert [(d["status"], d["attempts"], d["last_status_code"]) for d in log] == [("delivered", 3, 204)]


@pytest.mark.asyncio
async def test_a_refusing_receiver_fails_at_once_and_other_tenants_changes_never_go_out(  # type: ignore[no-untyped-def]
    client, connect, deliver, runtime, db, receiver: Receiver
) -> None:
    a = await a_tenant(client, connect, deliver, "fleet-a")
    b = await a_tenant(client, connect, deliver, "fleet-b")
    runtime.clock.advance(1)
    hook = ok(await connect(a.key).post("/v1/webhooks", json={"url": receiver.url}), 201)
    seen = await consume_reservation_events(db, runtime)
    ok(await connect(b.key).post("/v1/reservations", json=a_reservation(site_id=b.site_id)), 201)
    ok(await connect(b.key).post(f"/v1/reservations/{b.ids['reservation_id']}/cancel", json={}))
    seen = await consume_reservation_events(db, runtime, seen)
    async with httpx.AsyncClient() as http:
        assert await dispatch_due(db, runtime.clock, http, runtime.settings) == {
            "delivered": 0,
            "retrying": 0,
            "failed": 0,
        }, "tenant B's changes went to tenant A's webhook"
        ok(await connect(a.key).post(f"/v1/reservations/{a.ids['reservation_id']}/cancel", json={"reason": "sick"}))
        await consume_reservation_events(db, runtime, seen)
        receiver.answers = [410]  # a 4xx other than 408/429: the receiver will not take it, no retry
        assert await dispatch_due(db, runtime.clock, http, runtime.settings) == {
            "delivered": 0,
            "retrying": 0,
            "failed": 1,
        }
    (sent,) = receiver.received
    assert json.loads(sent[1])["reservation"]["status"] == "cancelled"
    (delivery,) = ok(await connect(a.key).get(f"/v1/webhooks/{hook['id']}/deliveries"))["items"]
    assert (delivery["status"], delivery["last_status_code"]) == ("failed", 410)
    assert (await connect(b.key).get(f"/v1/webhooks/{hook['id']}/deliveries")).status_code == 404


@pytest.mark.asyncio
async def test_a_webhook_url_must_be_http_and_a_driver_may_not_subscribe(client, connect, deliver) -> None:  # type: ignore[no-untyped-def]
    bad = await client.post("/v1/webhooks", json={"url": "file:///etc/passwd"})
    assert bad.status_code == 422 and any(e["field"] == "url" for e in bad.json()["errors"]), bad.text
    unknown = await client.post("/v1/webhooks", json={"url": "https://x.example", "events": ["station.status"]})
    assert unknown.status_code == 422
    tenant = await a_tenant(client, connect, deliver, "fleet-a")
    driver_token = ok(
        await client.post("/v1/auth/token", data={"username": "driver@fleet-a.example", "password": "correct horse b"})
    )["access_token"]
    assert (await connect(driver_token).post("/v1/webhooks", json={"url": "https://x.example"})).status_code == 403
    assert tenant.ids["webhook_id"]
