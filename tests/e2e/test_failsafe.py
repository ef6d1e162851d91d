"""Issue 5, must show 4: the fail-safe. Every station holds a station maximum (OCPP 1.6
ChargePointMaxProfile on connector 0, 2.0.1 ChargingStationMaxProfile on EVSE 0) whose sum keeps the
site within its grid connection. Stop every Chargeyard process, then start full-power transactions
on every simulated station: the sum of their maxima, and their metered draw, stay within the limit,
in total and on each grid phase (a single-phase car and mixed phase rotations included)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from chargeyard_simulator import Car, EvseConfig, ProfilePurpose, Station, StationConfig

from .sites import a_stack, grid_phase_a, station_max_a, wait_until

SPEED = 30.0
GRID_W = 30_000
PHASE_A = GRID_W / (3 * 230.0)
STATION_W = 11_000
ROTATIONS = ["RST", "STR", "TRS", "RST", "RST"]


@pytest.mark.asyncio
async def test_with_chargeyard_down_the_station_maxima_hold_the_site_limit(run_dir: Path) -> None:
    stack, clock = a_stack(run_dir, SPEED)
    prefix = f"FS{uuid.uuid4().hex[:4]}"
    stations = [
        Station(
            StationConfig(
                station_id=f"{prefix}-{i + 1}",
                ocpp_version="1.6" if i % 2 == 0 else "2.0.1",
                url=stack.ocpp_url,
                phase_rotation=ROTATIONS[i],
                meter_interval_s=20,
                evses=[EvseConfig(max_power_w=STATION_W, phases=3)],
                reconnect_max_s=2,
            ),
            clock,
        )
        for i in range(len(ROTATIONS))
    ]
    tasks: list[asyncio.Task[None]] = []
    stopped = False
    try:
        await stack.start()
        em = stack.url("energy-manager")
        async with httpx.AsyncClient(timeout=5, headers=stack.admin_headers) as client:
            r = await client.put(
                f"{em}/v1/sites/site-1", json={"name": "Garage", "time_zone": "Europe/Berlin", "grid_limit_w": GRID_W}
            )
            assert r.status_code == 200, r.text
            for station, rotation in zip(stations, ROTATIONS, strict=True):
                r = await client.put(
                    f"{em}/v1/sites/site-1/stations/{station.id}",
                    json={"max_power_w": STATION_W, "phase_rotation": rotation},
                )
                assert r.status_code == 200, r.text
        tasks = [asyncio.create_task(s.run()) for s in stations]
        await wait_until(
            lambda: all(station_max_a(s) is not None for s in stations), 30, "every station holds a fail-safe maximum"
        )
        await asyncio.sleep(2)  # let the last re-sends of the start-up settle

        stack.stop()  # every Chargeyard process and the broker
        stopped = True
        await wait_until(lambda: not any(s.connected for s in stations), 20, "every station sees the outage")
        maxima = [station_max_a(s) for s in stations]
        for station in stations:
            # As if the plan layer had run out: only what the station itself keeps may limit it.
            station.clear_charging_profiles(purpose=ProfilePurpose.TX_DEFAULT)
        for i, station in enumerate(stations):
            phases = 1 if i == 1 else 3
            station.plug_in(
                1,
                Car(battery_wh=80_000, soc_percent=10, max_power_w=STATION_W if phases == 3 else 7_400, phases=phases),
                id_tag=f"FS{i:04d}",
            )
        started = clock.now()
        peak_w, peak_phase, samples, over = 0.0, [0.0, 0.0, 0.0], 0, []
        while clock.now() < started + timedelta(minutes=5):
            total = sum(s.power_w(1) for s in stations)
            per_phase = [sum(grid_phase_a(s, r)[p] for s, r in zip(stations, ROTATIONS, strict=True)) for p in range(3)]
            samples += 1
            peak_w = max(peak_w, total)
            peak_phase = [max(a, b) for a, b in zip(peak_phase, per_phase, strict=True)]
            if total > GRID_W or max(per_phase) > PHASE_A + 0.01:
                over.append(f"{total:.0f} W, {[round(a, 1) for a in per_phase]} A")
            await asyncio.sleep(0.02)
        maxima_sum_w = sum(m or 0 for m in maxima) * 230 * 3
        per_phase_maxima = [sum(m or 0 for m, s in zip(maxima, stations, strict=True)) for _ in range(3)]
        print(
            f"fail-safe maxima {maxima} A per phase: sum {maxima_sum_w:.0f} W (limit {GRID_W}); with Chargeyard "
            f"down {samples} looks: peak draw {peak_w:.0f} W, peak per grid phase "
            f"{[round(a, 1) for a in peak_phase]} A (limit {PHASE_A:.1f} A)"
        )
        assert all(m is not None and m > 0 for m in maxima)
        assert maxima_sum_w <= GRID_W and max(per_phase_maxima) <= PHASE_A
        assert over == [], over[:5]
        assert all(s.power_w(1) > 0 for s in stations), "a station did not charge at all"
        assert peak_w > 0.6 * GRID_W
    finally:
        for station in stations:
            station.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        if not stopped:
            stack.stop()
        await stack.drop_databases()
