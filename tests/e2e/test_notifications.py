"""Issue 8, must show 1 (the notifier's part): a charge on a simulated station produces the
driver's notifications on the push stream (SSE, with the reservation API's token) and by e-mail,
received by a real SMTP server (aiosmtpd) that this test runs; a reconnect with Last-Event-ID
replays what the app missed."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiosmtpd.controller import Controller
from chargeyard_devstack.stack import SERVICES, Stack, StackConfig, free_port
from chargeyard_simulator import Car, EvseConfig, Station, StationConfig

DEADLINE_S = 60.0
NEEDED = ("ocpp-gateway", "reservation-api", "scheduler", "energy-manager", "notifier")
OPERATORS = "ops@example.com,oncall@example.com"


@dataclass
class Inbox:
    """The SMTP server's mailbox: (recipients, subject) of every message it accepted."""

    received: list[tuple[list[str], str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(
            (list(envelope.rcpt_tos), str(message_from_bytes(envelope.content, policy=policy.default)["Subject"]))
        )
        return "250 OK"


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory, smtp: tuple[Inbox, int]) -> AsyncIterator[Stack]:
    _, smtp_port = smtp
    running = Stack(
        StackConfig(
            run_dir=tmp_path_factory.mktemp("notifications"),
            kafka_port=free_port(),
            port_offset=3000 + free_port() % 400,
            services=tuple(s for s in SERVICES if s.name in NEEDED),
            extra_env={
                "NOTIFIER_SMTP_HOST": "127.0.0.1",
                "NOTIFIER_SMTP_PORT": str(smtp_port),
                "NOTIFIER_OPERATOR_EMAILS": OPERATORS,
                "NOTIFIER_DISPATCH_INTERVAL_S": "0.2",
                "NOTIFIER_STREAM_POLL_S": "0.2",
            },
        )
    )
    try:
        await running.start()
        yield running
    finally:
        running.stop()


async def until(what: str, check: Callable[[], Awaitable[bool]]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not await check():
        assert time.monotonic() < deadline, f"{what} within {DEADLINE_S} s"
        await asyncio.sleep(0.2)


@dataclass
class PushStream:
    """The app's side of GET /v1/stream: every event received, in order."""

    events: list[dict[str, Any]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    def open(self, url: str, token: str, last_event_id: str | None = None) -> None:
        self.task = asyncio.create_task(self._read(url, token, last_event_id))

    async def _read(self, url: str, token: str, last_event_id: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} | ({"Last-Event-ID": last_event_id} if last_event_id else {})
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as client,
            client.stream("GET", f"{url}/v1/stream", headers=headers) as response,
        ):
            assert response.status_code == 200, await response.aread()
            current: dict[str, Any] = {}
            async for line in response.aiter_lines():
                if line == "":
                    if "data" in current:
                        self.events.append(dict(current))
                    current = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    current[name] = json.loads(value) if name == "data" else value.strip()

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    def kinds(self, reservation_id: str) -> list[str]:
        return [e["event"] for e in self.events if e["data"]["reservation_id"] == reservation_id]


@pytest.mark.asyncio(loop_scope="module")
async def test_a_charge_reaches_the_driver_on_the_push_stream_and_by_email(
    stack: Stack, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    api, notifier = stack.url("reservation-api"), stack.url("notifier")
    tag = uuid.uuid4().hex[:6]
    address = f"driver-{tag}@example.com"
    async with httpx.AsyncClient(timeout=10, headers=stack.admin_headers) as admin:
        driver = await admin.post(f"{api}/v1/drivers", json={"name": "Dana Driver", "email": address})
        assert driver.status_code == 201, driver.text
        user = await admin.post(
            f"{api}/v1/users",
            json={
                "email": f"login-{tag}@example.com",
                "password": "a long enough password",
                "roles": ["driver"],
                "driver_id": driver.json()["id"],
            },
        )
        assert user.status_code == 201, user.text
        card = f"NTF{tag.upper()}"
        rfid = await admin.post(f"{api}/v1/rfid-tokens", json={"id_token": card, "driver_id": driver.json()["id"]})
        assert rfid.status_code == 201, rfid.text
    async with httpx.AsyncClient(timeout=10) as client:
        signed_in = await client.post(
            f"{api}/v1/auth/token",
            data={"username": f"login-{tag}@example.com", "password": "a long enough password"},
        )
        assert signed_in.status_code == 200, signed_in.text
    token = signed_in.json()["access_token"]
    app = {"Authorization": f"Bearer {token}"}

    push = PushStream()
    push.open(notifier, token)
    station = Station(
        StationConfig(
            station_id=f"NTF-{tag}",
            ocpp_version="1.6",
            url=stack.ocpp_url,
            evses=[EvseConfig(max_power_w=11_000)],
            meter_interval_s=1,
        )
    )
    running = asyncio.create_task(station.run())
    try:
        await until("the station connected", _async(lambda: station.boot_accepted))
        now = datetime.now(UTC)
        async with httpx.AsyncClient(timeout=10, headers=app) as client:
            made = await client.post(
                f"{api}/v1/reservations",
                json={
                    "station_id": station.config.station_id,
                    "arrival": now.isoformat(),
                    "departure": (now + timedelta(hours=4)).isoformat(),
                    "energy_wh": 5_000,
                },
            )
            assert made.status_code == 201, made.text
            reservation_id = made.json()["id"]

            async def planned() -> bool:
                return "reservation.scheduled" in push.kinds(reservation_id)

            await until("the plan on the push stream", planned)
            # The driver arrives and starts with their card; later stops at the station.
            station.plug_in(1, Car(battery_wh=50_000, soc_percent=40, max_power_w=11_000), id_tag=card)

            async def charging() -> bool:
                return "charging.started" in push.kinds(reservation_id)

            await until("charging started on the push stream", charging)
            await until("energy on the meter", _async(lambda: station.energy_wh(1) > 0))
            station.stop_transaction(1)

            async def completed() -> bool:
                return "charging.completed" in push.kinds(reservation_id)

            await until("charging complete on the push stream", completed)

            kinds = push.kinds(reservation_id)
            assert kinds[0] == "reservation.requested"
            assert (
                kinds.index("reservation.scheduled")
                < kinds.index("charging.started")
                < kinds.index("charging.completed")
            )
            assert len(kinds) == len(set(kinds) - {"reservation.scheduled"}) + kinds.count("reservation.scheduled")
            ids = [int(e["id"]) for e in push.events]
            assert ids == sorted(ids) and len(ids) == len(set(ids))

            # Each of them by e-mail to the driver's address, as the real SMTP server received them.
            subjects = {e["data"]["subject"] for e in push.events if e["data"]["reservation_id"] == reservation_id}

            async def mailed() -> bool:
                return subjects <= {s for to, s in inbox.received if to == [address]}

            await until("every notification in the driver's mailbox", mailed)

            # The delivery log says so too, for the driver.
            log = (await client.get(f"{notifier}/v1/deliveries", params={"channel": "email"})).json()
            assert {d["status"] for d in log if d["kind"] != "charging.energy_reached"} == {"sent"}
            assert {d["address"] for d in log} == {address}

        # The app was away after the first notification: a reconnect replays the rest, in order.
        await push.close()
        first = push.events[0]
        again = PushStream()
        again.open(notifier, token, last_event_id=first["id"])
        try:

            async def replayed() -> bool:
                return len(again.events) >= len(push.events) - 1

            await until("the missed notifications replayed", replayed)
            assert [e["id"] for e in again.events] == [e["id"] for e in push.events[1:]]
        finally:
            await again.close()
    finally:
        await push.close()
        station.stop()
        await asyncio.gather(running, return_exceptions=True)


def _async(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def wrapped() -> bool:
        return check()

    return wrapped
