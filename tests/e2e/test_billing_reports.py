"""A charge on a simulated station, end to end: a CDR priced by a mixed tariff (session fee, two
time-of-use energy prices split during the charge, a price per minute) and the charge in every
report (issue 8, must show 1: billing and reporting)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
from chargeyard_devstack.stack import Stack, StackConfig, free_port
from chargeyard_simulator import Car, EvseConfig, Station, StationConfig

SITE_TZ = ZoneInfo("Europe/Berlin")  # the energy manager's default site time zone
CENT = Decimal("0.01")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    running = Stack(
        StackConfig(
            run_dir=tmp_path_factory.mktemp("billing-reports"),
            kafka_port=free_port(),
            port_offset=2900 + free_port() % 400,
        )
    )
    try:
        await running.start()
        yield running
    finally:
        running.stop()


async def until(what: str, check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        await asyncio.sleep(0.5)


@pytest.mark.asyncio(loop_scope="module")
async def test_a_charge_becomes_a_mixed_tariff_cdr_and_shows_in_every_report(stack: Stack) -> None:
    station_id = f"BILL-{uuid.uuid4().hex[:6]}"
    billing, reporting = stack.url("billing"), stack.url("reporting")
    station = Station(
        StationConfig(
            station_id=station_id,
            ocpp_version="2.0.1",
            url=stack.ocpp_url,
            evses=[EvseConfig(max_power_w=11_000)],
            meter_interval_s=1,
        )
    )
    task = asyncio.create_task(station.run())
    async with httpx.AsyncClient(timeout=10, headers=stack.admin_headers) as client:
        try:
            await until("the station booted", lambda: _true(station.boot_accepted))
            # A reservation, so the car charges under a plan: without one (an unknown card) it gets
            # only what it draws before the station's first, empty, plan profile arrives.
            now = datetime.now(UTC)
            booked = await client.post(
                f"{stack.url('reservation-api')}/v1/reservations",
                json={
                    "site_id": "site-1",
                    "station_id": station_id,
                    "arrival": now.isoformat(),
                    "departure": (now + timedelta(hours=2)).isoformat(),
                    "energy_wh": 20_000,
                },
            )
            assert booked.status_code == 201, booked.text
            station.plug_in(1, Car(battery_wh=60_000, soc_percent=20, max_power_w=11_000), id_tag="E2EBILL")
            plugged_wh = station.energy_wh(1)
            # Energy flowing under the plan, not only power for an instant: on a loaded CI machine a
            # car without a reservation drew under 1 Wh before its empty plan came, a CDR of 0 kWh.
            await until("the car charges", lambda: _true(station.energy_wh(1) >= plugged_wh + 5))
            # The tariff is chosen when the session ends: a price change 6 s into this charge.
            boundary = datetime.now(UTC) + timedelta(seconds=6)
            local = boundary.astimezone(SITE_TZ)
            tariff = {
                "currency": "EUR",
                "vat_rate": "0.19",
                "session_fee": "0.50",
                "price_per_minute": "0.01",
                "energy": [
                    {"starts": (local - timedelta(minutes=5)).time().isoformat(), "price_per_kwh": "0.30"},
                    {"starts": local.time().isoformat(), "price_per_kwh": "0.20"},
                ],
            }
            put = await client.put(f"{billing}/v1/tariffs/e2e-mixed", json=tariff)
            assert put.status_code in (200, 201), put.text
            # Charge across the time-of-use boundary, then a few more meter values after it, with
            # energy on both sides of it.
            await asyncio.sleep(max(0.0, (boundary - datetime.now(UTC)).total_seconds()))
            boundary_wh = station.energy_wh(1)
            await asyncio.sleep(5)
            await until("the car charges after the boundary", lambda: _true(station.energy_wh(1) >= boundary_wh + 5))
            station.unplug(1)

            async def session() -> dict[str, Any] | None:
                sessions = (await client.get(f"{billing}/v1/sessions", params={"station_id": station_id})).json()
                done = [s for s in sessions if s["status"] == "completed"]
                return done[0] if done else None

            tx = (await until("billing saw the session end", session))["transaction_id"]

            async def priced() -> dict[str, Any] | None:
                found = (await client.get(f"{billing}/v1/cdrs", params={"transaction_id": tx})).json()
                return found[0] if found else None

            record = await until("the CDR was made", priced)
            assert record["status"] == "priced", record["anomalies"]
            assert record["tariff_id"] == "e2e-mixed"
            cdr = record["cdr"]
            energy = [p for p in cdr["charging_periods"] if p["dimensions"][0]["type"] == "ENERGY"]
            assert len(energy) == 2, "the energy is split at the time-of-use boundary"
            second_starts = datetime.fromisoformat(energy[1]["start_date_time"].replace("Z", "+00:00"))
            assert abs(second_starts - boundary) < timedelta(seconds=1), (second_starts, boundary)
            kwh = [Decimal(p["dimensions"][0]["volume"]) for p in energy]
            assert sum(kwh) == Decimal(cdr["total_energy"]) > 0
            [fee] = [p for p in cdr["charging_periods"] if p["dimensions"][0]["type"] == "FLAT"]
            minutes = sum(
                Decimal(p["dimensions"][0]["volume"]) * 60
                for p in cdr["charging_periods"]
                if p["dimensions"][0]["type"] == "TIME"
            )
            lines = kwh[0] * Decimal("0.30") + kwh[1] * Decimal("0.20") + Decimal("0.50") + minutes * Decimal("0.01")
            net = lines.quantize(CENT, rounding=ROUND_HALF_UP)
            vat = (net * Decimal("0.19")).quantize(CENT, rounding=ROUND_HALF_UP)
            assert (record["net"], record["vat"], record["gross"]) == (str(net), str(vat), str(net + vat))
            assert cdr["total_cost"] == {"excl_vat": str(net), "incl_vat": str(net + vat)}
            assert fee["dimensions"][0]["volume"] == "1"

            station.stop()  # the gateway reports the station Offline: a row in the event history
            await asyncio.gather(task, return_exceptions=True)

            async def every_report() -> dict[str, Any] | None:
                params = {"station_id": station_id}
                answers = {
                    name: (await client.get(f"{reporting}/v1/reports/{name}", params=params)).json()
                    for name in (
                        "energy-delivered",
                        "sessions",
                        "utilisation",
                        "availability",
                        "co2",
                        "green-share",
                        "events",
                    )
                }
                ours = {
                    "energy-delivered": any(r["energy_wh"] > 0 for r in answers["energy-delivered"]["rows"]),
                    "sessions": any(
                        r["transaction_id"] == tx and r["cost_gross"] == record["gross"]
                        for r in answers["sessions"]["rows"]
                    ),
                    "utilisation": any(r["in_use_s"] > 0 for r in answers["utilisation"]["rows"]),
                    "availability": any(r["known_s"] > 0 for r in answers["availability"]["rows"]),
                    "co2": answers["co2"]["avoided_kg"] > 0,
                    "green-share": answers["green-share"]["energy_wh"] > 0,
                    "events": any(r["status"] == "Offline" for r in answers["events"]["rows"]),
                }
                return answers if all(ours.values()) else None

            answers = await until("the charge reached every report", every_report)
            assert answers["sessions"]["average_cost_gross"] == record["gross"]
            csv_text = (
                await client.get(f"{reporting}/v1/reports/sessions", params={"station_id": station_id, "format": "csv"})
            ).text
            assert tx in csv_text and record["gross"] in csv_text
        finally:
            station.stop()
            await asyncio.gather(task, return_exceptions=True)


async def _true(value: bool) -> bool:
    return value
