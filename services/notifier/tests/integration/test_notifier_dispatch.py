"""E-mails to a real SMTP server (aiosmtpd) and webhooks to a real HTTP server, with retries."""

from __future__ import annotations

import email
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import Message as EmailMessage
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiosmtpd.controller import Controller
from chargeyard_devstack.stack import free_port
from chargeyard_notifier.adapters.channels import HttpWebhookSender, SmtpMailer
from chargeyard_notifier.dispatcher import Dispatcher
from chargeyard_platform.bus import Outbox
from chargeyard_platform.clock import FixedClock
from chargeyard_platform.db import Database
from chargeyard_platform.webhooks import SIGNATURE_HEADER, verify
from notifier_builders import FakeDirectory, a_reservation, a_status, operator_headers, serving
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class Inbox:
    """An SMTP server's mailbox; `refuse` answers the next messages with these SMTP replies."""

    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    refuse: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return self.refuse.pop(0)
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@dataclass
class Receiver:
    """A fleet system's webhook endpoint: fails with `failures` first, then takes the calls."""

    failures: list[int] = field(default_factory=list)
    calls: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        self.calls.append((dict(request.headers), body))
        return Response(status_code=self.failures.pop(0) if self.failures else 204)


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    hook = Receiver()
    async with serving(Starlette(routes=[Route("/hook", hook.endpoint, methods=["POST"])])) as url:
        yield hook, f"{url}/hook"


def dispatcher_for(db: Database, clock: FixedClock, port: int, directory: FakeDirectory) -> Dispatcher:
    return Dispatcher(
        db=db,
        clock=clock,
        outbox=Outbox("notifier", clock),
        mailer=SmtpMailer("127.0.0.1", port, "Chargeyard <noreply@chargeyard.test>", timeout_s=10),
        webhooks=HttpWebhookSender(timeout_s=10),
        directory=directory,
        max_attempts=3,
        retry_base_s=2.0,
    )


async def deliveries(client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/deliveries", params=params, headers=operator_headers())
    assert response.status_code == 200, response.text
    return sorted(response.json(), key=lambda d: d["id"])


@pytest.mark.asyncio
async def test_drivers_and_operators_get_their_emails(db, clock, deliver, client, directory, published, smtp) -> None:
    inbox, port = smtp
    dispatcher = dispatcher_for(db, clock, port, directory)
    await deliver(a_reservation())
    await deliver(a_reservation(reservation_id="res-2", driver_id="driver-9"))  # no address known
    await deliver(a_status("Faulted", error_code="GroundFailure"))
    assert await dispatcher.dispatch_once() == 4
    assert await dispatcher.dispatch_once() == 0  # nothing is sent twice

    by_recipient = {tuple(to): message for to, message in inbox.messages}
    assert set(by_recipient) == {("driver@example.com",), ("ops@example.com",), ("oncall@example.com",)}
    driver_mail = by_recipient[("driver@example.com",)]
    assert driver_mail["Subject"] == "Reservation res-1 received: 30.0 kWh by 2025-03-03 17:00 UTC"
    assert driver_mail["From"] == "Chargeyard <noreply@chargeyard.test>"
    assert by_recipient[("ops@example.com",)]["Subject"] == "Station CP-1 EVSE 1 is faulted (GroundFailure)"

    log = await deliveries(client, channel="email")
    assert sorted((d["status"], d["address"]) for d in log) == [
        ("sent", "driver@example.com"),
        ("sent", "oncall@example.com"),
        ("sent", "ops@example.com"),
        ("skipped", None),
    ]
    sent = [e.payload for e in await published() if e.payload["channel"] == "email"]
    assert len(sent) == 3


@pytest.mark.asyncio
async def test_a_busy_smtp_server_is_tried_again_later_and_a_refusal_is_final(
    db, clock, deliver, client, directory, smtp
) -> None:
    inbox, port = smtp
    dispatcher = dispatcher_for(db, clock, port, directory)
    await deliver(a_reservation())
    inbox.refuse = ["451 4.3.0 try again later"]
    await dispatcher.dispatch_once()
    [pending] = await deliveries(client, channel="email")
    assert (pending["status"], pending["attempts"]) == ("pending", 1) and "451" in pending["last_error"]
    assert await dispatcher.dispatch_once() == 0  # not before its backoff
    clock.advance(2)
    await dispatcher.dispatch_once()
    [sent] = await deliveries(client, channel="email")
    assert (sent["status"], sent["attempts"]) == ("sent", 2) and len(inbox.messages) == 1

    await deliver(a_reservation(reservation_id="res-3"))
    inbox.refuse = ["550 5.1.1 no such mailbox"]
    await dispatcher.dispatch_once()
    failed = (await deliveries(client, channel="email"))[-1]
    assert (failed["status"], failed["attempts"]) == ("failed", 1) and "550" in failed["last_error"]


@pytest.mark.asyncio
async def test_while_the_directory_is_down_emails_wait(db, clock, deliver, client, directory, smtp) -> None:
    inbox, port = smtp
    dispatcher = dispatcher_for(db, clock, port, directory)
    directory.unavailable = True
    await deliver(a_reservation())
    await dispatcher.dispatch_once()
    [waiting] = await deliveries(client, channel="email")
    assert waiting["status"] == "pending" and "down" in waiting["last_error"]
    directory.unavailable = False
    clock.advance(2)
    await dispatcher.dispatch_once()
    assert [to for to, _ in inbox.messages] == [["driver@example.com"]]


@pytest.mark.asyncio
async def test_webhooks_are_signed_and_retried_with_backoff(db, clock, deliver, client, directory, receiver) -> None:
    hook, url = receiver
    dispatcher = dispatcher_for(db, clock, 1, directory)  # no SMTP server: driver e-mails stay pending
    response = await client.post(
        "/v1/webhooks",
        json={"url": url, "kinds": ["reservation.requested"], "secret": "s3cret-of-sixteen+"},
        headers=operator_headers(),
    )
    assert response.status_code == 201, response.text
    webhook = response.json()
    assert webhook["secret"] == "s3cret-of-sixteen+"
    hook.failures = [503, 500]

    await deliver(a_reservation())
    for wait in (0, 2, 4):  # 2 s after the first failure, 4 s after the second
        clock.advance(wait)
        await dispatcher.dispatch_once()
    [delivery] = await deliveries(client, channel="webhook")
    assert (delivery["status"], delivery["attempts"], delivery["address"]) == ("sent", 3, url)
    assert len(hook.calls) == 3
    headers, body = hook.calls[-1]
    assert verify("s3cret-of-sixteen+", body, headers[SIGNATURE_HEADER.lower()], clock.now())
    assert not verify("another-secret!!", body, headers[SIGNATURE_HEADER.lower()], clock.now())
    assert not verify("s3cret-of-sixteen+", body, headers[SIGNATURE_HEADER.lower()], clock.now() + timedelta(hours=1))
    assert headers["x-chargeyard-delivery"] == str(delivery["id"])
    assert b'"kind":"reservation.requested"' in body

    # A 4xx other than 408/429 is final; a deleted webhook gets nothing more.
    hook.failures = [410]
    await deliver(a_reservation(reservation_id="res-2"))
    await dispatcher.dispatch_once()
    assert (await deliveries(client, channel="webhook"))[-1]["status"] == "failed"
    assert (await client.delete(f"/v1/webhooks/{webhook['id']}", headers=operator_headers())).status_code == 204
    assert (await client.delete(f"/v1/webhooks/{webhook['id']}", headers=operator_headers())).status_code == 404
    await deliver(a_reservation(reservation_id="res-3"))
    assert len(await deliveries(client, channel="webhook")) == 2

    bad = await client.post("/v1/webhooks", json={"url": "not a url"}, headers=operator_headers())
    assert bad.status_code == 422 and "url" in bad.json()["detail"]
