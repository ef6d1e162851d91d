"""The planner loop: solve each site marked dirty, store the plan, publish schedule.updated."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from chargeyard_contracts import (
    ConflictKind,
    EnergyPricesPublished,
    PlannedCharge,
    PlannedSlot,
    ReservationConflict,
    ScheduleUpdated,
)
from chargeyard_contracts.energy import GreenEnergyPublished, SiteCapacityUpdated
from chargeyard_contracts.planning import ReservationAlternative
from chargeyard_platform.runtime import Runtime
from prometheus_client import Counter, Histogram

from ..config import Settings
from ..domain.checker import check_plan
from ..domain.demand import Trip, needed_wh
from ..domain.planner import Board, Connector, Demand, Plan, PlanRequest, plan
from ..domain.promises import (
    Broken,
    BrokenPromise,
    Promise,
    alternatives,
    broken_promises,
    full_charge_finish,
    what_if_demands,
)
from ..handlers import UNAVAILABLE, mark_dirty
from .orm import connector_status, demands, dirty_sites, plans, site_capacity, site_energy, sites

log = logging.getLogger(__name__)

SOLVE_SECONDS = Histogram(
    "chargeyard_plan_solve_seconds", "Time to solve one site's plan", buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)
)

PLAN_VIOLATIONS = Counter(
    "chargeyard_plan_violations", "Limit, minimum-current, connector or stay violations found in published plans"
)
PLAN_GAP = Histogram(
    "chargeyard_plan_gap", "Relative gap of the published plan to its bound", buckets=(1e-4, 1e-3, 0.01, 0.05, 0.2, 1)
)


def report_violations(site_id: str, request: PlanRequest, result: Plan) -> None:
    """The independent checker on every plan before it goes out: log and count what it finds
    (the plan still goes out - the stations' own limits and the energy manager stay the last
    line - but an operator sees it at once)."""
    gap = result.gap if result.gap is not None else result.bound_gap
    log.info(
        "site %s plan %s/%s, solver status %r, gap %s", site_id, result.method, result.status, result.solver_status, gap
    )
    if gap is not None:
        PLAN_GAP.observe(gap)
    violations = check_plan(request, result)
    if violations:
        PLAN_VIOLATIONS.inc(len(violations))
        log.error("site %s: plan breaks %d rule(s): %s", site_id, len(violations), "; ".join(map(str, violations[:10])))


@dataclass
class _Pending:
    """A dirty site seen by the loop: its generation and when that generation was first seen."""

    generation: int
    first_seen: float
    changed_at: float


async def planner_loop(runtime: Runtime) -> None:
    """Model predictive control: each site is re-planned after relevant events and at least every
    `replan_interval_s` of clock time, each time from the energy actually delivered.

    Debounce: a dirty site is solved once its events have been quiet for `debounce_s` (real
    seconds), or at the latest `debounce_max_s` after the first of them, so a burst of events
    costs one solve, and a steady stream still gets one now and then."""
    settings: Settings = runtime.settings  # type: ignore[assignment]
    last_routine = runtime.clock.now()
    pending: dict[str, _Pending] = {}
    while True:
        await asyncio.sleep(max(0.02, min(settings.debounce_s, 0.25)))
        now = runtime.clock.now()
        if (now - last_routine).total_seconds() >= settings.replan_interval_s:
            last_routine = now
            async with runtime.db.transaction() as session:
                for (site_id,) in (await session.execute(sa.select(sites.c.id))).all():
                    await mark_dirty(session, site_id)
        async with runtime.db.sessions() as session:
            dirty = (await session.execute(sa.select(dirty_sites))).all()
        tick = time.monotonic()
        for site_id in set(pending) - {row.site_id for row in dirty}:
            del pending[site_id]
        for row in dirty:
            seen = pending.get(row.site_id)
            if seen is None:
                seen = pending[row.site_id] = _Pending(row.generation, tick, tick)
            elif seen.generation != row.generation:
                seen.generation, seen.changed_at = row.generation, tick
            quiet = tick - seen.changed_at >= settings.debounce_s
            overdue = tick - seen.first_seen >= settings.debounce_max_s
            if quiet or overdue:
                await replan_site(runtime, settings, row.site_id, row.generation)
                pending.pop(row.site_id, None)


def need_of(row: Any, settings: Settings) -> int:
    """Total energy the reservation needs (delivered energy included), from the demand model."""
    trip = Trip(
        energy_wh=row.energy_wh,
        distance_km=row.distance_km if row.consumption_wh_per_100km else None,
        consumption_wh_per_100km=row.consumption_wh_per_100km,
        outside_temperature_c=row.outside_temperature_c,
        soc_percent=row.soc_percent,
        battery_capacity_wh=row.battery_capacity_wh,
        full_soc_percent=row.full_soc_percent,
        ev_requested_wh=row.ev_requested_wh,
    )
    needed = needed_wh(trip, margin=settings.demand_margin, reserve_soc=settings.reserve_soc)
    if row.soc_percent is not None and row.battery_capacity_wh:
        # The battery's state already holds what came before the reading.
        total = (row.soc_delivered_wh or 0) + needed
        if trip.distance_km is None:
            # An energy asked for is the whole session's: a reading only caps it at what fits.
            return min(row.energy_wh, total)
        return total
    return needed


async def replan_site(runtime: Runtime, settings: Settings, site_id: str, generation: int) -> None:
    now = runtime.clock.now()
    async with runtime.db.sessions() as session:
        site = (await session.execute(sa.select(sites).where(sites.c.id == site_id))).first()
        wanted = (
            await session.execute(
                sa.select(demands)
                .where(demands.c.site_id == site_id)
                .where(demands.c.active.is_(True))
                .where(demands.c.departure > now)
            )
        ).all()
        down = {
            (r.station_id, r.evse_id)
            for r in (
                await session.execute(sa.select(connector_status).where(connector_status.c.status.in_(UNAVAILABLE)))
            ).all()
        }
        capacity_json = (
            await session.execute(sa.select(site_capacity.c.event).where(site_capacity.c.site_id == site_id))
        ).scalar()
        energy = {
            r.kind: r.event
            for r in (await session.execute(sa.select(site_energy).where(site_energy.c.site_id == site_id))).all()
        }
    capacity = SiteCapacityUpdated.model_validate_json(capacity_json) if capacity_json else None
    if capacity is not None:
        # EVSEs that do not obey are already counted in the capacity at their draw: not planned.
        down |= {(c.station_id, c.evse_id) for c in capacity.counted}
    if site is None:
        # Reservations for a site the energy manager has not described yet: wait for its topology.
        log.info("site %s has no topology yet; plan deferred", site_id)
        await _clear(runtime, site_id, generation)
        return
    prices, green = energy_series(energy)
    needs = {d.reservation_id: need_of(d, settings) for d in wanted}
    connectors = [c for c in connectors_of(site.stations) if (c.station_id, c.evse_id) not in down]
    plan_demands = [
        Demand(
            reservation_id=d.reservation_id,
            arrival=d.arrival,
            departure=d.departure,
            energy_wh=max(0, needs[d.reservation_id] - d.delivered_wh),
            max_power_w=d.max_power_w,
            phases=d.phases,
            priority=d.priority,
            created_at=d.created_at,
            station_id=d.station_id,
        )
        for d in wanted
    ]
    request = PlanRequest(
        now=now,
        site_limit_w=slot_limits(site.grid_limit_w, capacity, now, settings.slot_seconds),
        strategy=settings.strategy,  # type: ignore[arg-type]
        slot_seconds=settings.slot_seconds,
        prices=prices,
        green_share=green,
        voltage_v=site.voltage_v,
        time_limit_s=settings.solver_time_limit_s,
        connectors=connectors,
        boards=boards_of(site.circuits, site.voltage_v),
        demands=plan_demands,
        existing_assignment={
            d.reservation_id: (d.assigned_station_id, d.assigned_evse_id)
            for d in wanted
            if d.assigned_station_id is not None
        },
    )
    with SOLVE_SECONDS.time():
        result = await asyncio.to_thread(plan, request)
    report_violations(site_id, request, result)
    promises = [
        Promise(d.reservation_id, d.arrival, d.departure, needs[d.reservation_id], d.delivered_wh, d.max_power_w)
        for d in wanted
    ]
    broken = broken_promises(promises, result)
    short = [b.reservation_id for b in broken if b.kind is Broken.SHORT]
    what_if = None
    if short:
        # "Full charge, later": the same site with these departures moved out, solved for real.
        extension = timedelta(seconds=settings.conflict_extension_s)
        later_request = replace(request, demands=what_if_demands(plan_demands, short, extension))
        what_if = await asyncio.to_thread(plan, later_request)
    schedule = to_schedule(
        site_id,
        site.time_zone,
        site.grid_limit_w,
        settings,
        now,
        result,
        {d.reservation_id: d.energy_wh for d in wanted},
    )
    conflicts = conflict_events(
        runtime.state.setdefault("conflicts", {}),
        site_id,
        schedule.plan_id,
        now,
        broken,
        {p.reservation_id: p for p in promises},
        {d.reservation_id: d for d in wanted},
        result,
        what_if,
        {d.reservation_id: d for d in plan_demands},
        connectors,
    )
    async with runtime.db.transaction() as session:
        for charge in result.charges:
            await session.execute(
                demands.update()
                .where(demands.c.reservation_id == charge.reservation_id)
                .values(assigned_station_id=charge.station_id, assigned_evse_id=charge.evse_id)
            )
        existing = await session.execute(
            plans.update()
            .where(plans.c.site_id == site_id)
            .values(plan_id=schedule.plan_id, schedule=schedule.model_dump_json(), created_at=now)
        )
        if existing.rowcount == 0:
            await session.execute(
                plans.insert().values(
                    site_id=site_id, plan_id=schedule.plan_id, schedule=schedule.model_dump_json(), created_at=now
                )
            )
        await runtime.outbox.add(session, schedule)
        for conflict in conflicts:
            await runtime.outbox.add(session, conflict, correlation_id=conflict.reservation_id)
        await session.execute(
            dirty_sites.delete().where(dirty_sites.c.site_id == site_id).where(dirty_sites.c.generation == generation)
        )
    runtime.wake_relay()
    log.info(
        "site %s planned: %d charges, %d conflicts, %s in %d ms (%s)",
        site_id,
        len(schedule.charges),
        len(conflicts),
        result.status,
        result.solve_ms,
        result.solver,
    )


def energy_series(
    energy: dict[str, str],
) -> tuple[dict[datetime, float] | None, dict[datetime, float] | None]:
    """Prices and green shares as step functions (interval start -> value) for the planner."""
    prices = green = None
    if "prices" in energy:
        published = EnergyPricesPublished.model_validate_json(energy["prices"])
        prices = {i.start: float(i.price_per_kwh) for i in published.intervals}
        shares = {i.start: i.renewable_share for i in published.intervals if i.renewable_share is not None}
        green = dict(shares) or None
    if "green" in energy:
        forecast = GreenEnergyPublished.model_validate_json(energy["green"])
        shares = {i.start: i.renewable_share for i in forecast.intervals if i.renewable_share is not None}
        green = dict(shares) or green
    return prices, green


async def _clear(runtime: Runtime, site_id: str, generation: int) -> None:
    async with runtime.db.transaction() as session:
        await session.execute(
            dirty_sites.delete().where(dirty_sites.c.site_id == site_id).where(dirty_sites.c.generation == generation)
        )


def connectors_of(stations: list[dict[str, object]]) -> list[Connector]:
    """Each EVSE of a station gets an equal share of the station's maximum power, on the circuit
    the station hangs from, with the phase rotation of its wiring."""
    found = []
    for station in stations:
        evse_ids = list(station["evse_ids"])  # type: ignore[call-overload]
        share = int(station["max_power_w"]) // max(1, len(evse_ids))  # type: ignore[call-overload]
        found.extend(
            Connector(
                station_id=str(station["station_id"]),
                evse_id=int(e),
                max_power_w=share,
                phases=int(station["phases"]),  # type: ignore[call-overload]
                board_id=str(station["circuit_id"]) if station.get("circuit_id") else None,
                phase_rotation=str(station.get("phase_rotation") or "RST"),
            )
            for e in evse_ids
        )
    return found


UNLIMITED_A = 1e6
"""A circuit the topology gives no limit: it constrains nothing of its own."""


def boards_of(circuits: list[dict[str, object]] | None, voltage_v: float) -> list[Board]:
    """The topology's boards and circuits as the planner's per-phase current limits: a limit in W
    is spread over three phases. A circuit with neither limit only passes its parent's on."""
    found = []
    for circuit in circuits or []:
        limit_a = circuit.get("limit_a")
        limit_w = circuit.get("limit_w")
        per_phase = [float(limit_a)] if limit_a is not None else []  # type: ignore[arg-type]
        if limit_w is not None:
            per_phase.append(float(limit_w) / (3 * voltage_v))  # type: ignore[arg-type]
        found.append(
            Board(
                board_id=str(circuit["circuit_id"]),
                max_current_a=min(per_phase) if per_phase else UNLIMITED_A,
                parent_id=str(circuit["parent_id"]) if circuit.get("parent_id") else None,
            )
        )
    return found


def to_schedule(
    site_id: str,
    time_zone: str,
    limit_w: int,
    settings: Settings,
    now: datetime,
    result: Plan,
    requested: dict[str, int],
) -> ScheduleUpdated:
    step = timedelta(seconds=result.slot_seconds)
    charges = []
    for charge in result.charges:
        if charge.station_id is None or charge.evse_id is None:
            continue  # no connector for this car: a later issue offers it a change or the waiting list
        charges.append(
            PlannedCharge(
                reservation_id=charge.reservation_id,
                station_id=charge.station_id,
                evse_id=charge.evse_id,
                planned_start=charge.planned_start,
                planned_finish=charge.planned_finish,
                energy_wh=charge.energy_wh,
                requested_wh=requested.get(charge.reservation_id, charge.requested_wh),
                slots=tuple(
                    PlannedSlot(start=start, end=start + step, power_w=power)
                    for start, power in zip(result.slots, charge.power_w, strict=True)
                    if power > 0
                ),
            )
        )
    return ScheduleUpdated(
        site_id=site_id,
        plan_id=str(uuid.uuid4()),
        time_zone=time_zone,
        horizon_start=now,
        horizon_end=result.horizon_end or now,
        slot_seconds=result.slot_seconds,
        site_limit_w=limit_w,
        strategy=settings.strategy,
        charges=tuple(charges),
        solver_status=result.status,
        solve_ms=result.solve_ms,
    )


def conflict_events(
    published: dict[str, tuple[object, ...]],
    site_id: str,
    plan_id: str,
    now: datetime,
    broken: Sequence[BrokenPromise],
    promises: dict[str, Promise],
    rows: dict[str, Any],
    result: Plan,
    what_if: Plan | None,
    planned: dict[str, Demand],
    connectors: Sequence[Connector],
) -> list[ReservationConflict]:
    """reservation.conflict for each promise this plan breaks, with both options computed.
    `published` remembers what was already said per reservation, so a routine re-plan repeats
    nothing; `requested_wh` and `departure` are the reservation's terms, which the reservation API
    compares with its own to drop conflicts computed against terms that have changed since."""
    found = []
    broken_ids = {b.reservation_id for b in broken}
    for rid in list(published):
        if rid not in broken_ids:
            del published[rid]  # kept again: a later break is news
    for b in broken:
        row, promise = rows[b.reservation_id], promises[b.reservation_id]
        kind = ConflictKind.SHORT if b.kind is Broken.SHORT else ConflictKind.NO_CONNECTOR
        said = (kind, row.departure, row.energy_wh, b.deliverable_wh // 1000)
        if published.get(b.reservation_id) == said:
            continue
        published[b.reservation_id] = said
        offers = alternatives(promise, result, planned, connectors) if kind is ConflictKind.NO_CONNECTOR else []
        found.append(
            ReservationConflict(
                reservation_id=b.reservation_id,
                site_id=site_id,
                plan_id=plan_id,
                kind=kind,
                departure=row.departure,
                requested_wh=row.energy_wh,
                deliverable_wh=max(0, b.deliverable_wh),
                full_charge_finish=full_charge_finish(b, what_if, promise, now),
                detected_at=now,
                alternatives=tuple(
                    ReservationAlternative(
                        arrival=a.arrival,
                        departure=a.departure,
                        energy_wh=a.energy_wh,
                        station_id=a.station_id,
                        evse_id=a.evse_id,
                        note=a.note,
                    )
                    for a in offers
                ),
            )
        )
    return found


def slot_limits(
    grid_limit_w: int, capacity: SiteCapacityUpdated | None, now: datetime, slot_seconds: int, slots: int = 192
) -> list[int]:
    """The site limit per plan slot: the lowest capacity the energy manager gives for any moment
    of the slot (its intervals need not align with slots), never above the grid connection."""
    if capacity is None:
        return [grid_limit_w]
    out = []
    for t in range(slots):
        start = now + timedelta(seconds=t * slot_seconds)
        end = start + timedelta(seconds=slot_seconds)
        values = [i.limit_w for i in capacity.intervals if i.start < end and i.end > start]
        last_end = max((i.end for i in capacity.intervals), default=capacity.updated_at)
        if end > last_end or not values:
            values.append(capacity.default_limit_w)
        out.append(min(grid_limit_w, *values))
    return out
