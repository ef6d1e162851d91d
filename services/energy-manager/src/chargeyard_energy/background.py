"""Background tasks: the watchdog (silent building meters, fail-safe renewal) and the group
reports for traders (capacity.flexibility, capacity.allocation)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from chargeyard_contracts import ScheduleUpdated
from chargeyard_contracts.energy import (
    CapacityAllocationReported,
    CapacityFlexibilityReported,
    EvseAllocation,
    FlexibilityInterval,
)
from chargeyard_platform.runtime import Runtime
from sqlalchemy.ext.asyncio import AsyncSession

from .adapters.orm import (
    capacity_profiles,
    evse_state,
    group_evses,
    group_reports,
    groups,
    site_energy,
    sites,
    stations,
)
from .adapters.profiles import sent_steps
from .config import Settings
from .control import apply_limits
from .domain.groups import flexibility
from .domain.profiles import Evse

log = logging.getLogger(__name__)


async def watchdog(runtime: Runtime) -> None:
    """Every site is re-checked on a timer, not only on events: a building meter that falls silent
    sends no event, yet past its time-out the safe fallback must apply; and the fail-safe maxima,
    which follow the plan only for a meter time-out, are renewed before they fall back."""
    settings: Settings = runtime.settings  # type: ignore[assignment]
    while True:
        await runtime.clock.sleep(settings.watchdog_interval_s)
        try:
            async with runtime.db.transaction() as session:
                for site_id in (await session.execute(sa.select(sites.c.id))).scalars().all():
                    await apply_limits(
                        session, lambda e, s=session: runtime.outbox.add(s, e), settings, site_id, runtime.clock.now()
                    )
            runtime.wake_relay()
        except Exception:
            # Logged and retried on the next tick; a persistent failure shows in the log every tick.
            log.exception("watchdog pass failed; retrying")


async def reports(runtime: Runtime) -> None:
    settings: Settings = runtime.settings  # type: ignore[assignment]
    while True:
        await runtime.clock.sleep(settings.allocation_interval_s)
        try:
            await report_groups(runtime, settings.allocation_interval_s)
        except Exception:
            log.exception("group reports failed; retrying")


async def report_groups(runtime: Runtime, interval_s: float) -> None:
    now = runtime.clock.now()
    async with runtime.db.transaction() as session:
        for group_id in (await session.execute(sa.select(groups.c.id))).scalars().all():
            await _report_group(runtime, session, group_id, now, interval_s)
    runtime.wake_relay()


async def _report_group(
    runtime: Runtime, session: AsyncSession, group_id: str, now: datetime, interval_s: float
) -> None:
    members = frozenset(
        Evse(m.station_id, m.evse_id)
        for m in (await session.execute(sa.select(group_evses).where(group_evses.c.group_id == group_id))).all()
    )
    placed = (
        await session.execute(sa.select(stations).where(stations.c.id.in_(sorted({e.station_id for e in members}))))
    ).all()
    max_w = {Evse(s.id, e): s.max_power_w // max(1, len(s.evse_ids)) for s in placed for e in s.evse_ids}
    plan_rows = (
        (
            await session.execute(
                sa.select(site_energy.c.event)
                .where(site_energy.c.kind == "plan")
                .where(site_energy.c.site_id.in_(sorted({s.site_id for s in placed})))
            )
        )
        .scalars()
        .all()
    )
    plans = [ScheduleUpdated.model_validate_json(p) for p in plan_rows]
    limits = await sent_steps(session, members)
    profile = (
        await session.execute(sa.select(capacity_profiles).where(capacity_profiles.c.group_id == group_id))
    ).first()
    intervals = (
        []
        if profile is None
        else [(datetime.fromisoformat(a), datetime.fromisoformat(b), float(w)) for a, b, _v, w in profile.intervals]
    )

    def limit_at(t: datetime) -> float | None:
        return next((w for a, b, w in intervals if a <= t < b), None)

    flex = flexibility(plans, members, limits, max_w, limit_at, now)
    flex_event = CapacityFlexibilityReported(
        group_id=group_id,
        plan_ids=tuple(p.plan_id for p in plans),
        intervals=tuple(
            FlexibilityInterval(start=f.start, end=f.end, allocated_w=f.allocated_w, up_w=f.up_w, down_w=f.down_w)
            for f in flex
        ),
        reported_at=now,
    )
    await runtime.outbox.add(session, flex_event)

    last = (
        await session.execute(
            sa.select(group_reports)
            .where(group_reports.c.group_id == group_id)
            .where(group_reports.c.kind == "allocation")
        )
    ).first()
    start = last.reported_at if last is not None else now - timedelta(seconds=interval_s)
    registers = dict(last.energy or {}) if last is not None else {}
    states = {
        Evse(r.station_id, r.evse_id): r
        for r in (
            await session.execute(
                sa.select(evse_state).where(evse_state.c.station_id.in_(sorted({e.station_id for e in members})))
            )
        ).all()
    }
    hours = max(1e-9, (now - start).total_seconds() / 3600)
    entries = []
    energy_now: dict[str, int] = {}
    for evse in sorted(members):
        state = states.get(evse)
        key = f"{evse.station_id}/{evse.evse_id}"
        drawn = 0.0
        if state is not None:
            if state.energy_wh is not None:
                energy_now[key] = state.energy_wh
            if state.energy_wh is not None and key in registers and state.energy_wh >= registers[key]:
                drawn = (state.energy_wh - registers[key]) / hours
            else:
                drawn = float(state.power_w or 0)
        entries.append(
            EvseAllocation(
                station_id=evse.station_id,
                evse_id=evse.evse_id,
                allocated_w=limits[evse].at(now) if evse in limits else 0,
                drawn_w=int(drawn),
                counted=bool(state is not None and state.counted_reason),
            )
        )
    value = limit_at(now)
    allocation = CapacityAllocationReported(
        group_id=group_id,
        start=start,
        end=now,
        limit_w=None if value is None else int(value),
        evses=tuple(entries),
        reported_at=now,
    )
    await runtime.outbox.add(session, allocation)
    for kind, event, energy in (("flexibility", flex_event, None), ("allocation", allocation, energy_now)):
        await session.execute(
            group_reports.delete().where(group_reports.c.group_id == group_id).where(group_reports.c.kind == kind)
        )
        await session.execute(
            group_reports.insert().values(
                group_id=group_id, kind=kind, event=event.model_dump_json(), energy=energy, reported_at=now
            )
        )
