"""The first path on the embedded default (SQLite files, Tansu), and stations from outside the
simulator (issue: the first path, must show 2 and 3)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
import websockets
from aiokafka import AIOKafkaConsumer
from chargeyard_devstack.stack import Stack, StackConfig, free_port
from chargeyard_simulator import Car, EvseConfig, Station, StationConfig
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201

SITE_LIMIT_W = 11_000


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    running = Stack(
        StackConfig(
            run_dir=tmp_path_factory.mktemp("smoke"),
            kafka_port=free_port(),
            port_offset=2500 + free_port() % 400,
            extra_env={"ENERGY_DEFAULT_SITE_LIMIT_W": str(SITE_LIMIT_W), "ENERGY_INCREASE_DELAY_S": "1"},
        )
    )
    try:
        await running.start()
        yield running
    finally:
        running.stop()


def metric_value(exposition: str, sample: str) -> float:
    """One sample's value from a Prometheus text exposition."""
    for line in exposition.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{sample} is not exported")


def wire(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def first_event(bootstrap: str, topic: str, station_id: str, timeout: float = 20) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"smoke-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    payload: dict[str, Any] = json.loads(record.value or b"{}")["payload"]
                    if payload.get("station_id") == station_id:
                        return payload
    finally:
        await consumer.stop()
    raise TimeoutError(f"no {topic} event for {station_id} within {timeout} s")


@pytest.mark.asyncio(loop_scope="module")
async def test_reservations_become_profiles_the_cars_obey(stack: Stack) -> None:
    prefix = f"SMK{uuid.uuid4().hex[:4]}"
    stations = [
        Station(
            StationConfig(
                station_id=f"{prefix}-{i}",
                ocpp_version=version,
                url=stack.ocpp_url,
                evses=[EvseConfig(max_power_w=11_000)],
                meter_interval_s=1,
            )
        )
        for i, version in enumerate(("1.6", "2.0.1"))
    ]
    tasks = [asyncio.create_task(s.run()) for s in stations]
    try:
        deadline = time.monotonic() + 30
        while not all(any(p.id == 1001 for p in s.installed_profiles(1)) for s in stations):
            assert time.monotonic() < deadline, "the stations never got their idle plan profile"
            await asyncio.sleep(0.05)
        for i, station in enumerate(stations):
            station.plug_in(1, Car(battery_wh=50_000, soc_percent=30, max_power_w=11_000), id_tag=f"SMOKE{i}")
        now = datetime.now(UTC)
        async with httpx.AsyncClient(timeout=5, headers=stack.admin_headers) as client:
            for station in stations:
                response = await client.post(
                    f"{stack.url('reservation-api')}/v1/reservations",
                    json={
                        "station_id": station.config.station_id,
                        "arrival": now.isoformat(),
                        "departure": (now + timedelta(hours=4)).isoformat(),
                        "energy_wh": 10_000,
                    },
                )
                assert response.status_code == 201, response.text
            reservation_id = response.json()["id"]
            deadline = time.monotonic() + 30
            # First come, first served: the first car takes the whole 11 kW, the second waits its turn.
            while sum(s.power_w(1) for s in stations) < 0.9 * SITE_LIMIT_W:
                assert time.monotonic() < deadline, (
                    "the site's capacity was not used within 30 s: power "
                    f"{[s.power_w(1) for s in stations]} W, limits {[s.effective_limit_w(1) for s in stations]} W"
                )
                assert sum(s.effective_limit_w(1) for s in stations) <= SITE_LIMIT_W
                await asyncio.sleep(0.05)
            for _ in range(60):  # 3 s of watching: the two cars share the site's 11 kW
                assert sum(s.power_w(1) for s in stations) <= SITE_LIMIT_W
                await asyncio.sleep(0.05)
            reservation = (await client.get(f"{stack.url('reservation-api')}/v1/reservations/{reservation_id}")).json()
            # The car was plugged in before the reservation was made: it takes over that session.
            assert reservation["status"] in ("scheduled", "charging"), reservation
            assert reservation["assigned_station_id"] == stations[1].config.station_id
            assert all(
                any(p.limit > 0 for p in prof.periods)
                for s in stations
                for prof in s.installed_profiles(1)
                if prof.id == 1001
            ), "each car has its turn in the plan"

            async def metered() -> bool:
                sessions = (await client.get(f"{stack.url('billing')}/v1/sessions")).json()
                ours = [s for s in sessions if s["station_id"].startswith(prefix)]
                report = (
                    await client.get(f"{stack.url('reporting')}/v1/reports/energy", params={"site_id": "site-1"})
                ).json()
                return len(ours) == 2 and any((s["energy_wh"] or 0) > 0 for s in ours) and report["energy_wh"] > 0

            deadline = time.monotonic() + 20
            while not await metered():
                assert time.monotonic() < deadline, "meter values never reached billing and reporting"
                await asyncio.sleep(0.5)

            # What the Grafana dashboards plot: the site's power against its limit, OCPP latencies.
            energy = (await client.get(f"{stack.url('energy-manager')}/metrics")).text
            power_w = metric_value(energy, 'chargeyard_site_charging_power_w{site_id="site-1"}')
            assert 0 < power_w <= metric_value(energy, 'chargeyard_site_charging_limit_w{site_id="site-1"}')
            gateway = (await client.get(f"{stack.url('ocpp-gateway')}/metrics")).text
            handled = 'chargeyard_gateway_ocpp_call_seconds_count{action="MeterValues",direction="received"}'
            assert metric_value(gateway, handled) >= 2
    finally:
        for station in stations:
            station.stop()
        await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.asyncio(loop_scope="module")
async def test_a_foreign_ocpp16_station_is_accepted_and_its_kwh_become_wh(stack: Stack) -> None:
    station_id = f"EXT16-{uuid.uuid4().hex[:6]}"
    async with websockets.connect(f"{stack.ocpp_url}/{station_id}", subprotocols=["ocpp1.6"]) as ws:
        station = ChargePoint16(station_id, ws)
        listening = asyncio.create_task(station.start())
        try:
            boot = await station.call(call16.BootNotification(charge_point_vendor="Other", charge_point_model="X"))
            assert boot.status == "Accepted"
            await station.call(
                call16.MeterValues(
                    connector_id=1,
                    meter_value=[
                        {
                            "timestamp": wire(datetime.now(UTC)),
                            "sampled_value": [
                                {"value": "12.5", "unit": "kWh", "measurand": "Energy.Active.Import.Register"},
                                {"value": "3.7", "unit": "kW", "measurand": "Power.Active.Import"},
                            ],
                        }
                    ],
                )
            )
        finally:
            listening.cancel()
    meter = await first_event(stack.broker.bootstrap, "meter.values", station_id)
    assert (meter["energy_wh"], meter["power_w"], meter["energy_context"]) == (12500, 3700, "Register")


@pytest.mark.asyncio(loop_scope="module")
async def test_a_foreign_ocpp201_station_is_accepted_and_its_multiplier_is_applied(stack: Stack) -> None:
    station_id = f"EXT201-{uuid.uuid4().hex[:6]}"
    async with websockets.connect(f"{stack.ocpp_url}/{station_id}", subprotocols=["ocpp2.0.1"]) as ws:
        station = ChargePoint201(station_id, ws)
        listening = asyncio.create_task(station.start())
        try:
            boot = await station.call(
                call201.BootNotification(charging_station={"model": "Y", "vendor_name": "Other"}, reason="PowerUp")
            )
            assert boot.status == "Accepted"
            await station.call(
                call201.MeterValues(
                    evse_id=1,
                    meter_value=[
                        {
                            "timestamp": wire(datetime.now(UTC)),
                            "sampled_value": [
                                {
                                    "value": 7.25,
                                    "measurand": "Energy.Active.Import.Register",
                                    "unit_of_measure": {"unit": "Wh", "multiplier": 3},
                                },
                                {
                                    "value": 16.0,
                                    "measurand": "Current.Import",
                                    "phase": "L1",
                                    "unit_of_measure": {"unit": "A"},
                                },
                            ],
                        }
                    ],
                )
            )
        finally:
            listening.cancel()
    meter = await first_event(stack.broker.bootstrap, "meter.values", station_id)
    assert meter["energy_wh"] == 7250
    assert meter["phases"] == [{"phase": "L1", "power_w": None, "current_a": 16.0, "voltage_v": None}]
