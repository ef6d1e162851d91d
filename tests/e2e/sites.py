"""Shared by the energy-manager e2e tests: a stack on a simulated clock, stations placed on a
site through the topology API, and the simulator's view of limits, draws and phases."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
from chargeyard_devstack.stack import Stack, StackConfig, free_port
from chargeyard_platform.clock import SimulatedClock
from chargeyard_simulator import Station

from .conftest import POSTGRES_DSN

PLAN_PROFILE_ID = 1001
GRID = "RST"
ADMIN_KEY = f"cy_e2e_{uuid.uuid4().hex}"
"""The reservation API's administrator key (RESERVATIONS_ADMIN_TOKEN) for posting reservations."""
RESERVATIONS_AUTH = {"X-API-Key": ADMIN_KEY}


def a_stack(run_dir: Path, speed: float, **env: str) -> tuple[Stack, SimulatedClock]:
    clock_start = datetime.now(UTC)
    stack = Stack(
        StackConfig(
            run_dir=run_dir,
            kafka_port=free_port(),
            port_offset=2000 + free_port() % 500,
            postgres_dsn=POSTGRES_DSN,
            database_prefix=f"e2e_{uuid.uuid4().hex[:8]}_",
            clock_start=clock_start.isoformat(),
            clock_speed=speed,
            admin_token=ADMIN_KEY,  # stack.admin_headers: the energy manager asks the reservation API about it
            extra_env={
                "ENERGY_INCREASE_DELAY_S": "30",
                "SCHEDULER_REPLAN_INTERVAL_S": "600",
                "SCHEDULER_SLOT_SECONDS": "300",
                "ENERGY_WATCHDOG_INTERVAL_S": "10",
                "ENERGY_OBEY_GRACE_S": "120",
                **env,
            },
        )
    )
    return stack, SimulatedClock(clock_start, speed, epoch_monotonic=stack.clock_epoch)


async def wait_until(predicate: Callable[[], bool], within: float, what: str) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > within:
            raise TimeoutError(f"{what}: not within {within} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def wait_for(
    client: httpx.AsyncClient,
    url: str,
    check: Callable[[dict], bool],
    within: float,  # type: ignore[type-arg]
    what: str,
) -> dict:  # type: ignore[type-arg]
    started = time.monotonic()
    last: object = None
    while time.monotonic() - started < within:
        response = await client.get(url)
        if response.status_code == 200:
            last = response.json()
            if check(last):  # type: ignore[arg-type]
                return last  # type: ignore[return-value]
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{what}: not within {within} s; last {last}")


def station_max_a(station: Station) -> float | None:
    """The fail-safe maximum (A per phase) the station applies now, if any."""
    now = station.now()
    limit = station.profiles.limit_at(0, now, 3)
    if limit is None:
        return None
    return limit.watts / (230.0 * 3)


def grid_phase_a(station: Station, rotation: str) -> tuple[float, float, float]:
    """The station's current on the grid's R, S, T: its L1/L2/L3 through its phase rotation."""
    out = [0.0, 0.0, 0.0]
    for evse_id in station.evses:
        station.power_w(evse_id)  # brings the simulation up to now
        draw = station.evse(evse_id).draw
        for i, amps in enumerate(draw.phase_a):
            out[GRID.index(rotation[i])] += amps
    return (out[0], out[1], out[2])


def plan_limit_at(station: Station, at: datetime) -> float | None:
    """What the station's plan-layer profile allows EVSE 1 at `at` (its stored profiles)."""
    limit = station.profiles.limit_at(1, at, 3)
    return None if limit is None else limit.watts
