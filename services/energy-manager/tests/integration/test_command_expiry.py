"""A plan profile that never reached its station is sent again at once, against a real Tansu broker
and a real PostgreSQL database: until then the station holds an older limit."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from chargeyard_contracts import (
    Envelope,
    PlannedCharge,
    PlannedSlot,
    ScheduleUpdated,
    StationCommandCompleted,
    StationCommandIssued,
    decode,
)
from chargeyard_contracts.commands import CommandOutcome
from chargeyard_platform.bus import envelope_json
from chargeyard_platform.runtime import Runtime
from energy_running import running_energy_manager
from pydantic import BaseModel

pytestmark = pytest.mark.integration

DEADLINE_S = 45.0
Q = timedelta(minutes=15)


@pytest_asyncio.fixture
async def energy(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime, str]]:
    # Increases at once; the watchdog's routine pass would send the profile again too, only later.
    async with running_energy_manager(tmp_path, increase_delay_s=0, watchdog_interval_s=3600) as running:
        yield running


async def plan_profile(consumer: AIOKafkaConsumer, station_id: str) -> StationCommandIssued:
    """The next plan-layer SetChargingProfile that lets the station's EVSE 1 charge (not the idle
    profile of 0 W it gets when it is placed)."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        for records in (await consumer.getmany(timeout_ms=300)).values():
            for record in records:
                event = decode(Envelope.model_validate_json(record.value or b""))
                if (
                    isinstance(event, StationCommandIssued)
                    and event.station_id == station_id
                    and event.command.command == "SetChargingProfile"
                    and getattr(event.command, "purpose", None) == "TxDefaultProfile"
                    and max(p.limit for p in event.command.periods) > 0  # type: ignore[union-attr]
                ):
                    return event
    raise AssertionError(f"no plan profile for {station_id} within {DEADLINE_S} s")


@pytest.mark.asyncio
async def test_an_expired_plan_profile_is_sent_again_at_once(energy: tuple[httpx.AsyncClient, Runtime, str]) -> None:
    client, runtime, bootstrap_servers = energy
    site = {"name": "Depot", "time_zone": "Europe/Berlin", "grid_limit_w": 22_000}
    r = await client.put("/v1/sites/depot", json=site)
    assert r.status_code == 200, r.text
    r = await client.put("/v1/sites/depot/stations/CP-1", json={"max_power_w": 11_000})
    assert r.status_code == 200, r.text
    consumer = AIOKafkaConsumer(
        "station.commands",
        bootstrap_servers=bootstrap_servers,
        group_id=f"t-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers)
    await consumer.start()
    await producer.start()

    async def publish(topic: str, event: BaseModel, key: str) -> None:
        await producer.send_and_wait(
            topic, envelope_json(event, source="test", occurred_at=runtime.clock.now()), key=key.encode()
        )

    try:
        now = runtime.clock.now()
        plan = ScheduleUpdated(
            site_id="depot",
            plan_id="p1",
            time_zone="Europe/Berlin",
            horizon_start=now,
            horizon_end=now + 4 * Q,
            slot_seconds=900,
            site_limit_w=22_000,
            strategy="fcfs",
            charges=(
                PlannedCharge(
                    reservation_id="r1",
                    station_id="CP-1",
                    evse_id=1,
                    planned_start=now,
                    planned_finish=now + 2 * Q,
                    energy_wh=5_500,
                    requested_wh=5_500,
                    slots=(PlannedSlot(start=now, end=now + 2 * Q, power_w=11_000),),
                ),
            ),
            solver_status="Optimal",
            solve_ms=5,
        )
        await publish("schedule.updated", plan, "depot")
        first = await plan_profile(consumer, "CP-1")
        # Whatever else the plan sets off (the fail-safe maxima, a second pass) is read before the
        # expiry, so that what follows it is the answer to it.
        settle = time.monotonic() + 5
        while time.monotonic() < settle:
            await consumer.getmany(timeout_ms=300)
        await publish(
            "station.command-results",
            StationCommandCompleted(
                command_id=first.command_id,
                station_id="CP-1",
                command="SetChargingProfile",
                outcome=CommandOutcome.EXPIRED,
                detail="the station did not take it before it expired",
                completed_at=runtime.clock.now(),
            ),
            "CP-1",
        )
        again = await plan_profile(consumer, "CP-1")
        assert again.command_id != first.command_id
        assert max(p.limit for p in again.command.periods) == 11_000, again.command  # type: ignore[union-attr]
    finally:
        await producer.stop()
        await consumer.stop()
