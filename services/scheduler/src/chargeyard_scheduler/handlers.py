"""Events the scheduler mirrors. Each change marks its site for re-planning; the planner loop
solves once for a burst of events instead of once per event."""

from __future__ import annotations

import sqlalchemy as sa
from chargeyard_contracts import (
    ConflictChoice,
    EnergyPricesPublished,
    MeterValuesReported,
    ReservationCancelled,
    ReservationCreated,
    ReservationDecided,
    ReservationStatus,
    ReservationUpdated,
    StationStatusChanged,
    TopologyUpdated,
)
from chargeyard_contracts.energy import GreenEnergyPublished, PriorityRequested, SiteCapacityUpdated
from chargeyard_contracts.stations import EvChargingNeedsReported, ReadingContext
from chargeyard_platform.bus import Context, Handler
from sqlalchemy.ext.asyncio import AsyncSession

from .adapters.orm import connector_status, demands, dirty_sites, site_capacity, site_energy, sites

UNAVAILABLE = frozenset({"Faulted", "Unavailable", "Offline"})
FINISHED = frozenset(
    {ReservationStatus.COMPLETED, ReservationStatus.CANCELLED, ReservationStatus.NO_SHOW, ReservationStatus.REJECTED}
)
AT_CONNECTOR = frozenset({ReservationStatus.ARRIVED, ReservationStatus.CHARGING})
"""The car is at a connector (scanned, identified or plugged in): the plan cannot move it."""
TRIP_FIELDS = ("distance_km", "consumption_wh_per_100km", "outside_temperature_c", "soc_percent", "battery_capacity_wh")
PLANNED_TERMS = ("arrival", "departure", "energy_wh", "max_power_w", "phases", "priority", "station_id", *TRIP_FIELDS)
"""What the planner reads of a reservation; a change of anything else (the plan echoed back by
reservation.updated) must not trigger a re-plan, or plan and echo would chase each other."""


async def mark_dirty(session: AsyncSession, site_id: str) -> None:
    updated = await session.execute(
        dirty_sites.update().where(dirty_sites.c.site_id == site_id).values(generation=dirty_sites.c.generation + 1)
    )
    if updated.rowcount == 0:
        await session.execute(dirty_sites.insert().values(site_id=site_id, generation=1))


async def on_reservation_created(event: ReservationCreated, ctx: Context) -> None:
    """reservation.created and reservation.updated are different topics, read in no guaranteed
    order: when an update came first, its newer terms (or its end) stand, and only the first-come
    time is taken from here."""
    known = (
        await ctx.session.execute(
            sa.select(demands.c.created_at).where(demands.c.reservation_id == event.reservation_id)
        )
    ).first()
    if known is not None:
        if event.created_at < known.created_at:
            await ctx.session.execute(
                demands.update()
                .where(demands.c.reservation_id == event.reservation_id)
                .values(created_at=event.created_at)
            )
            await mark_dirty(ctx.session, event.site_id)
        return
    await ctx.session.execute(
        demands.insert().values(
            reservation_id=event.reservation_id,
            site_id=event.site_id,
            arrival=event.arrival,
            departure=event.departure,
            energy_wh=event.energy_wh,
            delivered_wh=0,
            max_power_w=event.max_power_w,
            phases=event.phases,
            priority=event.priority,
            station_id=event.station_id,
            created_at=event.created_at,
            active=True,
            **{name: getattr(event, name) for name in TRIP_FIELDS},
        )
    )
    await mark_dirty(ctx.session, event.site_id)


async def on_reservation_updated(event: ReservationUpdated, ctx: Context) -> None:
    """New terms, a state of charge from the app, or the end of the reservation. Trip values the
    event leaves out keep what is known (a state of charge the car reported stays)."""
    row = (
        await ctx.session.execute(sa.select(demands).where(demands.c.reservation_id == event.reservation_id))
    ).first()
    terms = dict(
        arrival=event.arrival,
        departure=event.departure,
        energy_wh=event.energy_wh,
        max_power_w=event.max_power_w,
        phases=event.phases,
        priority=event.priority,
        station_id=event.station_id,
        **{name: getattr(event, name) for name in TRIP_FIELDS if getattr(event, name) is not None},
    )
    if event.status in AT_CONNECTOR and event.assigned_station_id is not None:
        # Where the car is, not where the last plan put it: its station is pinned and its EVSE kept.
        terms.update(
            station_id=event.assigned_station_id,
            assigned_station_id=event.assigned_station_id,
            assigned_evse_id=event.assigned_evse_id,
        )
    active = event.status not in FINISHED
    if row is None:
        # Made while the scheduler was not listening, an ad-hoc session, or an update that overtook
        # its reservation.created: plan it from here. An ended one is kept, inactive, so that a late
        # reservation.created does not bring it back.
        await ctx.session.execute(
            demands.insert().values(
                reservation_id=event.reservation_id,
                site_id=event.site_id,
                delivered_wh=event.delivered_wh or 0,
                created_at=event.updated_at,
                active=active,
                **terms,
            )
        )
        if active:
            await mark_dirty(ctx.session, event.site_id)
        return
    changed = {k: v for k, v in terms.items() if getattr(row, k) != v}
    if "soc_percent" in changed:
        changed["soc_delivered_wh"] = event.delivered_wh if event.delivered_wh is not None else row.delivered_wh
    if row.active != active:
        changed["active"] = active
    if not changed:
        return
    await ctx.session.execute(
        demands.update().where(demands.c.reservation_id == event.reservation_id).values(**changed)
    )
    await mark_dirty(ctx.session, event.site_id)


async def on_reservation_decided(event: ReservationDecided, ctx: Context) -> None:
    """The driver's answer to a conflict (or the default on time-out): its terms apply from now on.
    "Less charge, on time" is an energy the driver accepted, so the trip no longer decides it."""
    values: dict[str, object] = dict(departure=event.departure, energy_wh=event.energy_wh)
    if event.choice is ConflictChoice.LESS_CHARGE_ON_TIME:
        values["distance_km"] = None
    updated = await ctx.session.execute(
        demands.update().where(demands.c.reservation_id == event.reservation_id).values(**values)
    )
    if updated.rowcount:
        await mark_dirty(ctx.session, event.site_id)


async def on_ev_charging_needs(event: EvChargingNeedsReported, ctx: Context) -> None:
    """OCPP 2.0.1 K15 NotifyEVChargingNeeds (ISO 15118): the car's own state of charge, battery
    capacity and energy request refine the demand of the reservation charging on that EVSE."""
    row = (
        await ctx.session.execute(
            sa.select(demands.c.reservation_id, demands.c.site_id, demands.c.delivered_wh)
            .where(demands.c.active.is_(True))
            .where(demands.c.assigned_station_id == event.station_id)
            .where(demands.c.assigned_evse_id == event.evse_id)
            .where(demands.c.arrival <= event.received_at)
            .order_by(demands.c.arrival.desc())
        )
    ).first()
    if row is None:
        return
    values = dict(
        soc_percent=event.soc_percent,
        battery_capacity_wh=event.battery_capacity_wh,
        full_soc_percent=event.full_soc_percent,
        ev_requested_wh=event.energy_wh,
    )
    await ctx.session.execute(
        demands.update()
        .where(demands.c.reservation_id == row.reservation_id)
        .values(soc_delivered_wh=row.delivered_wh, **{k: v for k, v in values.items() if v is not None})
    )
    await mark_dirty(ctx.session, row.site_id)


async def on_reservation_cancelled(event: ReservationCancelled, ctx: Context) -> None:
    await ctx.session.execute(
        demands.update().where(demands.c.reservation_id == event.reservation_id).values(active=False)
    )
    await mark_dirty(ctx.session, event.site_id)


async def on_topology_updated(event: TopologyUpdated, ctx: Context) -> None:
    values = dict(
        time_zone=event.time_zone,
        grid_limit_w=event.grid_limit_w,
        voltage_v=event.voltage_v,
        stations=[s.model_dump(mode="json") for s in event.stations],
        circuits=[c.model_dump(mode="json") for c in event.circuits],
        updated_at=event.updated_at,
    )
    current = (await ctx.session.execute(sa.select(sites.c.updated_at).where(sites.c.id == event.site_id))).first()
    if current is None:
        await ctx.session.execute(sites.insert().values(id=event.site_id, **values))
    elif current.updated_at <= event.updated_at:  # an older topology arriving late changes nothing
        await ctx.session.execute(sites.update().where(sites.c.id == event.site_id).values(**values))
    else:
        return
    await mark_dirty(ctx.session, event.site_id)


async def on_station_status(event: StationStatusChanged, ctx: Context) -> None:
    key = (connector_status.c.station_id == event.station_id) & (connector_status.c.evse_id == event.evse_id)
    previous = (await ctx.session.execute(sa.select(connector_status.c.status).where(key))).scalar()
    values = dict(status=event.status.value, updated_at=event.received_at)
    if previous is None:
        await ctx.session.execute(
            connector_status.insert().values(station_id=event.station_id, evse_id=event.evse_id, **values)
        )
    else:
        await ctx.session.execute(connector_status.update().where(key).values(**values))
    if (previous in UNAVAILABLE) != (event.status.value in UNAVAILABLE):
        for (site_id,) in (await ctx.session.execute(sa.select(sites.c.id))).all():
            await mark_dirty(ctx.session, site_id)


async def on_meter_values(event: MeterValuesReported, ctx: Context) -> None:
    """Energy delivered so far to the reservation on this EVSE, from consecutive register readings."""
    if event.energy_wh is None or event.energy_context is not ReadingContext.REGISTER:
        return
    row = (
        await ctx.session.execute(
            sa.select(demands.c.reservation_id, demands.c.delivered_wh, demands.c.last_register_wh)
            .where(demands.c.active.is_(True))
            .where(demands.c.assigned_station_id == event.station_id)
            .where(demands.c.assigned_evse_id == event.evse_id)
            .where(demands.c.arrival <= event.station_timestamp)
            .order_by(demands.c.arrival)
        )
    ).first()
    if row is None:
        return
    delivered = row.delivered_wh
    if row.last_register_wh is not None and event.energy_wh > row.last_register_wh:
        delivered += event.energy_wh - row.last_register_wh
    values: dict[str, object] = dict(delivered_wh=delivered, last_register_wh=event.energy_wh)
    if event.soc_percent is not None:  # the SoC measurand: what the battery lacks counts from here
        values.update(soc_percent=event.soc_percent, soc_delivered_wh=delivered)
    await ctx.session.execute(demands.update().where(demands.c.reservation_id == row.reservation_id).values(**values))


async def on_site_capacity(event: SiteCapacityUpdated, ctx: Context) -> None:
    """The energy manager's capacity for the site (per interval, non-obeying EVSEs counted)."""
    current = (
        await ctx.session.execute(sa.select(site_capacity.c.updated_at).where(site_capacity.c.site_id == event.site_id))
    ).scalar()
    if current is not None and current > event.updated_at:
        return  # an older capacity arriving late
    values = dict(event=event.model_dump_json(), updated_at=event.updated_at)
    if current is None:
        await ctx.session.execute(site_capacity.insert().values(site_id=event.site_id, **values))
    else:
        await ctx.session.execute(
            site_capacity.update().where(site_capacity.c.site_id == event.site_id).values(**values)
        )
    await mark_dirty(ctx.session, event.site_id)


async def _mirror_energy(
    ctx: Context, site_id: str, kind: str, event: EnergyPricesPublished | GreenEnergyPublished, at: object
) -> None:
    """Kept for the planner objective (economic / green strategies)."""
    key = (site_energy.c.site_id == site_id) & (site_energy.c.kind == kind)
    await ctx.session.execute(site_energy.delete().where(key))
    await ctx.session.execute(
        site_energy.insert().values(site_id=site_id, kind=kind, event=event.model_dump_json(), updated_at=at)
    )


async def on_prices(event: EnergyPricesPublished, ctx: Context) -> None:
    await _mirror_energy(ctx, event.site_id, "prices", event, event.published_at)


async def on_green(event: GreenEnergyPublished, ctx: Context) -> None:
    await _mirror_energy(ctx, event.site_id, "green", event, event.published_at)


async def on_priority(event: PriorityRequested, ctx: Context) -> None:
    """A driver in a hurry: the reservation's priority rises to what the site granted (never falls)."""
    updated = await ctx.session.execute(
        demands.update()
        .where(demands.c.reservation_id == event.reservation_id)
        .where(demands.c.priority < event.granted)
        .values(priority=event.granted)
    )
    if updated.rowcount:
        await mark_dirty(ctx.session, event.site_id)


HANDLERS: dict[type, Handler] = {
    ReservationCreated: on_reservation_created,
    ReservationCancelled: on_reservation_cancelled,
    ReservationUpdated: on_reservation_updated,
    ReservationDecided: on_reservation_decided,
    EvChargingNeedsReported: on_ev_charging_needs,
    TopologyUpdated: on_topology_updated,
    StationStatusChanged: on_station_status,
    MeterValuesReported: on_meter_values,
    SiteCapacityUpdated: on_site_capacity,
    EnergyPricesPublished: on_prices,
    GreenEnergyPublished: on_green,
    PriorityRequested: on_priority,
}
