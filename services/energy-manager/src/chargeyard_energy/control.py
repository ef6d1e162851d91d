"""The control loop of one site, used by event handlers, the API and the watchdog.

Whenever something changes what a site may draw (a plan, a building reading, a group's profile,
a station that stops obeying, the topology, time passing a meter's time-out), `apply_limits`:
1. scales every EVSE's plan-layer limits into the site's constraints (domain.capacity.clamp) and
   sends only the profiles that changed: a clamp only lowers limits, so it goes out at once,
   without waiting for the scheduler to re-plan (which takes seconds);
2. keeps every station's fail-safe maximum (ChargingStationMaxProfile on EVSE 0) in step, so the
   site's limits hold when Chargeyard or the network is down;
3. publishes the site's capacity for the scheduler (capacity.site) when it changed materially.
"""

from __future__ import annotations

import logging
import uuid
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from chargeyard_contracts import PROFILE_LAYERS, ScheduleUpdated, SetChargingProfile, StationCommandIssued
from chargeyard_contracts.base import ChargingRateUnit
from chargeyard_contracts.commands import SchedulePeriod
from chargeyard_contracts.energy import CountedEvse, CountedReason, SiteCapacityUpdated
from chargeyard_contracts.planning import CapacityInterval
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from . import metrics
from .adapters.orm import (
    building_readings,
    capacity_profiles,
    circuits,
    evse_state,
    group_evses,
    published_capacity,
    sent_failsafe,
    site_energy,
    sites,
    stations,
)
from .adapters.profiles import remember_sent, sent_steps, unconfirmed_evses
from .config import Settings
from .domain.capacity import (
    BuildingReading,
    Circuit,
    EvseSpec,
    GroupProfile,
    SiteLimits,
    SiteModel,
    StationSpec,
    building_load,
    circuit_paths,
    clamp,
    failsafe_currents,
    grid_constraint,
    need_a,
    planning_capacity,
    same_from,
)
from .domain.profiles import Evse, periods_from_steps, plan_profile_id, profiles_for_plan
from .domain.transitions import Step, StepFunction, safe_transition

log = logging.getLogger(__name__)

Publish = Callable[[BaseModel], Awaitable[object]]

COMMAND_TTL = timedelta(minutes=15)
"""Business time after which a profile command is stale. Commands to one station are delivered in
issue order, so a late one never overtakes a newer plan; 15 minutes also leaves a replay at 60x
speed (15 real seconds) room for a busy gateway."""
FAILSAFE_PROFILE_ID = 1
"""One station-maximum profile per station on EVSE 0: each new one replaces it in place."""
PLANNING_HORIZON = timedelta(hours=48)


@dataclass
class Site:
    site_id: str
    limits: SiteLimits
    model: SiteModel
    stations: list[StationSpec]
    counted: list[CountedEvse]


async def load_site(session: AsyncSession, site_id: str, now: datetime) -> Site | None:
    row = (await session.execute(sa.select(sites).where(sites.c.id == site_id))).first()
    if row is None:
        return None
    limits = SiteLimits(
        grid_limit_w=row.grid_limit_w,
        voltage_v=row.voltage_v,
        grid_limit_a=row.grid_limit_a,
        safety_margin_w=row.safety_margin_w,
        building_timeout_s=row.building_timeout_s,
        building_fallback_w=row.building_fallback_w,
    )
    circuit_rows = (await session.execute(sa.select(circuits).where(circuits.c.site_id == site_id))).all()
    site_circuits = tuple(Circuit(c.id, c.parent_id, c.limit_a, c.limit_w) for c in circuit_rows)
    paths = circuit_paths(site_circuits)
    placed = (
        await session.execute(sa.select(stations).where(stations.c.site_id == site_id).order_by(stations.c.id))
    ).all()
    station_ids = [s.id for s in placed]
    states = {
        (r.station_id, r.evse_id): r
        for r in (await session.execute(sa.select(evse_state).where(evse_state.c.station_id.in_(station_ids)))).all()
    }
    memberships: dict[Evse, set[str]] = {}
    for m in (await session.execute(sa.select(group_evses))).all():
        memberships.setdefault(Evse(m.station_id, m.evse_id), set()).add(m.group_id)

    specs: dict[Evse, EvseSpec] = {}
    station_specs: list[StationSpec] = []
    counted: list[CountedEvse] = []
    for s in placed:
        evse_ids = list(s.evse_ids)
        share = s.max_power_w // max(1, len(evse_ids))
        path = paths.get(s.circuit_id, ()) if s.circuit_id else ()
        station_counted = False
        for evse_id in evse_ids:
            evse = Evse(s.id, evse_id)
            state = states.get((s.id, evse_id))
            car_phases = None
            phase_a = None
            if state is not None and state.phase_a and state.power_w:
                phase_a = tuple(float(a) for a in state.phase_a)
                used = tuple(i for i, a in enumerate(phase_a) if a >= 1.0)
                car_phases = used or None
            counted_w = None
            if state is not None and state.counted_reason:
                counted_w = share if state.counted_reason == CountedReason.REJECTS else (state.counted_w or 0)
                station_counted = True  # its own maximum is not relied on either
                counted.append(
                    CountedEvse(
                        station_id=s.id,
                        evse_id=evse_id,
                        counted_w=counted_w,
                        reason=CountedReason(state.counted_reason),
                        since=state.counted_since,
                    )
                )
            specs[evse] = EvseSpec(
                evse=evse,
                max_w=share,
                station_phases=s.phases,
                rotation=s.phase_rotation,
                car_phases=car_phases,
                groups=frozenset(memberships.get(evse, ())),
                circuits=path,
                counted_w=counted_w,
                counted_phase_a=phase_a
                if counted_w is not None and state and state.counted_reason == "ignores"
                else None,
            )
        station_specs.append(
            StationSpec(
                station_id=s.id,
                max_w=s.max_power_w,
                phases=s.phases,
                rotation=s.phase_rotation,
                circuits=path,
                counted=station_counted,
            )
        )

    group_profiles = await _group_profiles(session, specs, limits.voltage_v)
    reading_row = (
        await session.execute(sa.select(building_readings).where(building_readings.c.site_id == site_id))
    ).first()
    reading = (
        None
        if reading_row is None
        else BuildingReading(
            measured_at=reading_row.measured_at,
            total_w=reading_row.total_w,
            phase_a=tuple(reading_row.phase_a) if reading_row.phase_a else None,  # type: ignore[arg-type]
        )
    )
    model = SiteModel(
        limits=limits, specs=specs, circuits=site_circuits, groups=tuple(group_profiles), building=reading
    )
    return Site(site_id, limits, model, station_specs, counted)


async def _group_profiles(session: AsyncSession, specs: dict[Evse, EvseSpec], voltage_v: float) -> list[GroupProfile]:
    """Each group's profile (W) for this site, with the site's share of it: a group spanning sites
    is split by the maximum power of its EVSEs on each site."""
    site_evses = set(specs)
    wanted = {g for s in specs.values() for g in s.groups}
    if not wanted:
        return []
    rows = (await session.execute(sa.select(capacity_profiles).where(capacity_profiles.c.group_id.in_(wanted)))).all()
    if not rows:
        return []
    members = (await session.execute(sa.select(group_evses).where(group_evses.c.group_id.in_(wanted)))).all()
    all_max = {
        (s.id, e): s.max_power_w // max(1, len(s.evse_ids))
        for s in (await session.execute(sa.select(stations))).all()
        for e in s.evse_ids
    }
    out = []
    for row in rows:
        mine = frozenset(
            Evse(m.station_id, m.evse_id)
            for m in members
            if m.group_id == row.group_id and Evse(m.station_id, m.evse_id) in site_evses
        )
        total = sum(all_max.get((m.station_id, m.evse_id), 0) for m in members if m.group_id == row.group_id)
        here = sum(specs[e].max_w for e in mine)
        share = here / total if total else 1.0
        intervals = tuple(
            (datetime.fromisoformat(a), datetime.fromisoformat(b), float(w)) for a, b, _value, w in row.intervals
        )
        out.append(GroupProfile(group_id=row.group_id, intervals=intervals, share=share, members=mine))
    return out


async def sites_of_group(session: AsyncSession, group_id: str) -> list[str]:
    rows = (
        await session.execute(
            sa.select(stations.c.site_id)
            .distinct()
            .join(group_evses, group_evses.c.station_id == stations.c.id)
            .where(group_evses.c.group_id == group_id)
        )
    ).all()
    return sorted(r.site_id for r in rows)


async def apply_limits(
    session: AsyncSession,
    publish: Publish,
    settings: Settings,
    site_id: str,
    now: datetime,
    *,
    plan: ScheduleUpdated | None = None,
    resend: frozenset[str] = frozenset(),
    budget_changed: bool = False,
) -> None:
    """`resend`: stations whose profiles go out even if unchanged (they just (re)connected).
    `budget_changed`: what the fail-safe maxima must hold changed (topology, building load,
    counted EVSEs): they are recomputed now, as with every new plan; otherwise every
    `failsafe_refresh_s`."""
    if session.bind.dialect.name == "postgresql":
        # Handlers, API calls and the watchdog may clamp one site at once: one at a time per site,
        # so what was sent (sent_profiles, sent_failsafe) is read and written by one of them.
        await session.execute(
            sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(f"site:{site_id}".encode()) & 0x7FFFFFFF}
        )
    site = await load_site(session, site_id, now)
    if site is None:
        return
    if site.limits.dynamic and not budget_changed:
        # The building meter falling silent (or coming back) changes the budget without an event.
        last = (
            await session.execute(sa.select(published_capacity.c.event).where(published_capacity.c.site_id == site_id))
        ).scalar()
        stale = building_load(site.limits, site.model.building, now).stale
        budget_changed = last is None or SiteCapacityUpdated.model_validate_json(last).building_stale != stale
    evses = list(site.model.specs)
    previous = await sent_steps(session, evses)
    unconfirmed = await unconfirmed_evses(session, evses)
    delay = timedelta(seconds=settings.increase_delay_s)
    if plan is not None:
        start = max(now, plan.horizon_start)
        wanted = {
            Evse(p.profile.station_id, p.profile.evse_id): StepFunction(p.steps, before=p.steps[0].limit)
            for p in profiles_for_plan(plan, evses, now, previous, delay)
        }
        await session.execute(
            site_energy.delete().where(site_energy.c.site_id == site_id).where(site_energy.c.kind == "plan")
        )
        await session.execute(
            site_energy.insert().values(site_id=site_id, kind="plan", event=plan.model_dump_json(), published_at=now)
        )
    else:
        start = now
        wanted = {e: previous[e] for e in evses if e in previous}
    clamped = clamp(wanted, site.model, now)
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "site %s: wanted %s clamped %s",
            site_id,
            {
                f"{e.station_id}/{e.evse_id}": [(s.at.isoformat(), s.limit) for s in fn.steps]
                for e, fn in wanted.items()
            },
            {f"{e.station_id}/{e.evse_id}": [(s.at.isoformat(), s.limit) for s in v] for e, v in clamped.items()},
        )
    purpose, stack_level = PROFILE_LAYERS["plan"]
    for evse, steps in clamped.items():
        if not steps:
            continue
        unchanged = same_from(steps, previous.get(evse), now)
        if unchanged and evse.station_id not in resend and evse not in unconfirmed:
            continue  # send only what changed
        profile = SetChargingProfile(
            station_id=evse.station_id,
            evse_id=evse.evse_id,
            profile_id=plan_profile_id(evse.evse_id),
            purpose=purpose,
            stack_level=stack_level,
            unit=ChargingRateUnit.WATTS,
            start=start,
            periods=periods_from_steps(start, steps),
        )
        command_id = (
            f"{plan.plan_id}:{evse.station_id}:{evse.evse_id}"
            if plan is not None
            else f"cl:{uuid.uuid4().hex[:8]}:{evse.station_id}:{evse.evse_id}"
        )
        await remember_sent(session, evse, steps, plan.plan_id if plan is not None else "clamp")
        await publish(
            StationCommandIssued(
                command_id=command_id[:64], station_id=evse.station_id, command=profile, expires_at=now + COMMAND_TTL
            )
        )
    holds = {e: StepFunction(s, before=s[0].limit if s else 0) for e, s in clamped.items()}
    # A new plan moves what the maxima must let through (they follow the plans' steps).
    if (
        plan is not None
        or budget_changed
        or resend
        or await _failsafe_due(session, site, now, settings.failsafe_refresh_s)
    ):
        await refresh_failsafe(session, publish, settings, site, holds, now, resend=resend)
    await publish_capacity(session, publish, settings, site, now)


async def _failsafe_due(session: AsyncSession, site: Site, now: datetime, every_s: float) -> bool:
    """Renewal as time passes: the maxima cover the plans' steps only up to a horizon."""
    ids = [s.station_id for s in site.stations if not s.counted]
    rows = (
        (await session.execute(sa.select(sent_failsafe.c.sent_at).where(sent_failsafe.c.station_id.in_(ids))))
        .scalars()
        .all()
    )
    return len(rows) < len(ids) or any((now - at).total_seconds() >= every_s for at in rows)


async def refresh_failsafe(
    session: AsyncSession,
    publish: Publish,
    settings: Settings,
    site: Site,
    holds: dict[Evse, StepFunction],
    now: datetime,
    *,
    resend: frozenset[str],
) -> None:
    """Station maxima (A per phase, in tenths as step values): what each station's plan needs at
    each step plus a share of what is left; on a site with a building meter only until the reading's time-out
    (a "lease"), then a share that is safe without any reading. Re-sent only when they change
    within half a lease, or when asked."""
    if not site.stations:
        return
    # What the plans need at each of their steps until well after the next renewal (the watchdog
    # renews every `failsafe_refresh_s`), so a car whose plan steps up is not held below it, nor at
    # a current between 0 and 6 A, until then. Beyond, the last value stands until renewed.
    horizon = now + timedelta(seconds=2 * settings.failsafe_refresh_s)
    times = {now} | {t for fn in holds.values() for t in fn.times() if now < t <= horizon}
    reading = site.model.building
    if site.limits.dynamic and reading is not None and site.limits.building_timeout_s is not None:
        lease_end = reading.measured_at + timedelta(seconds=site.limits.building_timeout_s + 1)
        if lease_end > now:
            times.add(lease_end)
    per_station: dict[str, list[Step]] = {s.station_id: [] for s in site.stations if not s.counted}
    for t in sorted(times):
        need = need_a(
            site.model.specs.values(),
            lambda e, t=t: float(holds[e].at(t)) if e in holds else 0.0,
            site.limits.voltage_v,
        )
        currents = failsafe_currents(
            site.stations, need, site.limits, building_load(site.limits, reading, t), site.model.circuits
        )
        for station_id, amps in currents.items():
            # Whole amperes, rounded down: the sum stays within the limits and a fail-safe is not
            # re-sent for every small move of a plan (each one is a command through the gateway).
            tenths = int(amps + 1e-9) * 10
            steps = per_station[station_id]
            if not steps or steps[-1].limit != tenths:
                steps.append(Step(t, tenths))
    sent = {
        r.station_id: StepFunction([Step(datetime.fromisoformat(a), v) for a, v in r.steps])
        for r in (
            await session.execute(sa.select(sent_failsafe).where(sent_failsafe.c.station_id.in_(list(per_station))))
        ).all()
    }
    delay = timedelta(seconds=settings.increase_delay_s)
    window = now + timedelta(seconds=(site.limits.building_timeout_s or 3600) / 2)
    purpose, stack_level = PROFILE_LAYERS["failsafe"]
    for station_id, steps in per_station.items():
        old = sent.get(station_id)
        # Increases wait like the plan layer's (domain.transitions); a station never sent a
        # maximum has none (unlimited), so its first one is a decrease and goes out as is.
        safe = safe_transition(StepFunction(steps, before=steps[0].limit), old, now, delay) if old else steps
        if old is not None and station_id not in resend:
            fn = StepFunction(safe, before=safe[0].limit)
            probe = {now, window} | {t for t in fn.times() + old.times() if now <= t <= window}
            if all(fn.at(t) == old.at(t) for t in probe) and safe[-1].limit == old.steps[-1].limit:
                continue
        log.debug(
            "fail-safe %s: %s -> %s",
            station_id,
            None if old is None else [(x.at.isoformat(), x.limit) for x in old.steps],
            [(x.at.isoformat(), x.limit) for x in safe],
        )
        periods = tuple(
            SchedulePeriod(start_offset_s=p.start_offset_s, limit=p.limit / 10) for p in periods_from_steps(now, safe)
        )
        profile = SetChargingProfile(
            station_id=station_id,
            evse_id=0,
            profile_id=FAILSAFE_PROFILE_ID,
            purpose=purpose,
            stack_level=stack_level,
            unit=ChargingRateUnit.AMPERES,
            start=now,
            periods=periods,
        )
        values = dict(steps=[[s.at.isoformat(), s.limit] for s in safe], sent_at=now)
        updated = await session.execute(
            sent_failsafe.update().where(sent_failsafe.c.station_id == station_id).values(**values)
        )
        if updated.rowcount == 0:
            await session.execute(sent_failsafe.insert().values(station_id=station_id, **values))
        await publish(
            StationCommandIssued(
                command_id=f"fs:{uuid.uuid4().hex[:12]}:{station_id}"[:64],
                station_id=station_id,
                command=profile,
                expires_at=now + COMMAND_TTL,
            )
        )


async def publish_capacity(
    session: AsyncSession, publish: Publish, settings: Settings, site: Site, now: datetime
) -> SiteCapacityUpdated:
    intervals, default = planning_capacity(site.model, now, now + PLANNING_HORIZON)
    building = building_load(site.limits, site.model.building, now)
    stale = building.stale
    metrics.SITE_CHARGING_LIMIT_W.labels(site_id=site.site_id).set(grid_constraint(site.limits, building).total_w or 0)
    event = SiteCapacityUpdated(
        site_id=site.site_id,
        default_limit_w=default,
        intervals=tuple(CapacityInterval(start=a, end=b, limit_w=w) for a, b, w in intervals),
        counted=tuple(site.counted),
        building_stale=stale,
        updated_at=now,
    )
    row = (
        await session.execute(sa.select(published_capacity.c.event).where(published_capacity.c.site_id == site.site_id))
    ).scalar()
    if row is not None:
        last = SiteCapacityUpdated.model_validate_json(row)
        if not _material(last, event, settings.capacity_threshold_w):
            return last
        await session.execute(
            published_capacity.update()
            .where(published_capacity.c.site_id == site.site_id)
            .values(event=event.model_dump_json(), published_at=now)
        )
    else:
        await session.execute(
            published_capacity.insert().values(site_id=site.site_id, event=event.model_dump_json(), published_at=now)
        )
    await publish(event)
    return event


def _material(old: SiteCapacityUpdated, new: SiteCapacityUpdated, threshold_w: int) -> bool:
    """Worth a re-plan: other EVSEs counted, the meter went stale or came back, other interval
    boundaries, or a value moved by more than the threshold."""
    if {(c.station_id, c.evse_id, c.reason) for c in old.counted} != {
        (c.station_id, c.evse_id, c.reason) for c in new.counted
    }:
        return True
    if any(
        abs(a.counted_w - b.counted_w) > threshold_w
        for a, b in zip(
            sorted(old.counted, key=lambda c: (c.station_id, c.evse_id)),
            sorted(new.counted, key=lambda c: (c.station_id, c.evse_id)),
            strict=True,
        )
    ):
        return True
    if old.building_stale != new.building_stale or abs(old.default_limit_w - new.default_limit_w) > threshold_w:
        return True
    old_cuts = [i.start for i in old.intervals[1:]]
    new_cuts = [i.start for i in new.intervals[1:]]
    if [t for t in old_cuts if t > new.updated_at] != new_cuts:
        return True
    old_fn = StepFunction([Step(i.start, i.limit_w) for i in old.intervals], before=old.default_limit_w)
    return any(
        abs(old_fn.at(i.start if k else new.updated_at) - i.limit_w) > threshold_w for k, i in enumerate(new.intervals)
    )
