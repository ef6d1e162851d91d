"""A simulated day through the running services, compared with `chargeyard-sim` on the same inputs
(issue 6, must show 5).

    python -m chargeyard_devstack.simday --sessions S.csv --site SITE.json --strategy fcfs \\
        [--prices P.csv] [--green G.csv] [--speed 60] [--postgres postgresql://...] --out DIR

The same sessions CSV, site JSON, prices and green shares as `chargeyard-sim` (its own readers, so
both runs see the same input). First `chargeyard-sim`'s replay runs in this process; then the
processes `make run` starts (chargeyard_devstack.Stack: Tansu and every service) run on a simulated
clock shared with simulated OCPP stations in this process:

- the site, its boards (as circuits) and its stations are put to the energy manager's topology API
  before any station connects; prices and green shares (shifted, see below) to its energy API once
  every EVSE holds its idle plan profile;
- at each session's arrival a reservation (departure, energy, station) is posted to the reservation
  API and a car that wants exactly that energy is plugged in; at its departure the car is unplugged;
- what the platform recorded gives the metrics: the energy of each charging session from billing
  (the station's register at start and stop), the site's load, board currents and offered currents
  from the stations' meters, sampled all along; cost and green share from that load.

The day is shifted in time by whole slots so that its first arrival falls just after the stack is
ready (the services' clock starts with them); every time in the inputs moves by the same amount, so
the planner sees the same problem. It prints both metrics, the differences and, on its last line,
one JSON object {"sim": ..., "live": ..., "problems": [...]}; exit status 1 if a difference is
outside the tolerance, 2 for bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import math
import re
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from chargeyard_platform.clock import SimulatedClock
from chargeyard_simulator import Car, EvseConfig, Station, StationConfig
from chargeyard_simulator.profiles import period_watts

from .stack import Stack, StackConfig, free_port

GRID = "RST"
VOLTAGE_V = 230.0
MIN_CURRENT_A = 6.0
"""IEC 61851-1: an offered current below 6 A is not allowed; 0 A pauses the car."""
SITE_ID = "site-1"
PLAN_PROFILE_BASE = 1000
"""The energy manager's plan-layer profile on EVSE n has id 1000 + n."""


@dataclass(frozen=True)
class Tolerance:
    """How far the live run may be from `chargeyard-sim`, and why it is not zero.

    - Slot alignment: chargeyard-sim re-plans exactly at every arrival, departure and slot boundary
      and applies the new plan at once; the services re-plan after a debounce, a solve and an OCPP
      round trip (0.5-2 real seconds: 0.5-2 simulated minutes at 60x).
    - Ramp delays: the energy manager holds every increase of a limit back (ENERGY_INCREASE_DELAY_S,
      one real second here) so that decreases elsewhere land first; a car that gets more
      power gets it that much later.
    - Meter interval: the scheduler learns delivered energy from meter values (every 5 simulated
      minutes), billing counts whole Wh, and the load is sampled every ~50 real ms.
    Together these move a few minutes of energy to later; with laxity in the sessions the plan
    catches up, so the energy delivered and the sessions fully met must not suffer, the top of the
    load is trimmed a little, and cost and green share move with the hour in which that energy lands.
    """

    energy_pct: float = 3.0
    """Energy delivered, in percentage points of the energy requested."""
    sessions_met: int = 0
    """Sessions fully met (within 100 Wh or 1 %, as chargeyard-sim counts)."""
    peak_below_pct: float = 10.0
    """The live peak may fall this far (percent of the sim's peak) below it; never above the limit."""
    over_limit_w: float = 1.0
    """Load above the site limit counted as a violation (as chargeyard-sim: 1 W)."""
    cost_pct: float = 5.0
    green_share: float = 0.03


@dataclass
class Inputs:
    sessions: list[Any]
    site: Any
    prices: dict[datetime, float] | None
    green: dict[datetime, float] | None


def read_inputs(sessions: Path, site: Path, prices: Path | None, green: Path | None) -> Inputs:
    """chargeyard-sim's own readers: the two runs see the same input (InputError names bad input)."""
    from chargeyard_scheduler.sim.inputs import read_series, read_sessions, read_site

    found = read_sessions(sessions)
    return Inputs(
        found,
        read_site(site, found),
        read_series(prices, "price_per_kwh") if prices else None,
        read_series(green, "green_share", maximum=1.0) if green else None,
    )


def sim_metrics(inputs: Inputs, strategy: str, slot_seconds: int) -> dict[str, Any]:
    from chargeyard_scheduler.sim.replay import metrics, replay

    result = replay(
        inputs.sessions,
        inputs.site,
        strategy,
        slot_seconds=slot_seconds,
        prices=inputs.prices,
        green=inputs.green,
    )
    found: dict[str, Any] = metrics(result, inputs.sessions, inputs.site)
    return found


def _step(series: Mapping[datetime, float] | None, at: datetime) -> float | None:
    """The value of a step function at `at` (before its first step: the first value), as chargeyard-sim."""
    if not series:
        return None
    starts = list(series)
    i = bisect.bisect_right(starts, at) - 1
    return series[starts[max(0, i)]]


def _intervals(
    series: Mapping[datetime, float], shift: timedelta, end: datetime
) -> list[tuple[datetime, datetime, float]]:
    starts = list(series)
    out = []
    for i, start in enumerate(starts):
        stop = starts[i + 1] if i + 1 < len(starts) else max(end, start + timedelta(hours=1))
        out.append((start + shift, stop + shift, series[start]))
    return out


@dataclass
class Load:
    """What the stations' meters showed, sampled all along the day."""

    samples: int = 0
    peak_w: float = 0.0
    energy_wh: float = 0.0
    cost: float = 0.0
    green_wh: float = 0.0
    violations: dict[str, int] = field(default_factory=lambda: {"site_limit": 0, "board_limit": 0, "min_current": 0})
    over: list[str] = field(default_factory=list)
    offered_below_6a: int = 0
    """Samples in which a station offered 0 < I < 6 A under all its profiles (any layer)."""
    notes: list[str] = field(default_factory=list)
    last: tuple[datetime, float] | None = None


def plan_layer_w(station: Station, evse_id: int, phases: int, now: datetime) -> float | None:
    """What the energy manager's plan-layer profile (id 1000 + EVSE) allows the EVSE now, in W."""
    for profile in station.installed_profiles(evse_id):
        if profile.id != PLAN_PROFILE_BASE + evse_id or not profile.periods:
            continue
        start = profile.start_schedule or profile.installed_at or now
        offset = (now - start).total_seconds()
        current = [p for p in profile.periods if p.start_period_s <= offset]
        period = current[-1] if current else profile.periods[0]
        watts, _ = period_watts(period, profile.rate_unit, phases)
        return float(watts)
    return None


class LiveDay:
    """The day played against the running services (see the module's docstring)."""

    def __init__(
        self,
        inputs: Inputs,
        stack: Stack,
        clock: SimulatedClock,
        *,
        tolerance: Tolerance,
        meter_interval_s: float = 300.0,
        lead_s: float = 300.0,
        slot_seconds: int = 900,
    ) -> None:
        self.inputs = inputs
        self.stack = stack
        self.clock = clock
        self.tolerance = tolerance
        self.meter_interval_s = meter_interval_s
        self.lead_s = lead_s
        self.slot_seconds = slot_seconds
        self.stations: dict[str, Station] = {}
        self.load = Load()
        self.shift = timedelta(0)
        self.id_tags = {s.session_id: f"SIM{i:05d}" for i, s in enumerate(inputs.sessions)}
        """One idTag per session (OCPP 1.6 CiString20): billing's sessions carry it."""
        self.evse_of: dict[str, tuple[str, int]] = {}
        self.meter_wh: dict[str, float] = {}
        self._register_at_start: dict[str, float] = {}

    # --- the site ---------------------------------------------------------------------------------

    async def describe_site(self, client: httpx.AsyncClient) -> None:
        site = self.inputs.site
        em = self.stack.url("energy-manager")
        response = await client.put(
            f"{em}/v1/sites/{SITE_ID}",
            json={
                "name": "chargeyard-sim day",
                "time_zone": site.time_zone.key,
                "grid_limit_w": site.limit_w,
                "voltage_v": site.voltage_v,
            },
        )
        response.raise_for_status()
        for board in _parents_first(site.boards):
            response = await client.put(
                f"{em}/v1/sites/{SITE_ID}/circuits/{board.board_id}",
                json={"parent_id": board.parent_id, "limit_a": board.limit_a},
            )
            response.raise_for_status()
        for station in site.stations:
            response = await client.put(
                f"{em}/v1/sites/{SITE_ID}/stations/{station.station_id}",
                json={
                    "max_power_w": station.max_power_w,
                    "phases": station.phases,
                    "evse_ids": list(range(1, station.evses + 1)),
                    "circuit_id": station.board_id,
                    "phase_rotation": station.phase_rotation,
                },
            )
            response.raise_for_status()

    async def post_energy(self, client: httpx.AsyncClient) -> None:
        em = self.stack.url("energy-manager")
        end = max(s.departure for s in self.inputs.sessions)
        if self.inputs.prices:
            response = await client.post(
                f"{em}/v1/sites/{SITE_ID}/prices",
                json={
                    "currency": "EUR",
                    "intervals": [
                        {"start": a.isoformat(), "end": b.isoformat(), "price_per_kwh": f"{v:.6f}"}
                        for a, b, v in _intervals(self.inputs.prices, self.shift, end)
                    ],
                },
            )
            response.raise_for_status()
        if self.inputs.green:
            response = await client.post(
                f"{em}/v1/sites/{SITE_ID}/green",
                json={
                    "intervals": [
                        {"start": a.isoformat(), "end": b.isoformat(), "renewable_share": v}
                        for a, b, v in _intervals(self.inputs.green, self.shift, end)
                    ]
                },
            )
            response.raise_for_status()

    def build_stations(self) -> None:
        for i, s in enumerate(self.inputs.site.stations):
            self.stations[s.station_id] = Station(
                StationConfig(
                    station_id=s.station_id,
                    ocpp_version="1.6" if i % 2 == 0 else "2.0.1",
                    url=self.stack.ocpp_url,
                    evses=[EvseConfig(max_power_w=s.max_power_w // s.evses, phases=s.phases)] * s.evses,
                    meter_interval_s=self.meter_interval_s,
                    phase_rotation=s.phase_rotation,
                ),
                self.clock,
            )

    # --- the day ----------------------------------------------------------------------------------

    def events(self) -> list[tuple[datetime, int, Any]]:
        """Departures before arrivals at the same moment: a connector is free again first."""
        found = [(s.arrival + self.shift, 1, s) for s in self.inputs.sessions]
        found += [(s.departure + self.shift, 0, s) for s in self.inputs.sessions]
        return sorted(found, key=lambda e: (e[0], e[1], e[2].session_id))

    async def sleep_until(self, at: datetime) -> None:
        left = (at - self.clock.now()).total_seconds()
        if left > 0:
            await self.clock.sleep(left)

    async def arrive(self, client: httpx.AsyncClient, session: Any) -> None:
        station = self.stations[session.station_id]
        spec = next(s for s in self.inputs.site.stations if s.station_id == session.station_id)
        busy = {evse for sid, (st, evse) in self.evse_of.items() if st == session.station_id}
        free = [e for e in range(1, spec.evses + 1) if e not in busy]
        if not free:
            raise ValueError(f"session {session.session_id}: every EVSE of {session.station_id} is taken at arrival")
        evse = free[0]
        if session.energy_wh <= 0:
            return
        response = await client.post(
            f"{self.stack.url('reservation-api')}/v1/reservations",
            json={
                "site_id": SITE_ID,
                "station_id": session.station_id,
                "arrival": (session.arrival + self.shift).isoformat(),
                "departure": (session.departure + self.shift).isoformat(),
                "energy_wh": session.energy_wh,
                "max_power_w": session.max_power_w,
                "phases": spec.phases,
            },
        )
        if response.status_code != 201:
            raise RuntimeError(f"session {session.session_id}: reservation refused: {response.text}")
        # A car that stops by itself once it has the session's energy, as chargeyard-sim's cars do;
        # below 80 % state of charge, so no taper (CV phase) slows it down.
        battery = max(2.0 * session.energy_wh, 40_000.0)
        car = Car(
            battery_wh=battery,
            soc_percent=10.0,
            max_power_w=session.max_power_w,
            phases=spec.phases,
            target_soc=10.0 + 100.0 * session.energy_wh / battery,
            name=session.session_id,
        )
        self.evse_of[session.session_id] = (session.station_id, evse)
        self._register_at_start[session.session_id] = station.energy_wh(evse)
        station.plug_in(evse, car, id_tag=self.id_tags[session.session_id])

    def depart(self, session: Any) -> None:
        where = self.evse_of.pop(session.session_id, None)
        if where is None:
            return
        station = self.stations[where[0]]
        self.meter_wh[session.session_id] = station.energy_wh(where[1]) - self._register_at_start[session.session_id]
        station.unplug(where[1])

    async def watch(self, stop: asyncio.Event) -> None:
        """The site's load, board currents and offered currents as the stations' meters show them."""
        site = self.inputs.site
        parent = {b.board_id: b.parent_id for b in site.boards}
        limit_a = {b.board_id: b.limit_a for b in site.boards}
        specs = {s.station_id: s for s in site.stations}
        while not stop.is_set():
            now = self.clock.now()
            power = 0.0
            per_board = {b: [0.0, 0.0, 0.0] for b in limit_a}
            for station_id, station in self.stations.items():
                spec = specs[station_id]
                for evse_id in station.evses:
                    power += station.power_w(evse_id)
                    draw = station.evse(evse_id).draw
                    grid = [0.0, 0.0, 0.0]
                    for i, amps in enumerate(draw.phase_a):
                        grid[GRID.index(spec.phase_rotation[i]) if spec.phase_rotation[i] in GRID else i] += amps
                    board = spec.board_id
                    while board is not None:
                        per_board[board] = [a + b for a, b in zip(per_board[board], grid, strict=True)]
                        board = parent.get(board)
                    car = station.car(evse_id)
                    if station.transaction(evse_id) is not None and car is not None:
                        phases = min(spec.phases, car.phases)
                        # chargeyard-sim checks what the plan offers: here the plan layer's profile,
                        # and, apart, what the station offers under every layer (the fail-safe
                        # maximum of the energy manager included).
                        planned_w = plan_layer_w(station, evse_id, phases, now)
                        if planned_w is not None and 0 < planned_w / (phases * VOLTAGE_V) < MIN_CURRENT_A - 1e-6:
                            self.load.violations["min_current"] += 1
                            self.load.over.append(f"{station_id}/{evse_id} planned {planned_w:.0f} W at {now}")
                        offered_a = station.effective_limit_w(evse_id) / (phases * VOLTAGE_V)
                        if 0 < offered_a < MIN_CURRENT_A - 1e-6:
                            self.load.offered_below_6a += 1
                            self.load.notes.append(f"{station_id}/{evse_id} offered {offered_a:.2f} A at {now}")
            self._account(now, power)
            if power > site.limit_w + self.tolerance.over_limit_w:
                self.load.violations["site_limit"] += 1
                self.load.over.append(f"site load {power:.0f} W over {site.limit_w} W at {now}")
            for board, amps in per_board.items():
                if max(amps) > limit_a[board] + 0.05:
                    self.load.violations["board_limit"] += 1
                    self.load.over.append(f"board {board} {max(amps):.1f} A over {limit_a[board]:.1f} A at {now}")
            await asyncio.sleep(0.05)

    def _account(self, now: datetime, power_w: float) -> None:
        load = self.load
        load.samples += 1
        load.peak_w = max(load.peak_w, power_w)
        if load.last is not None:
            then, watts = load.last
            wh = watts * (now - then).total_seconds() / 3600
            moment = then - self.shift  # the inputs' own time
            load.energy_wh += wh
            price = _step(self.inputs.prices, moment)
            if price is not None:
                load.cost += price * wh / 1000
            share = _step(self.inputs.green, moment)
            if share is not None:
                load.green_wh += share * wh
        load.last = (now, power_w)

    async def run(self) -> dict[str, Any]:
        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        self.build_stations()
        async with httpx.AsyncClient(timeout=10, headers=self.stack.admin_headers) as client:
            await self.describe_site(client)
            try:
                tasks = [asyncio.create_task(s.run()) for s in self.stations.values()]
                await _wait_until(lambda: all(s.boot_accepted for s in self.stations.values()), 60, "stations booted")
                # Events flow from station to plan (gateway, energy manager, scheduler) before the
                # first car comes: consumers that join their groups late would see it late.
                await _wait_for_plan(client, self.stack.url("scheduler"), 60)
                # Every EVSE holds the energy manager's idle plan profile: the day starts from the
                # state the platform believes the stations are in (a command the gateway let expire
                # while the stack was starting would leave a station without any limit).
                await _wait_until(self.plan_profiles_installed, 60, "every EVSE holds its plan profile")
                first = min(s.arrival for s in self.inputs.sessions)
                lead = max(self.lead_s, 3.0 * self.clock.speed)  # and three real seconds at least
                behind = (self.clock.now() + timedelta(seconds=lead) - first).total_seconds()
                self.shift = timedelta(seconds=math.ceil(behind / self.slot_seconds) * self.slot_seconds)
                await self.post_energy(client)
                expired_before = await self.expired_commands(client)
                tasks.append(asyncio.create_task(self.watch(stop)))
                for at, kind, session in self.events():
                    await self.sleep_until(at)
                    if kind == 0:
                        self.depart(session)
                    else:
                        await self.arrive(client, session)
                stop.set()
                expired = await self.expired_commands(client) - expired_before
                billed = await self.billed(client)
                solves, plan_violations = await self.scheduler_counters(client)
            finally:
                stop.set()
                for station in self.stations.values():
                    station.stop()
                await asyncio.gather(*tasks, return_exceptions=True)
        return self.metrics(billed, solves, plan_violations, expired)

    async def billed(self, client: httpx.AsyncClient, within: float = 60.0) -> dict[str, int]:
        """Energy per session from billing, once each session has its stop reading (or `within`
        real seconds have passed: the sessions still missing then are left out)."""
        wanted = {tag: sid for sid, tag in self.id_tags.items() if sid in self.meter_wh}
        found: dict[str, int] = {}
        started = time.monotonic()
        while len(found) < len(wanted) and time.monotonic() - started < within:
            response = await client.get(f"{self.stack.url('billing')}/v1/sessions", params={"limit": 1000})
            response.raise_for_status()
            for row in response.json():
                if row["id_token"] in wanted and row["stopped_at"] and row["energy_wh"] is not None:
                    found[wanted[row["id_token"]]] = int(row["energy_wh"])
            await asyncio.sleep(0.5)
        return found

    def plan_profiles_installed(self) -> bool:
        return all(
            any(p.id == PLAN_PROFILE_BASE + evse_id for p in station.installed_profiles(evse_id))
            for station in self.stations.values()
            for evse_id in station.evses
        )

    async def expired_commands(self, client: httpx.AsyncClient) -> int:
        """Station commands the gateway let expire (chargeyard_gateway_command_outcomes_total)."""
        text = (await client.get(f"{self.stack.url('ocpp-gateway')}/metrics")).text
        return int(
            sum(
                float(m.group(1))
                for m in re.finditer(
                    r'^chargeyard_gateway_command_outcomes_total\{[^}]*outcome="Expired"[^}]*\} ([0-9.e+]+)$',
                    text,
                    re.MULTILINE,
                )
            )
        )

    async def scheduler_counters(self, client: httpx.AsyncClient) -> tuple[int, int]:
        text = (await client.get(f"{self.stack.url('scheduler')}/metrics")).text

        def value(name: str) -> int:
            match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
            return int(float(match.group(1))) if match else 0

        return value("chargeyard_plan_solve_seconds_count"), value("chargeyard_plan_violations_total")

    def metrics(self, billed: dict[str, int], solves: int, plan_violations: int, expired: int) -> dict[str, Any]:
        """chargeyard-sim's metrics, from what the services and the stations' meters recorded."""
        sessions = self.inputs.sessions
        missing = sorted(sid for sid in self.meter_wh if sid not in billed)
        # A session billing has not completed counts with the station's own register.
        energy = {sid: float(billed.get(sid, self.meter_wh.get(sid, 0.0))) for sid in (s.session_id for s in sessions)}
        requested = sum(s.energy_wh for s in sessions)
        delivered = sum(energy.values())
        met = sum(1 for s in sessions if s.energy_wh - energy[s.session_id] <= max(100, s.energy_wh * 0.01))
        load = self.load
        return {
            "sessions": len(sessions),
            "sessions_fully_met": met,
            "energy_requested_kwh": round(requested / 1000, 3),
            "energy_delivered_kwh": round(delivered / 1000, 3),
            "energy_delivered_pct": round(100 * delivered / requested, 2) if requested else 100.0,
            "energy_metered_kwh": round(sum(self.meter_wh.values()) / 1000, 3),
            "energy_sampled_kwh": round(load.energy_wh / 1000, 3),
            "peak_kw": round(load.peak_w / 1000, 3),
            "limit_kw": round(self.inputs.site.limit_w / 1000, 3),
            "limit_violations": dict(load.violations),
            "cost": f"{load.cost:.2f}" if self.inputs.prices else None,
            "green_share": round(load.green_wh / load.energy_wh, 4) if self.inputs.green and load.energy_wh else None,
            "solves": solves,
            "plan_violations": plan_violations,
            "commands_expired": expired,
            "samples": load.samples,
            "shift_s": int(self.shift.total_seconds()),
            "billing_missing": missing,
            "per_session_wh": {sid: round(wh) for sid, wh in energy.items()},
            "offered_below_6a_samples": load.offered_below_6a,
            "over": load.over[:10],
            "notes": load.notes[:10],
        }


def _parents_first(boards: tuple[Any, ...]) -> list[Any]:
    done: set[str | None] = {None}
    ordered: list[Any] = []
    left = list(boards)
    while left:
        ready = [b for b in left if b.parent_id in done]
        if not ready:
            raise ValueError("boards: a parent is missing or they form a loop")
        for b in ready:
            ordered.append(b)
            done.add(b.board_id)
            left.remove(b)
    return ordered


async def _wait_for_plan(client: httpx.AsyncClient, scheduler: str, within: float) -> None:
    started = time.monotonic()
    while (await client.get(f"{scheduler}/v1/plans/{SITE_ID}")).status_code != 200:
        if time.monotonic() - started > within:
            raise TimeoutError(f"the scheduler published no plan for {SITE_ID} within {within} s")
        await asyncio.sleep(0.2)


async def _wait_until(predicate: Any, within: float, what: str) -> None:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > within:
            raise TimeoutError(f"{what}: not within {within} s")
        await asyncio.sleep(0.05)


def stack_env(speed: float, strategy: str, slot_seconds: int) -> dict[str, str]:
    """Settings in clock seconds scaled so that they mean the same real time at any speed-up."""
    return {
        "SCHEDULER_STRATEGY": strategy,
        "SCHEDULER_SLOT_SECONDS": str(slot_seconds),
        # chargeyard-sim re-plans at every slot boundary: so does the service, at the least.
        "SCHEDULER_REPLAN_INTERVAL_S": str(slot_seconds),
        # One real second: decreases on other stations land before any increase. A quarter of a
        # second was less than a command's trip on a loaded machine: a board went 0.2 A over once.
        "ENERGY_INCREASE_DELAY_S": str(max(10.0, 1.0 * speed)),
        # A station has two real seconds to follow a lower limit before it counts as not obeying.
        "ENERGY_OBEY_GRACE_S": str(max(60.0, 2.0 * speed)),
        "RESERVATIONS_SWEEP_INTERVAL_S": str(max(30.0, 1.0 * speed)),
        # chargeyard-sim's cars always come, and nobody answers a conflict there: the platform's
        # no-show and conflict time-outs (15 minutes, 5 real seconds at 180x) must not end or cut a
        # session because a busy machine passed a transaction event on a few real seconds late.
        "RESERVATIONS_NO_SHOW_GRACE_S": str(int(max(900.0, 20.0 * speed))),
        "RESERVATIONS_DECISION_TIMEOUT_S": "86400",
    }


async def live_metrics(
    inputs: Inputs,
    strategy: str,
    *,
    run_dir: Path,
    speed: float = 60.0,
    slot_seconds: int = 900,
    postgres_dsn: str | None = None,
    tolerance: Tolerance | None = None,
) -> dict[str, Any]:
    """Start the stack on a simulated clock, play the day, stop everything; the live metrics."""
    tolerance = tolerance or Tolerance()
    first = min(s.arrival for s in inputs.sessions)
    lead = timedelta(seconds=900)
    clock_start = (first - lead).astimezone(UTC)
    stack = Stack(
        StackConfig(
            run_dir=run_dir,
            kafka_port=free_port(),
            port_offset=2000 + free_port() % 500,
            postgres_dsn=postgres_dsn,
            database_prefix=f"simday_{uuid.uuid4().hex[:8]}_",
            clock_start=clock_start.isoformat(),
            clock_speed=speed,
            extra_env=stack_env(speed, strategy, slot_seconds),
        )
    )
    clock = SimulatedClock(clock_start, speed, epoch_monotonic=stack.clock_epoch)
    try:
        await stack.start(wait=120)
        day = LiveDay(inputs, stack, clock, tolerance=tolerance, slot_seconds=slot_seconds)
        return await day.run()
    finally:
        stack.stop()
        await stack.drop_databases()


def compare(sim: Mapping[str, Any], live: Mapping[str, Any], tolerance: Tolerance) -> list[str]:
    """Every metric outside its tolerance, said in words."""
    problems = []
    if abs(live["energy_delivered_pct"] - sim["energy_delivered_pct"]) > tolerance.energy_pct:
        problems.append(
            f"energy delivered {live['energy_delivered_pct']} % live, {sim['energy_delivered_pct']} % in "
            f"chargeyard-sim (tolerance {tolerance.energy_pct} points)"
        )
    if abs(live["sessions_fully_met"] - sim["sessions_fully_met"]) > tolerance.sessions_met:
        problems.append(
            f"sessions fully met {live['sessions_fully_met']} live, {sim['sessions_fully_met']} in chargeyard-sim"
        )
    if live["peak_kw"] > live["limit_kw"] + tolerance.over_limit_w / 1000:
        problems.append(f"live peak {live['peak_kw']} kW over the limit {live['limit_kw']} kW")
    if live["peak_kw"] < sim["peak_kw"] * (1 - tolerance.peak_below_pct / 100):
        problems.append(
            f"live peak {live['peak_kw']} kW more than {tolerance.peak_below_pct} % below "
            f"chargeyard-sim's {sim['peak_kw']} kW"
        )
    for name, runs in (("live", live), ("chargeyard-sim", sim)):
        broken = {k: v for k, v in runs["limit_violations"].items() if v}
        if broken:
            problems.append(f"{name}: limit violations {broken}")
    if live.get("commands_expired"):
        problems.append(
            f"{live['commands_expired']} station command(s) expired in the gateway during the day: the machine "
            "did not keep up with the speed-up (try a lower --speed)"
        )
    if live.get("plan_violations"):
        problems.append(f"the plan checker found {live['plan_violations']} violation(s) in published plans")
    if sim.get("cost") is not None and live.get("cost") is not None:
        sim_cost, live_cost = float(sim["cost"]), float(live["cost"])
        if abs(live_cost - sim_cost) > tolerance.cost_pct / 100 * max(sim_cost, 0.01):
            problems.append(
                f"cost {live_cost:.2f} live, {sim_cost:.2f} in chargeyard-sim (tolerance {tolerance.cost_pct} %)"
            )
    if sim.get("green_share") is not None and live.get("green_share") is not None:
        if abs(live["green_share"] - sim["green_share"]) > tolerance.green_share:
            problems.append(
                f"green share {live['green_share']} live, {sim['green_share']} in chargeyard-sim "
                f"(tolerance {tolerance.green_share})"
            )
    return problems


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m chargeyard_devstack.simday",
        description="Play chargeyard-sim's inputs against the running services on a simulated clock and compare.",
    )
    p.add_argument("--sessions", type=Path, required=True, help="chargeyard-sim's sessions CSV")
    p.add_argument("--site", type=Path, required=True, help="chargeyard-sim's site JSON")
    p.add_argument("--strategy", choices=("fcfs", "economic", "green"), default="fcfs")
    p.add_argument("--prices", type=Path, help="CSV: start,price_per_kwh")
    p.add_argument("--green", type=Path, help="CSV: start,green_share")
    p.add_argument("--slot-minutes", type=int, default=15, help="plan slot length, 1..60 (default 15)")
    p.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second (default 60)")
    p.add_argument("--postgres", default=None, help="postgresql://user@host:port (default: SQLite files)")
    p.add_argument("--out", type=Path, required=True, help="run directory (logs, databases) and comparison.json")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from chargeyard_scheduler.sim.inputs import InputError

    if not 1 <= args.slot_minutes <= 60 or args.speed <= 0:
        print("simday: --slot-minutes must be within 1..60 and --speed > 0", file=sys.stderr)
        return 2
    try:
        inputs = read_inputs(args.sessions, args.site, args.prices, args.green)
    except InputError as exc:
        print(f"simday: {exc}", file=sys.stderr)
        return 2
    tolerance = Tolerance()
    slot = args.slot_minutes * 60
    sim = sim_metrics(inputs, args.strategy, slot)
    print(f"chargeyard-sim: {json.dumps(sim, separators=(',', ':'))}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    live = asyncio.run(
        live_metrics(
            inputs,
            args.strategy,
            run_dir=args.out.resolve(),
            speed=args.speed,
            slot_seconds=slot,
            postgres_dsn=args.postgres,
        )
    )
    print(f"services:       {json.dumps(live, separators=(',', ':'))}", flush=True)
    problems = compare(sim, live, tolerance)
    for problem in problems:
        print(f"outside the tolerance: {problem}")
    result = {"sim": sim, "live": live, "tolerance": asdict(tolerance), "problems": problems}
    (args.out / "comparison.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, separators=(",", ":")))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
