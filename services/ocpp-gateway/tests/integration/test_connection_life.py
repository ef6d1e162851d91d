"""Connection life on a real gateway (SQLite, Tansu): a silent station is closed and reported
Offline, a command in flight ends Offline when its station drops, a command for an offline station
waits for it (offline grace), and a reconnecting station is re-synced (status trigger, profiles)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
import websockets
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from chargeyard_contracts.commands import SchedulePeriod, SetChargingProfile, StationCommandIssued
from chargeyard_gateway.bootstrap import bootstrap, gateway_of
from chargeyard_platform.bus import envelope_json
from chargeyard_platform.runtime import Runtime
from ocpp import v16
from ocpp.routing import on

from .conftest import gateway_settings

pytestmark = pytest.mark.asyncio(loop_scope="module")

TIMEOUT = 10


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(topics: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Runtime]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('life') / 'gateway.db'}"
    runtime = bootstrap(gateway_settings(url, topics, silence_timeout_s=1.5, offline_grace_s=20, command_timeout_s=8))
    await runtime.start()
    await asyncio.wait_for(gateway_of(runtime).server.listening.wait(), TIMEOUT)
    try:
        yield runtime
    finally:
        await runtime.stop()


class Station(v16.ChargePoint):
    def __init__(self, station_id: str, connection: Any, *, answer_profiles: bool = True) -> None:
        super().__init__(station_id, connection)
        self.answer_profiles = answer_profiles
        self.received: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    @on(v16.enums.Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> v16.call_result.GetConfiguration:
        return v16.call_result.GetConfiguration(configuration_key=[], unknown_key=key or [])

    @on(v16.enums.Action.set_charging_profile)
    async def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any
    ) -> v16.call_result.SetChargingProfile:
        self.received.put_nowait(("SetChargingProfile", cs_charging_profiles))
        if not self.answer_profiles:
            await asyncio.sleep(3600)
        return v16.call_result.SetChargingProfile(status="Accepted")

    @on(v16.enums.Action.trigger_message)
    def on_trigger_message(self, requested_message: str, **kwargs: Any) -> v16.call_result.TriggerMessage:
        self.received.put_nowait(("TriggerMessage", {"requested_message": requested_message, **kwargs}))
        return v16.call_result.TriggerMessage(status="Accepted")

    async def next(self, action: str) -> dict[str, Any]:
        async with asyncio.timeout(TIMEOUT):
            while True:
                name, payload = await self.received.get()
                if name == action:
                    return payload


@contextlib.asynccontextmanager
async def connected(
    runtime: Runtime, station_id: str, *, boot: bool = True, silent: bool = False, **options: Any
) -> AsyncIterator[tuple[Station, Any]]:
    """`silent`: no heartbeats (otherwise one every 0.5 s, under the 1.5 s silence timeout)."""
    port = runtime.settings.ocpp_port  # type: ignore[attr-defined]
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/ocpp/{station_id}",
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        open_timeout=5,
        ping_interval=None,
    ) as ws:
        station = Station(station_id, ws, **options)
        tasks = [asyncio.create_task(station.start())]
        try:
            if boot:
                answer = await station.call(
                    v16.call.BootNotification(charge_point_vendor="Acme", charge_point_model="Life")
                )
                assert answer.status == "Accepted"
            if not silent:
                tasks.append(asyncio.create_task(heartbeats(ws)))
            yield station, ws
        finally:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await asyncio.gather(*tasks)


async def heartbeats(ws: Any) -> None:
    """Raw Heartbeat frames: the ocpp library's call lock would queue them behind an unanswered call."""
    while True:
        await asyncio.sleep(0.5)
        await ws.send(json.dumps([2, uuid.uuid4().hex, "Heartbeat", {}]))


async def next_event(kafka: str, topic: str, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    try:
        async with asyncio.timeout(TIMEOUT):
            while True:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for record in records:
                        payload = json.loads(record.value)["payload"]
                        if match(payload):
                            return payload
    finally:
        await consumer.stop()


async def issue(kafka: str, station_id: str, profile_id: int = 5) -> StationCommandIssued:
    command = StationCommandIssued(
        command_id=uuid.uuid4().hex,
        station_id=station_id,
        command=SetChargingProfile(
            station_id=station_id,
            evse_id=1,
            profile_id=profile_id,
            purpose="TxDefaultProfile",
            stack_level=2,
            unit="A",
            start=datetime(2025, 3, 1, tzinfo=UTC),
            periods=(SchedulePeriod(start_offset_s=0, limit=16),),
        ),
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka, enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait(
            "station.commands",
            envelope_json(command, source="energy-manager", occurred_at=datetime.now(UTC)),
            key=station_id.encode(),
        )
    finally:
        await producer.stop()
    return command


def result_of(command: StationCommandIssued) -> Callable[[dict[str, Any]], bool]:
    return lambda p: p["command_id"] == command.command_id


async def test_a_silent_station_is_closed_and_reported_offline(gateway: Runtime) -> None:
    station_id = f"SILENT-{uuid.uuid4().hex[:8]}"
    async with connected(gateway, station_id, silent=True) as (_, ws):
        # No heartbeat, no message: the gateway closes it after silence_timeout_s (1.5 s here).
        await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
        assert ws.close_code == 4001
    offline = await next_event(
        gateway.settings.kafka_bootstrap_servers,
        "station.status",
        lambda p: p["station_id"] == station_id and p["status"] == "Offline",
    )
    assert (offline["evse_id"], offline["connector_id"]) == (0, 0)


async def test_a_command_in_flight_ends_offline_when_the_station_drops(gateway: Runtime) -> None:
    kafka = gateway.settings.kafka_bootstrap_servers
    station_id = f"DROP-{uuid.uuid4().hex[:8]}"
    async with connected(gateway, station_id, answer_profiles=False) as (station, ws):
        command = await issue(kafka, station_id)
        await station.next("SetChargingProfile")  # delivered, never answered
        started = asyncio.get_running_loop().time()
        await ws.close()
    result = await next_event(kafka, "station.command-results", result_of(command))
    assert result["outcome"] == "Offline" and "during delivery" in result["detail"]
    assert asyncio.get_running_loop().time() - started < 5, "not after the 8 s command timeout"


async def test_a_command_waits_for_its_offline_station_which_is_resynced_on_reconnect(gateway: Runtime) -> None:
    kafka = gateway.settings.kafka_bootstrap_servers
    station_id = f"BACK-{uuid.uuid4().hex[:8]}"
    async with connected(gateway, station_id) as (station, _):
        first = await issue(kafka, station_id, profile_id=5)
        assert (await station.next("SetChargingProfile"))["charging_profile_id"] == 5
        assert (await next_event(kafka, "station.command-results", result_of(first)))["outcome"] == "Accepted"
        await next_event(kafka, "station.registered", lambda p: p["station_id"] == station_id)

    # Issued while the station is away: kept (offline_grace_s), not failed.
    second = await issue(kafka, station_id, profile_id=6)
    await asyncio.sleep(1.5)
    async with connected(gateway, station_id, boot=False) as (station, _):  # resumes without booting
        trigger = await station.next("TriggerMessage")
        assert trigger["requested_message"] == "StatusNotification"
        resent = await station.next("SetChargingProfile")
        assert resent["charging_profile_id"] == 5, "the profile it last accepted, re-sent first"
        assert (await station.next("SetChargingProfile"))["charging_profile_id"] == 6
        assert (await next_event(kafka, "station.command-results", result_of(second)))["outcome"] == "Accepted"
