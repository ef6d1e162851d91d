"""Events the energy manager reacts to."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from chargeyard_contracts import (
    MeterValuesReported,
    ScheduleUpdated,
    StationCommandCompleted,
    StationRegistered,
)
from chargeyard_contracts.base import PhaseRotation
from chargeyard_contracts.commands import CommandOutcome
from chargeyard_contracts.energy import BuildingLoadReported, CapacityProfileRequested, CountedReason
from chargeyard_platform.bus import Context, Handler
from sqlalchemy.ext.asyncio import AsyncSession

from . import metrics
from .adapters.orm import building_readings, evse_state, operator_commands, sent_failsafe, sites, stations
from .adapters.profiles import mark_unconfirmed, sent_steps
from .adapters.topology import place_station, site_of_station, topology_of, upsert_site
from .config import Settings
from .control import apply_limits
from .domain.groups import Interval
from .domain.profiles import Evse
from .groups import ProfileRefused, audit, party_for_key, set_profile

REFUSED = frozenset({CommandOutcome.REJECTED, CommandOutcome.NOT_SUPPORTED, CommandOutcome.FAILED})
"""A profile the station will not hold: it is counted at its maximum draw."""


async def store_building_reading(session: AsyncSession, event: BuildingLoadReported) -> bool:
    """Keep the newest reading per site; False when an older one arrived late."""
    current = (
        await session.execute(
            sa.select(building_readings.c.measured_at).where(building_readings.c.site_id == event.site_id)
        )
    ).scalar()
    values = dict(
        total_w=event.total_w, phase_a=list(event.phase_a) if event.phase_a else None, measured_at=event.measured_at
    )
    if current is None:
        await session.execute(building_readings.insert().values(site_id=event.site_id, **values))
    elif current < event.measured_at:
        await session.execute(
            building_readings.update().where(building_readings.c.site_id == event.site_id).values(**values)
        )
    else:
        return False
    return True


async def set_counted(
    session: AsyncSession, station_id: str, evse_id: int, *, reason: str | None, counted_w: int | None, now: object
) -> None:
    key = (evse_state.c.station_id == station_id) & (evse_state.c.evse_id == evse_id)
    values = dict(counted_reason=reason, counted_w=counted_w, counted_since=now if reason else None)
    if (await session.execute(evse_state.update().where(key).values(**values))).rowcount == 0:
        await session.execute(evse_state.insert().values(station_id=station_id, evse_id=evse_id, **values))


def make_handlers(settings: Settings) -> dict[type, Handler]:
    async def on_station_registered(event: StationRegistered, ctx: Context) -> None:
        """Dev profile: a station that registers is placed on the default site, so it gets planned.
        Every (re)registration re-sends the station's fail-safe maximum and plan profiles."""
        now = ctx.clock.now()
        site_id = await site_of_station(ctx.session, event.station_id)
        if site_id is None and settings.auto_place_stations:
            site_id = settings.default_site_id
            if (await ctx.session.execute(sa.select(sites.c.id).where(sites.c.id == site_id))).first() is None:
                await upsert_site(
                    ctx.session,
                    site_id=site_id,
                    name=site_id,
                    time_zone=settings.default_site_time_zone,
                    grid_limit_w=settings.default_site_limit_w,
                    voltage_v=230.0,
                    now=now,
                )
            evse_ids = [e.evse_id for e in event.evses] or [1]
            known_max = [e.max_power_w for e in event.evses if e.max_power_w]
            max_power = sum(known_max) if known_max else settings.default_station_max_power_w * len(evse_ids)
            rotation = event.capabilities.phase_rotation
            await place_station(
                ctx.session,
                site_id=site_id,
                station_id=event.station_id,
                max_power_w=max_power,
                phases=event.capabilities.phases,
                evse_ids=evse_ids,
                now=now,
                phase_rotation=rotation.value if rotation is not PhaseRotation.UNKNOWN else "Unknown",
            )
            topology = await topology_of(ctx.session, site_id, now)
            assert topology is not None  # the site was just ensured above
            await ctx.publish(topology)
        if site_id is not None:
            await apply_limits(ctx.session, ctx.publish, settings, site_id, now, resend=frozenset({event.station_id}))

    async def on_schedule_updated(event: ScheduleUpdated, ctx: Context) -> None:
        await apply_limits(ctx.session, ctx.publish, settings, event.site_id, ctx.clock.now(), plan=event)

    async def on_meter_values(event: MeterValuesReported, ctx: Context) -> None:
        """Remember each EVSE's draw (phases included) and count an EVSE that draws more than its
        limit allowed at any moment of the grace period (it ignores or lags its profile)."""
        if event.evse_id == 0:
            return
        site_id = await site_of_station(ctx.session, event.station_id)
        if site_id is None:
            return
        now = ctx.clock.now()
        key = (evse_state.c.station_id == event.station_id) & (evse_state.c.evse_id == event.evse_id)
        state = (await ctx.session.execute(sa.select(evse_state).where(key))).first()
        if state is not None and state.measured_at is not None and state.measured_at > event.station_timestamp:
            return  # an older sample arriving late
        phase_a = None
        if event.phases:
            by_phase = {r.phase: r for r in event.phases}
            phase_a = [
                float(
                    (by_phase[p].current_a if by_phase[p].current_a is not None else (by_phase[p].power_w or 0) / 230.0)
                    if p in by_phase
                    else 0.0
                )
                for p in ("L1", "L2", "L3")
            ]
        values = dict(
            power_w=event.power_w, phase_a=phase_a, energy_wh=event.energy_wh, measured_at=event.station_timestamp
        )
        if state is None:
            await ctx.session.execute(
                evse_state.insert().values(station_id=event.station_id, evse_id=event.evse_id, **values)
            )
        else:
            await ctx.session.execute(evse_state.update().where(key).values(**values))
        if event.power_w is None:
            return
        site_power = sa.select(sa.func.coalesce(sa.func.sum(evse_state.c.power_w), 0)).where(
            evse_state.c.station_id.in_(sa.select(stations.c.id).where(stations.c.site_id == site_id))
        )
        metrics.SITE_CHARGING_POWER_W.labels(site_id=site_id).set((await ctx.session.execute(site_power)).scalar() or 0)
        evse = Evse(event.station_id, event.evse_id)
        held = (await sent_steps(ctx.session, [evse])).get(evse)
        reason = state.counted_reason if state is not None else None
        phases_changed = (
            state is None
            or (state.phase_a is None) != (phase_a is None)
            or (
                phase_a is not None
                and state.phase_a is not None
                and [a >= 1.0 for a in phase_a] != [a >= 1.0 for a in state.phase_a]
            )
        )
        if held is None or reason == CountedReason.REJECTS:
            if phases_changed and event.power_w:
                await apply_limits(ctx.session, ctx.publish, settings, site_id, now)
            return
        t = event.station_timestamp
        grace = timedelta(seconds=settings.obey_grace_s)
        allowed = max([held.at(t), held.at(t - grace)] + [s.limit for s in held.steps if t - grace <= s.at <= t])
        tolerance = max(settings.obey_tolerance_w, 0.05 * allowed)
        exceeds = event.power_w > allowed + tolerance
        if exceeds and (reason is None or abs((state.counted_w or 0) - event.power_w) > settings.capacity_threshold_w):
            await set_counted(
                ctx.session,
                event.station_id,
                event.evse_id,
                reason=CountedReason.IGNORES.value,
                counted_w=event.power_w,
                now=now if reason is None else state.counted_since,
            )
        elif not exceeds and reason == CountedReason.IGNORES:
            await set_counted(ctx.session, event.station_id, event.evse_id, reason=None, counted_w=None, now=now)
        elif not phases_changed or not event.power_w:
            return
        await apply_limits(ctx.session, ctx.publish, settings, site_id, now, budget_changed=True)

    async def on_command_completed(event: StationCommandCompleted, ctx: Context) -> None:
        now = ctx.clock.now()
        await ctx.session.execute(
            operator_commands.update()
            .where(operator_commands.c.command_id == event.command_id)
            .values(outcome=event.outcome.value, detail=event.detail, completed_at=event.completed_at)
        )
        if event.command != "SetChargingProfile":
            return
        row = (await ctx.session.execute(sa.select(stations).where(stations.c.id == event.station_id))).first()
        if row is None:
            return
        if event.outcome in (CommandOutcome.EXPIRED, CommandOutcome.TIMED_OUT, CommandOutcome.OFFLINE):
            # It never reached the station: what it holds is unknown, so the next pass sends again.
            if event.command_id.startswith("fs:"):
                await ctx.session.execute(sent_failsafe.delete().where(sent_failsafe.c.station_id == event.station_id))
            else:
                evse_id = event.command_id.rsplit(":", 1)[-1]
                if evse_id.isdigit():
                    await mark_unconfirmed(ctx.session, Evse(event.station_id, int(evse_id)))
            if event.outcome is not CommandOutcome.OFFLINE:
                # Sent again now, not at the next plan: until then the station holds an older limit.
                # (An offline station gets its profiles again from the gateway when it reconnects.)
                await apply_limits(ctx.session, ctx.publish, settings, row.site_id, now, budget_changed=True)
            return
        states = {
            r.evse_id: r
            for r in (
                await ctx.session.execute(sa.select(evse_state).where(evse_state.c.station_id == event.station_id))
            ).all()
        }
        changed = False
        for evse_id in row.evse_ids:
            current = states[evse_id].counted_reason if evse_id in states else None
            if event.outcome in REFUSED and current != CountedReason.REJECTS:
                await set_counted(
                    ctx.session,
                    event.station_id,
                    evse_id,
                    reason=CountedReason.REJECTS.value,
                    counted_w=row.max_power_w // max(1, len(row.evse_ids)),
                    now=now,
                )
                changed = True
            elif event.outcome is CommandOutcome.ACCEPTED and current == CountedReason.REJECTS:
                await set_counted(ctx.session, event.station_id, evse_id, reason=None, counted_w=None, now=now)
                changed = True
        if changed:
            await apply_limits(ctx.session, ctx.publish, settings, row.site_id, now, budget_changed=True)

    async def on_building_load(event: BuildingLoadReported, ctx: Context) -> None:
        if await store_building_reading(ctx.session, event):
            await apply_limits(ctx.session, ctx.publish, settings, event.site_id, ctx.clock.now(), budget_changed=True)

    async def on_capacity_requested(event: CapacityProfileRequested, ctx: Context) -> None:
        """The Kafka twin of PUT /v1/groups/{id}/capacity-profile. A refused request is not an
        error of this service: it is kept in the audit log with the reason, for the party to read."""
        now = ctx.clock.now()
        intervals = [Interval(i.start, i.end, i.value) for i in event.intervals]
        detail = {
            "kind": event.kind.value,
            "unit": event.unit.value,
            "intervals": len(intervals),
            "first_start": intervals[0].start.isoformat(),
            "last_end": intervals[-1].end.isoformat(),
        }
        try:
            async with ctx.session.begin_nested():  # a refusal leaves nothing behind but its audit entry
                await set_profile(
                    ctx.session,
                    ctx.publish,
                    settings,
                    api_key=event.api_key,
                    group_id=event.group_id,
                    kind=event.kind.value,
                    unit=event.unit.value,
                    intervals=intervals,
                    now=now,
                )
        except ProfileRefused as exc:
            await audit(
                ctx.session,
                now=now,
                party_id=exc.extra.get("party_id"),
                group_id=event.group_id,
                channel="kafka",
                action="capacity-profile",
                accepted=False,
                detail=detail | {"status": exc.status, "reason": exc.detail},
            )
            return
        party = await party_for_key(ctx.session, event.api_key)
        await audit(
            ctx.session,
            now=now,
            party_id=party.id,
            group_id=event.group_id,
            channel="kafka",
            action="capacity-profile",
            accepted=True,
            detail=detail,
        )

    return {
        StationRegistered: on_station_registered,
        ScheduleUpdated: on_schedule_updated,
        MeterValuesReported: on_meter_values,
        StationCommandCompleted: on_command_completed,
        BuildingLoadReported: on_building_load,
        CapacityProfileRequested: on_capacity_requested,
    }
