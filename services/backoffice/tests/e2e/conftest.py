"""The whole platform (chargeyard_devstack.Stack, the way `make run` starts it, SQLite files and
Tansu) with simulated OCPP stations, and a headless Debian chromium driven by Playwright.

The stack and the stations live on an asyncio loop in a thread of their own; the tests drive the
browser with Playwright's sync API from the main thread and hand station actions (plug a car in)
to that loop."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest
from chargeyard_devstack.stack import Stack, StackConfig, free_port
from chargeyard_simulator import Car, EvseConfig, Station, StationConfig

CHROMIUM = Path("/usr/bin/chromium")
SITE_LIMIT_W = 7_000
"""Below one station's 11 kW: a driver who asks for more than the site gives by departure gets a
conflict to answer."""
PASSWORD = "correct horse battery staple"
T = TypeVar("T")


@dataclass
class System:
    stack: Stack
    loop: asyncio.AbstractEventLoop
    stations: dict[str, Station] = field(default_factory=dict)
    fleet_manager: str = ""
    site_operator: str = ""
    """Station commands and firmware roll-outs: the energy manager takes them from administrators
    and site operators only."""
    driver: str = ""
    driver_id: str = ""

    @property
    def url(self) -> str:
        return self.stack.url("backoffice")

    def run(self, work: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def call(self, action: Callable[[], T]) -> T:
        async def on_loop() -> T:
            return action()

        return self.run(on_loop())

    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=self.stack.url("reservation-api"), headers=self.stack.admin_headers, timeout=10)


async def until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.3)


async def a_charging_session(system: System, station_id: str, evse_id: int = 1, id_tag: str = "E2ECARD1") -> None:
    """A car plugged in with an RFID card at a free EVSE, charging once the central system has
    taken the transaction (OCPP 1.6: StartTransaction.conf gave its id). The dev profile's gateway
    accepts a card it does not know (accept_unknown_tokens), so no reservation or driver is needed."""
    station = system.stations[station_id]
    if station.car(evse_id) is not None:
        raise AssertionError(f"{station_id}/{evse_id} already has a car plugged in: choose a free EVSE")
    station.plug_in(evse_id, Car(battery_wh=60_000, soc_percent=30, max_power_w=11_000), id_tag=id_tag)

    async def started() -> bool:
        tx = station.transaction(evse_id)
        return tx is not None and (station.ocpp_version != "1.6" or tx.ocpp16_id is not None)

    await until(started, 20, f"a transaction at {station_id}/{evse_id}")


async def start(system: System, prefix: str) -> None:
    stack = system.stack
    await stack.start(wait=90)
    for i, version in enumerate(("1.6", "2.0.1"), start=1):
        station = Station(
            StationConfig(
                station_id=f"{prefix}-{i}",
                ocpp_version=version,
                url=stack.ocpp_url,
                evses=[EvseConfig(max_power_w=11_000, phases=3)],
                meter_interval_s=2,
                firmware_step_s=1,  # a firmware update takes a few seconds, step by step
            )
        )
        system.stations[station.config.station_id] = station
        asyncio.get_running_loop().create_task(station.run())
    async with httpx.AsyncClient(timeout=15, headers=stack.admin_headers) as client:

        async def placed() -> bool:
            # The reservation API learns the site's stations from the energy manager's topology:
            # only then can a QR scan find its connector.
            try:
                site = await client.put(
                    f"{stack.url('reservation-api')}/v1/sites/site-1", json={"tenant_id": "default"}
                )
            except httpx.TimeoutException:  # a loaded machine: ask again until the deadline
                return False
            ids = {s["station_id"] for s in site.json().get("stations", [])} if site.status_code == 200 else set()
            return set(system.stations) <= ids

        await until(placed, 90, "both stations on site-1 in the reservation API")
        api = stack.url("reservation-api")
        driver = (await client.post(f"{api}/v1/drivers", json={"name": "Dana Driver"})).json()
        system.driver_id = driver["id"]
        for email, roles, driver_id in (
            (system.fleet_manager, ["fleet_manager"], None),
            (system.site_operator, ["site_operator"], None),
            (system.driver, ["driver"], driver["id"]),
        ):
            made = await client.post(
                f"{api}/v1/users", json={"email": email, "password": PASSWORD, "roles": roles, "driver_id": driver_id}
            )
            made.raise_for_status()


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="stack-loop", daemon=True)
    thread.start()
    tag = uuid.uuid4().hex[:6]
    stack = Stack(
        StackConfig(
            run_dir=tmp_path_factory.mktemp("backoffice"),
            kafka_port=free_port(),
            port_offset=3000 + free_port() % 400,
            extra_env={
                "ENERGY_DEFAULT_SITE_LIMIT_W": str(SITE_LIMIT_W),
                "ENERGY_INCREASE_DELAY_S": "1",
                "BACKOFFICE_LIVE_INTERVAL_S": "1",
            },
        )
    )
    system = System(
        stack,
        loop,
        fleet_manager=f"fm-{tag}@example.com",
        site_operator=f"so-{tag}@example.com",
        driver=f"driver-{tag}@example.com",
    )
    try:
        system.run(start(system, f"BO{tag[:3].upper()}"), timeout=150)
        yield system
    finally:
        for station in system.stations.values():
            loop.call_soon_threadsafe(station.stop)
        time.sleep(0.5)
        stack.stop()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@dataclass
class Offline:
    """Every request a page made to anywhere but this machine (each is refused)."""

    refused: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def browser(system: System) -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    # Assertions wait as long as actions: a loaded machine (2 cores, many workers) is slow, and
    # each waits only until its condition holds.
    expect.set_options(timeout=30_000)

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def offline() -> Offline:
    return Offline()


def new_context(browser: Any, offline: Offline, **options: Any) -> Any:
    """A browser context whose every request to another host than 127.0.0.1 is aborted and noted."""
    context = browser.new_context(**{"locale": "en-GB", "timezone_id": "Europe/Berlin", **options})

    def guard(route: Any) -> None:
        host = urlsplit(route.request.url).hostname
        if route.request.url.startswith(("data:", "blob:")) or host == "127.0.0.1":
            route.continue_()
        else:
            offline.refused.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    context.set_default_timeout(30_000)
    return context


def screenshots_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("CHARGEYARD_SCREENSHOTS")
    return Path(chosen) if chosen else tmp_path_factory.getbasetemp() / "screenshots"


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = screenshots_dir(tmp_path_factory)
    path.mkdir(parents=True, exist_ok=True)
    return path
