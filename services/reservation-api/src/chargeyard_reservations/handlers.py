"""Events the reservation API reacts to: the plan, conflicts, the site's stations, and what
happens at the connectors (arrival, charging, end, cars that come unannounced)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from chargeyard_contracts import (
    ConflictKind,
    ReservationConflict,
    ReservationCreated,
    ReservationStatus,
    ScheduleUpdated,
    StationStatusChanged,
    TopologyUpdated,
    TransactionEventReported,
)
from chargeyard_contracts.stations import ConnectorStatus, TransactionEventKind
from chargeyard_platform.bus import Context, Handler
from sqlalchemy.ext.asyncio import AsyncSession

from .adapters.orm import drivers, live_transactions, reservations, rfid_tokens, sites
from .config import Settings
from .domain.reservations import ACTIVE, AT_CONNECTOR, OPEN, can_move, conflict_is_stale
from .lifecycle import change, load
from .webhooks import EVENT_TYPES, make_webhook_handler

S = ReservationStatus


async def on_schedule_updated(event: ScheduleUpdated, ctx: Context) -> None:
    """The plan gives each reservation its connector, start, finish and energy back; a waitlisted
    reservation that now has a connector is promoted (and its driver told by reservation.updated)."""
    for charge in event.charges:
        row = await load(ctx.session, charge.reservation_id)
        if row is None or S(row.status) not in ACTIVE:
            continue
        status = S(row.status)
        values: dict[str, Any] = dict(
            planned_start=charge.planned_start,
            planned_finish=charge.planned_finish,
            planned_energy_wh=charge.energy_wh,
        )
        if status not in AT_CONNECTOR or row.assigned_station_id is None:
            # A car at a connector stays there: a plan made before it arrived does not move it.
            values.update(assigned_station_id=charge.station_id, assigned_evse_id=charge.evse_id)
        reason = None
        if status in (S.REQUESTED, S.WAITLISTED):
            values["status"] = S.SCHEDULED.value
            reason = "promoted from the waiting list" if status is S.WAITLISTED else "planned"
        await change(ctx.session, ctx.publish, row, ctx.clock.now(), reason=reason, **values)


def make_handlers(settings: Settings) -> dict[type, Handler]:
    async def on_conflict(event: ReservationConflict, ctx: Context) -> None:
        """No connector: onto the waiting list. Less energy: the driver chooses (decision endpoint),
        or the default applies at `respond_by`. Repeats and stale conflicts change nothing."""
        row = await load(ctx.session, event.reservation_id)
        if row is None or S(row.status) not in ACTIVE:
            return
        if conflict_is_stale(event.departure, event.requested_wh, row.departure, row.energy_wh):
            return
        now = ctx.clock.now()
        if event.kind is ConflictKind.NO_CONNECTOR:
            if S(row.status) in (S.REQUESTED, S.SCHEDULED, S.CONFLICT):
                await change(
                    ctx.session,
                    ctx.publish,
                    row,
                    now,
                    reason="no connector fits: on the waiting list",
                    status=S.WAITLISTED.value,
                    waitlisted_at=row.waitlisted_at or now,
                    assigned_station_id=None,
                    assigned_evse_id=None,
                    planned_start=None,
                    planned_finish=None,
                    planned_energy_wh=None,
                )
            return
        if S(row.status) is S.CONFLICT or not can_move(S(row.status), S.CONFLICT):
            return
        conflict = {
            "kind": event.kind.value,
            "plan_id": event.plan_id,
            "deliverable_wh": event.deliverable_wh,
            "requested_wh": event.requested_wh,
            "departure": event.departure.isoformat(),
            "full_charge_finish": event.full_charge_finish.isoformat() if event.full_charge_finish else None,
            "detected_at": now.isoformat(),
            "respond_by": (now + timedelta(seconds=settings.decision_timeout_s)).isoformat(),
            "default": settings.default_decision,
        }
        await change(
            ctx.session,
            ctx.publish,
            row,
            now,
            reason="the plan cannot keep the promise: choose",
            status=S.CONFLICT.value,
            conflict=conflict,
        )

    async def on_transaction(event: TransactionEventReported, ctx: Context) -> None:
        if event.kind is TransactionEventKind.STARTED:
            await _started(event, ctx, settings)
        elif event.kind is TransactionEventKind.ENDED:
            await _ended(event, ctx)

    on_reservation_event = make_webhook_handler(settings)
    return {
        **dict.fromkeys(EVENT_TYPES, on_reservation_event),
        ScheduleUpdated: on_schedule_updated,
        ReservationConflict: on_conflict,
        TransactionEventReported: on_transaction,
        StationStatusChanged: on_station_status,
        TopologyUpdated: on_topology,
    }


async def _driver_of_token(session: AsyncSession, id_token: str | None) -> Any:
    if id_token is None:
        return None
    driver_id = (
        await session.execute(
            sa.select(rfid_tokens.c.driver_id)
            .where(rfid_tokens.c.id_token == id_token)
            .where(rfid_tokens.c.status == "Accepted")
        )
    ).scalar()
    query = sa.select(drivers).where(drivers.c.erased_at.is_(None))
    query = query.where(drivers.c.id == driver_id) if driver_id else query.where(drivers.c.app_token == id_token)
    return (await session.execute(query)).first()


async def _site_of_station(session: AsyncSession, station_id: str) -> Any:
    for site in (await session.execute(sa.select(sites))).all():
        if any(s.get("station_id") == station_id for s in site.stations or []):
            return site
    return None


async def _reservation_for(session: AsyncSession, station_id: str, evse_id: int, driver: Any) -> Any:
    """The driver's open reservation (this connector first), else the one planned on this
    connector, else one asked for this station."""
    open_statuses = [*(s.value for s in OPEN), S.ARRIVED.value]
    base = sa.select(reservations).where(reservations.c.status.in_(open_statuses)).order_by(reservations.c.arrival)
    on_connector = (reservations.c.assigned_station_id == station_id) & (reservations.c.assigned_evse_id == evse_id)
    if driver is not None:
        mine = base.where(reservations.c.driver_id == driver.id)
        for where in (on_connector, reservations.c.station_id == station_id, sa.true()):
            if (row := (await session.execute(mine.where(where))).first()) is not None:
                return row
        return None
    for where in (on_connector, (reservations.c.station_id == station_id) & reservations.c.driver_id.is_(None)):
        if (row := (await session.execute(base.where(where))).first()) is not None:
            return row
    return None


async def _started(event: TransactionEventReported, ctx: Context, settings: Settings) -> None:
    session, now = ctx.session, ctx.clock.now()
    known = (
        await session.execute(
            sa.select(live_transactions.c.transaction_id).where(
                live_transactions.c.transaction_id == event.transaction_id
            )
        )
    ).first()
    if known is not None:
        return
    driver = await _driver_of_token(session, event.id_token)
    row = await _reservation_for(session, event.station_id, event.evse_id, driver)
    if row is None and driver is not None:
        row = await _ad_hoc(event, ctx, settings, driver)
    await session.execute(
        live_transactions.insert().values(
            transaction_id=event.transaction_id,
            station_id=event.station_id,
            evse_id=event.evse_id,
            id_token=event.id_token,
            meter_start_wh=event.meter_wh,
            started_at=event.station_timestamp,
            reservation_id=row.id if row is not None else None,
        )
    )
    if row is not None:
        await start_charging(
            session,
            ctx.publish,
            row,
            event.station_id,
            event.evse_id,
            event.transaction_id,
            event.meter_wh,
            event.station_timestamp,
            now,
        )


async def start_charging(
    session: AsyncSession,
    emit: Any,
    row: Any,
    station_id: str,
    evse_id: int,
    transaction_id: str,
    meter_start_wh: int | None,
    started_at: Any,
    now: Any,
) -> Any:
    await session.execute(
        live_transactions.update()
        .where(live_transactions.c.transaction_id == transaction_id)
        .values(reservation_id=row.id)
    )
    return await change(
        session,
        emit,
        row,
        now,
        reason="charging",
        status=S.CHARGING.value,
        arrived_at=row.arrived_at or started_at,
        started_at=started_at,
        transaction_id=transaction_id,
        meter_start_wh=meter_start_wh,
        assigned_station_id=row.assigned_station_id or station_id,
        assigned_evse_id=row.assigned_evse_id or evse_id,
    )


async def _ad_hoc(event: TransactionEventReported, ctx: Context, settings: Settings, driver: Any) -> Any:
    """A known driver's car plugged in without a reservation: one is made from defaults, so the
    planner counts it. Unknown tokens (a dev gateway accepts them) make none: nobody holds it."""
    session, now = ctx.session, ctx.clock.now()
    site = await _site_of_station(session, event.station_id)
    site_id = site.id if site is not None else settings.default_site_id
    vehicle_id = (driver.vehicle_ids or [None])[0]
    reservation_id = str(uuid.uuid4())
    arrival = event.station_timestamp
    departure = arrival + timedelta(hours=settings.ad_hoc_hours)
    values = dict(
        id=reservation_id,
        site_id=site_id,
        tenant_id=driver.tenant_id,
        time_zone=site.time_zone if site is not None else settings.default_time_zone,
        vehicle_id=vehicle_id,
        driver_id=driver.id,
        arrival=arrival,
        departure=departure,
        energy_wh=settings.ad_hoc_energy_wh,
        max_power_w=11_000,
        phases=3,
        priority=0,
        station_id=event.station_id,
        status=S.REQUESTED.value,
        ad_hoc=True,
        created_at=now,
        updated_at=now,
        reason="ad hoc: plugged in without a reservation",
    )
    await session.execute(reservations.insert().values(**values))
    await ctx.publish(
        ReservationCreated(
            reservation_id=reservation_id,
            site_id=site_id,
            vehicle_id=vehicle_id,
            driver_id=driver.pseudonym,
            arrival=arrival,
            departure=departure,
            energy_wh=settings.ad_hoc_energy_wh,
            max_power_w=11_000,
            phases=3,
            priority=0,
            station_id=event.station_id,
            created_at=now,
        )
    )
    return await load(session, reservation_id)


async def _ended(event: TransactionEventReported, ctx: Context) -> None:
    session, now = ctx.session, ctx.clock.now()
    live = (
        await session.execute(
            sa.select(live_transactions).where(live_transactions.c.transaction_id == event.transaction_id)
        )
    ).first()
    reservation_id = live.reservation_id if live is not None else None
    if reservation_id is None:
        reservation_id = (
            await session.execute(
                sa.select(reservations.c.id).where(reservations.c.transaction_id == event.transaction_id)
            )
        ).scalar()
    await session.execute(live_transactions.delete().where(live_transactions.c.transaction_id == event.transaction_id))
    row = await load(session, reservation_id) if reservation_id else None
    if row is None or S(row.status) not in (S.CHARGING, S.ARRIVED, S.CONFLICT):
        return
    start = row.meter_start_wh if row.meter_start_wh is not None else (live.meter_start_wh if live else None)
    delivered = max(0, event.meter_wh - start) if event.meter_wh is not None and start is not None else None
    await change(
        session,
        ctx.publish,
        row,
        now,
        reason=f"session ended ({event.reason or 'no reason given'})",
        status=S.COMPLETED.value,
        finished_at=event.station_timestamp,
        delivered_wh=delivered,
    )


async def on_station_status(event: StationStatusChanged, ctx: Context) -> None:
    """A car at its planned connector (Preparing / Occupied) has arrived: no no-show for it."""
    if event.status not in (
        ConnectorStatus.PREPARING,
        ConnectorStatus.OCCUPIED,
        ConnectorStatus.SUSPENDED_EV,
        ConnectorStatus.SUSPENDED_EVSE,
        ConnectorStatus.CHARGING,
    ):
        return
    row = (
        await ctx.session.execute(
            sa.select(reservations)
            .where(reservations.c.assigned_station_id == event.station_id)
            .where(reservations.c.assigned_evse_id == event.evse_id)
            .where(reservations.c.status.in_([S.SCHEDULED.value, S.CONFLICT.value]))
            .where(reservations.c.arrival <= event.received_at + timedelta(hours=1))
            .order_by(reservations.c.arrival)
        )
    ).first()
    if row is not None and row.arrived_at is None:
        await change(
            ctx.session,
            ctx.publish,
            row,
            ctx.clock.now(),
            reason="the car is at its connector",
            status=S.ARRIVED.value if S(row.status) is S.SCHEDULED else row.status,
            arrived_at=event.received_at,
        )


async def on_topology(event: TopologyUpdated, ctx: Context) -> None:
    """The site's time zone and stations, from the energy manager; ownership stays as set here."""
    stations = [{"station_id": s.station_id, "evse_ids": list(s.evse_ids)} for s in event.stations]
    existing = (await ctx.session.execute(sa.select(sites).where(sites.c.id == event.site_id))).first()
    if existing is None:
        await ctx.session.execute(
            sites.insert().values(
                id=event.site_id,
                tenant_id=None,
                name=None,
                time_zone=event.time_zone,
                stations=stations,
                updated_at=event.updated_at,
            )
        )
    elif existing.updated_at <= event.updated_at:
        await ctx.session.execute(
            sites.update()
            .where(sites.c.id == event.site_id)
            .values(time_zone=event.time_zone, stations=stations, updated_at=event.updated_at)
        )
        await ctx.session.execute(
            reservations.update().where(reservations.c.site_id == event.site_id).values(time_zone=event.time_zone)
        )
