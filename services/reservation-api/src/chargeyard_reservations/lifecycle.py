"""The reservation life cycle's effects, shared by the API, the event handlers and the sweeper:
every change updates the row and writes its event to the outbox in the same transaction."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from chargeyard_contracts import (
    ConflictChoice,
    ReservationCancelled,
    ReservationDecided,
    ReservationStatus,
    ReservationUpdated,
    TokensUpdated,
)
from chargeyard_contracts.planning import TokenEntry
from chargeyard_platform.bus import Outbox
from chargeyard_platform.clock import Clock
from chargeyard_platform.db import Database
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from .adapters.orm import audit_log, drivers, live_transactions, reservations, token_list
from .config import Settings
from .domain.reservations import decision_due, no_show_due, terms_after

log = logging.getLogger(__name__)

Emit = Callable[[BaseModel], Awaitable[Any]]
S = ReservationStatus


def emitter(session: AsyncSession, outbox: Outbox, correlation_id: str | None = None) -> Emit:
    async def emit(payload: BaseModel) -> Any:
        return await outbox.add(session, payload, correlation_id=correlation_id)

    return emit


async def pseudonym_of(session: AsyncSession, driver_id: str | None) -> str | None:
    """Events on public topics carry the driver's pseudonym, never the id the back office uses."""
    if driver_id is None:
        return None
    return (await session.execute(sa.select(drivers.c.pseudonym).where(drivers.c.id == driver_id))).scalar()


async def waitlist_position(session: AsyncSession, row: Any) -> int | None:
    if row.status != S.WAITLISTED or row.waitlisted_at is None:
        return None
    ahead = (
        await session.execute(
            sa.select(sa.func.count())
            .select_from(reservations)
            .where(reservations.c.site_id == row.site_id)
            .where(reservations.c.status == S.WAITLISTED.value)
            .where(
                sa.or_(
                    reservations.c.waitlisted_at < row.waitlisted_at,
                    sa.and_(reservations.c.waitlisted_at == row.waitlisted_at, reservations.c.id < row.id),
                )
            )
        )
    ).scalar_one()
    return int(ahead) + 1


async def load(session: AsyncSession, reservation_id: str) -> Any:
    return (await session.execute(sa.select(reservations).where(reservations.c.id == reservation_id))).first()


async def change(
    session: AsyncSession, emit: Emit, row: Any, now: datetime, *, reason: str | None = None, **values: Any
) -> Any:
    """Apply `values` to the reservation and publish reservation.updated naming what changed."""
    changed = {k: v for k, v in values.items() if getattr(row, k) != v}
    if not changed:
        return row
    await session.execute(
        reservations.update()
        .where(reservations.c.id == row.id)
        .values(**changed, updated_at=now, reason=reason or row.reason)
    )
    row = await load(session, row.id)
    await emit(await updated_event(session, row, tuple(sorted(changed)), reason, now))
    return row


async def updated_event(
    session: AsyncSession, row: Any, changes: tuple[str, ...], reason: str | None, now: datetime
) -> ReservationUpdated:
    return ReservationUpdated(
        reservation_id=row.id,
        site_id=row.site_id,
        status=ReservationStatus(row.status),
        driver_id=await pseudonym_of(session, row.driver_id),
        vehicle_id=row.vehicle_id,
        arrival=row.arrival,
        departure=row.departure,
        energy_wh=row.energy_wh,
        max_power_w=row.max_power_w,
        phases=row.phases,
        priority=row.priority,
        station_id=row.station_id,
        assigned_station_id=row.assigned_station_id,
        assigned_evse_id=row.assigned_evse_id,
        planned_start=row.planned_start,
        planned_finish=row.planned_finish,
        planned_energy_wh=row.planned_energy_wh,
        delivered_wh=row.delivered_wh,
        waitlist_position=await waitlist_position(session, row),
        ad_hoc=bool(row.ad_hoc),
        reason=reason,
        changes=changes,
        updated_at=now,
    )


async def release(
    session: AsyncSession, emit: Emit, row: Any, status: ReservationStatus, now: datetime, reason: str
) -> Any:
    """Cancelled or no-show: the slot goes back to the planner (reservation.cancelled) and the
    driver is told (reservation.updated)."""
    row = await change(session, emit, row, now, reason=reason, status=status.value, finished_at=now)
    await emit(ReservationCancelled(reservation_id=row.id, site_id=row.site_id, cancelled_at=now, reason=reason))
    return row


async def decide(
    session: AsyncSession, emit: Emit, row: Any, choice: ConflictChoice, decided_by: str, now: datetime
) -> Any:
    conflict = row.conflict or {}
    departure, energy_wh = terms_after(
        choice,
        row.departure,
        row.energy_wh,
        int(conflict.get("deliverable_wh", row.energy_wh)),
        datetime.fromisoformat(conflict["full_charge_finish"]) if conflict.get("full_charge_finish") else None,
    )
    await emit(
        ReservationDecided(
            reservation_id=row.id,
            site_id=row.site_id,
            choice=choice,
            decided_by=decided_by,
            departure=departure,
            energy_wh=energy_wh,
            decided_at=now,
        )
    )
    back = S.CHARGING if row.started_at is not None and row.finished_at is None else S.SCHEDULED
    return await change(
        session,
        emit,
        row,
        now,
        reason=f"conflict decided: {choice.value} ({decided_by})",
        status=back.value,
        departure=departure,
        energy_wh=energy_wh,
        decision={"choice": choice.value, "decided_by": decided_by, "decided_at": now.isoformat()},
    )


async def publish_tokens(session: AsyncSession, emit: Emit, entries: list[TokenEntry], *, full: bool = False) -> int:
    """tokens.updated with the next list version: the gateway's copy answers Authorize and
    becomes the stations' local list (OCPP 1.6 §5.15 SendLocalList, versions only grow)."""
    current = (await session.execute(sa.select(token_list.c.version).where(token_list.c.id == 1))).scalar()
    version = (current or 0) + 1
    if current is None:
        await session.execute(token_list.insert().values(id=1, version=version))
    else:
        await session.execute(token_list.update().where(token_list.c.id == 1).values(version=version))
    await emit(TokensUpdated(version=version, full=full, tokens=tuple(entries)))
    return version


async def sweep(db: Database, outbox: Outbox, clock: Clock, settings: Settings) -> dict[str, int]:
    """No-shows after the grace period, and the default answer to conflicts nobody answered."""
    now = clock.now()
    grace = timedelta(seconds=settings.no_show_grace_s)
    done = {"no_show": 0, "decided_by_default": 0}
    async with db.transaction() as session:
        rows = (
            await session.execute(
                sa.select(reservations).where(
                    reservations.c.status.in_(
                        [S.REQUESTED.value, S.SCHEDULED.value, S.WAITLISTED.value, S.CONFLICT.value]
                    )
                )
            )
        ).all()
        for row in rows:
            emit = emitter(session, outbox, row.id)
            status = ReservationStatus(row.status)
            respond_by = (
                datetime.fromisoformat(row.conflict["respond_by"])
                if row.conflict and row.conflict.get("respond_by")
                else None
            )
            if no_show_due(status, row.arrival, grace, now) and row.arrived_at is None:
                if (running := await _running_session_at(session, row)) is not None:
                    # The car plugged in before its reservation was made and the adoption raced
                    # the transaction event: it is here, so it charges instead of being released.
                    from .handlers import start_charging

                    await start_charging(
                        session,
                        emit,
                        row,
                        running.station_id,
                        running.evse_id,
                        running.transaction_id,
                        running.meter_start_wh,
                        running.started_at,
                        now,
                    )
                    continue
                await release(
                    session,
                    emit,
                    row,
                    S.NO_SHOW,
                    now,
                    f"no-show: the car had not arrived {settings.no_show_grace_s // 60} min after its arrival time",
                )
                await _audit(session, row, "no_show", now)
                done["no_show"] += 1
            elif decision_due(status, respond_by, now):
                await decide(session, emit, row, ConflictChoice(settings.default_decision), "default", now)
                await _audit(session, row, "decided_by_default", now)
                done["decided_by_default"] += 1
    return done


async def _running_session_at(session: AsyncSession, row: Any) -> Any:
    station_id = row.assigned_station_id or row.station_id
    if station_id is None:
        return None
    query = (
        sa.select(live_transactions)
        .where(live_transactions.c.station_id == station_id)
        .where(live_transactions.c.reservation_id.is_(None))
        .order_by(live_transactions.c.started_at)
    )
    if row.assigned_evse_id is not None:
        query = query.where(live_transactions.c.evse_id == row.assigned_evse_id)
    return (await session.execute(query)).first()


async def _audit(
    session: AsyncSession, row: Any, action: str, now: datetime, detail: Mapping[str, Any] | None = None
) -> None:
    await session.execute(
        audit_log.insert().values(
            tenant_id=row.tenant_id,
            actor="system",
            action=action,
            entity="reservation",
            entity_id=row.id,
            detail=dict(detail) if detail else None,
            at=now,
        )
    )
