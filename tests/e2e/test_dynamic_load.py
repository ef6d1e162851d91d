"""Issue 5, must show 2: dynamic load management. The grid connection (50 A per phase) feeds a
building whose meter climbs on one phase, and four stations: two single-phase stations wired to the
same grid phase R, two three-phase stations with other phase rotations. Charging falls so that no
grid phase is ever over its limit; when the building meter falls silent past its time-out, the safe
fallback load applies (never "unlimited")."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from chargeyard_simulator import Car, EvseConfig, Station, StationConfig

from .sites import RESERVATIONS_AUTH, a_stack, grid_phase_a, wait_for, wait_until

SPEED = 30.0
PHASE_LIMIT_A = 50.0
MARGIN_W = 2_070  # 3 A per phase
FALLBACK_W = 20_700  # 30 A per phase while the meter is silent
TIMEOUT_S = 120
STATIONS = [  # (phases, max W, rotation)
    (1, 7_400, "RST"),
    (1, 7_400, "RST"),
    (3, 11_000, "STR"),
    (3, 11_000, "TRS"),
]


@pytest.mark.asyncio
async def test_charging_falls_as_the_building_climbs_per_phase_and_a_silent_meter_falls_back(run_dir: Path) -> None:
    stack, clock = a_stack(run_dir, SPEED)
    prefix = f"DL{uuid.uuid4().hex[:4]}"
    stations = [
        Station(
            StationConfig(
                station_id=f"{prefix}-{i + 1}",
                ocpp_version="1.6" if i % 2 == 0 else "2.0.1",
                url=stack.ocpp_url,
                phase_rotation=rotation,
                meter_interval_s=15,
                evses=[EvseConfig(max_power_w=watts, phases=phases)],
            ),
            clock,
        )
        for i, (phases, watts, rotation) in enumerate(STATIONS)
    ]
    rotations = [r for _, _, r in STATIONS]
    building = [5.0, 5.0, 5.0]
    tasks: list[asyncio.Task[None]] = []
    over: list[str] = []
    samples = 0
    peak_phase = [0.0, 0.0, 0.0]

    def look(stage: str, budget: list[float]) -> list[float]:
        nonlocal samples
        charging = [sum(grid_phase_a(s, r)[p] for s, r in zip(stations, rotations, strict=True)) for p in range(3)]
        samples += 1
        for p in range(3):
            peak_phase[p] = max(peak_phase[p], building[p] + charging[p])
            if charging[p] > budget[p] + 0.05:
                over.append(
                    f"{stage}: phase {'RST'[p]} charging {charging[p]:.1f} A over {budget[p]:.1f} A "
                    f"at {clock.now().isoformat()}"
                )
        return charging

    try:
        await stack.start()
        em = stack.url("energy-manager")
        async with httpx.AsyncClient(timeout=5, headers=stack.admin_headers) as client:

            async def post_building() -> None:
                r = await client.post(
                    f"{em}/v1/sites/site-1/building-load",
                    json={"phase_a": building, "measured_at": clock.now().isoformat()},
                )
                assert r.status_code == 202, r.text

            r = await client.put(
                f"{em}/v1/sites/site-1",
                json={
                    "name": "Office",
                    "time_zone": "Europe/Berlin",
                    "grid_limit_w": 45_000,
                    "grid_limit_a": PHASE_LIMIT_A,
                    "safety_margin_w": MARGIN_W,
                    "building_timeout_s": TIMEOUT_S,
                    "building_fallback_w": FALLBACK_W,
                },
            )
            assert r.status_code == 200, r.text
            for station, (phases, watts, rotation) in zip(stations, STATIONS, strict=True):
                r = await client.put(
                    f"{em}/v1/sites/site-1/stations/{station.id}",
                    json={"max_power_w": watts, "phases": phases, "phase_rotation": rotation},
                )
                assert r.status_code == 200, r.text
            await post_building()
            tasks = [asyncio.create_task(s.run()) for s in stations]
            await wait_until(
                lambda: all(any(p.id == 1001 for p in s.installed_profiles(1)) for s in stations),
                30,
                "every station holds a plan profile",
            )
            now = clock.now()
            for i, (station, (phases, watts, _)) in enumerate(zip(stations, STATIONS, strict=True)):
                station.plug_in(
                    1, Car(battery_wh=90_000, soc_percent=10, max_power_w=watts, phases=phases), id_tag=f"DL{i:04d}"
                )
                r = await client.post(
                    f"{stack.url('reservation-api')}/v1/reservations",
                    json={
                        "site_id": "site-1",
                        "station_id": station.id,
                        "arrival": now.isoformat(),
                        "departure": (now + timedelta(hours=5)).isoformat(),
                        "energy_wh": 25_000,
                        "max_power_w": watts,
                        "phases": phases,
                    },
                    headers=RESERVATIONS_AUTH,
                )
                assert r.status_code == 201, r.text

            def budget() -> list[float]:
                return [PHASE_LIMIT_A - MARGIN_W / 690 - building[p] for p in range(3)]

            # The site settles: every car charging, the two single-phase cars seen on R.
            async def keep_posting(seconds: float) -> None:
                end = clock.now() + timedelta(seconds=seconds)
                while clock.now() < end:
                    await post_building()
                    await asyncio.sleep(30 / SPEED)

            await keep_posting(240)

            def on_r() -> float:
                return sum(grid_phase_a(s, r)[0] for s, r in zip(stations, rotations, strict=True))

            await wait_until(lambda: on_r() > 30, 20, "the cars load grid phase R")
            await keep_posting(120)
            start_charging = look("settled", [PHASE_LIMIT_A] * 3)

            # The building climbs on R by 2 A a minute (less than the 3 A margin per reading), a little on S.
            for step in range(12):
                building[0] += 2.0
                building[1] += 0.5
                await post_building()
                minute_end = clock.now() + timedelta(seconds=60)
                grace_end = clock.now() + timedelta(seconds=30)
                while clock.now() < minute_end:
                    # Until the new limits land (a reading, a clamp, a command), the margin carries it.
                    look(
                        f"climb {step}",
                        budget() if clock.now() >= grace_end else [b + MARGIN_W / 690 for b in budget()],
                    )
                    await asyncio.sleep(0.02)
            end_charging = look("top", budget())

            # The meter falls silent: past its time-out the fallback (30 A a phase) applies.
            silent_from = clock.now()
            capacity = await wait_for(
                client,
                f"{em}/v1/sites/site-1/capacity",
                lambda c: c["building_stale"],
                (TIMEOUT_S + 120) / SPEED + 10,
                "the silent meter is noticed",
            )
            noticed = (clock.now() - silent_from).total_seconds()
            fallback = [PHASE_LIMIT_A - MARGIN_W / 690 - FALLBACK_W / 690] * 3
            await asyncio.sleep(60 / SPEED)  # the clamp reaches the stations
            stale_end = clock.now() + timedelta(minutes=3)
            stale_charging = [0.0, 0.0, 0.0]
            while clock.now() < stale_end:
                stale_charging = [max(a, b) for a, b in zip(stale_charging, look("stale", fallback), strict=True)]
                await asyncio.sleep(0.02)
        print(
            f"{samples} looks; charging per grid phase settled {[round(a, 1) for a in start_charging]} A, at the "
            f"top of the climb {[round(a, 1) for a in end_charging]} A (building {building}); peak grid phase "
            f"{[round(a, 1) for a in peak_phase]} A (limit {PHASE_LIMIT_A}); meter silent noticed after "
            f"{noticed:.0f} s (time-out {TIMEOUT_S} s), then charging at most "
            f"{[round(a, 1) for a in stale_charging]} A under the fallback {fallback[0]:.1f} A; "
            f"counted {capacity['counted']}"
        )
        assert over == [], over[:5]
        assert max(peak_phase) <= PHASE_LIMIT_A
        assert start_charging[0] > end_charging[0] + 10, "charging on R did not fall as the building climbed"
        assert start_charging[0] > 30, "the single-phase cars never loaded R"
        assert noticed <= TIMEOUT_S + 60
        assert max(stale_charging) > 0, "the fallback is a safe value, not zero charging"
    finally:
        for station in stations:
            station.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        stack.stop()
        await stack.drop_databases()
