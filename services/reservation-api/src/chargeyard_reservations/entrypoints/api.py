"""REST /v1/reservations: what fleet systems, the app and the back office call."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from chargeyard_contracts import ConflictChoice, ReservationCreated, ReservationStatus
from chargeyard_platform.problems import Problem
from chargeyard_platform.runtime import runtime_of
from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from ..adapters.orm import drivers, reservations, sites, vehicles
from ..domain.access import Permission, Principal
from ..domain.reservations import ACTIVE, OPEN, alternatives_if_impossible, rated_trip_energy_wh
from ..lifecycle import change, decide, emitter, load, pseudonym_of, release, updated_event, waitlist_position
from .common import (
    ERRORS,
    IdempotencyKey,
    Page,
    ProblemRoute,
    audit,
    idempotent,
    not_found,
    page,
    require,
    settings_of,
    target_tenant,
)
from .views import Reservation, reservation_view

router = APIRouter(prefix="/v1", tags=["reservations"], route_class=ProblemRoute, responses=ERRORS)
P = Permission
S = ReservationStatus
CREATED = {200: {"description": "A replay: the same Idempotency-Key and body as an earlier request"}}
Readers = Annotated[Principal, Depends(require(P.RESERVATIONS_READ, P.RESERVATIONS_OWN))]
Writers = Annotated[Principal, Depends(require(P.RESERVATIONS_WRITE, P.RESERVATIONS_OWN))]


class ReservationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site_id: str | None = Field(default=None, min_length=1, max_length=64)
    vehicle_id: str | None = Field(default=None, max_length=64, description="A vehicle of the tenant")
    driver_id: str | None = Field(
        default=None,
        max_length=64,
        description="A driver of the tenant; a driver calling with their own token may leave it out",
    )
    arrival: AwareDatetime = Field(description="ISO 8601 with offset")
    departure: AwareDatetime = Field(description="ISO 8601 with offset")
    energy_wh: Annotated[int | None, Field(gt=0, le=200_000)] = Field(
        default=None, description="The energy to charge; or give distance_km instead"
    )
    distance_km: Annotated[float | None, Field(gt=0, le=5000)] = Field(
        default=None,
        description="Kilometres to drive after departure, instead of energy_wh (needs vehicle_id): the energy "
        "is estimated from the vehicle's rated consumption and the scheduler corrects it for the outside "
        "temperature and the state of charge",
    )
    outside_temperature_c: Annotated[float | None, Field(ge=-60, le=60)] = Field(
        default=None, description="With distance_km: the forecast temperature on the route, if the app knows it"
    )
    soc_percent: Annotated[float | None, Field(ge=0, le=100)] = Field(
        default=None, description="With distance_km: the car's state of charge, if the app knows it"
    )
    max_power_w: Annotated[int | None, Field(gt=0, le=350_000)] = Field(
        default=None, description="Defaults to the vehicle's maximum AC power, else 11 kW"
    )
    phases: Annotated[int | None, Field(ge=1, le=3)] = None
    priority: Annotated[int | None, Field(ge=0, le=10)] = None
    station_id: str | None = Field(default=None, min_length=1, max_length=48, pattern=r"^[A-Za-z0-9._:-]+$")
    tenant_id: str | None = Field(default=None, max_length=64, description="Administrators only: for this tenant")

    @model_validator(mode="after")
    def _order(self) -> ReservationRequest:
        if self.departure <= self.arrival:
            raise ValueError("departure must be after arrival")
        if (self.energy_wh is None) == (self.distance_km is None):
            raise ValueError("give either energy_wh or distance_km (km to drive), not both and not neither")
        if self.distance_km is None and (self.outside_temperature_c is not None or self.soc_percent is not None):
            raise ValueError("outside_temperature_c and soc_percent go with distance_km")
        return self


class ReservationChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    arrival: AwareDatetime | None = None
    departure: AwareDatetime | None = None
    energy_wh: Annotated[int | None, Field(gt=0, le=200_000)] = None
    priority: Annotated[int | None, Field(ge=0, le=10)] = None


class Cancellation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=200)


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    choice: ConflictChoice = Field(
        description='"full_charge_later": all the energy, later; '
        '"less_charge_on_time": the departure as planned, with less energy'
    )


def visible(principal: Principal) -> sa.ColumnElement[bool]:
    if principal.all_tenants:
        return sa.true()
    where = reservations.c.tenant_id == principal.tenant_id
    if not principal.can(P.RESERVATIONS_READ):  # a driver: own reservations only
        where = where & (reservations.c.driver_id == (principal.driver_id or "-"))
    return where


async def visible_reservation(session: AsyncSession, principal: Principal, reservation_id: str) -> Any:
    row = (
        await session.execute(
            sa.select(reservations).where(reservations.c.id == reservation_id).where(visible(principal))
        )
    ).first()
    if row is None:
        raise not_found("Reservation", reservation_id)
    return row


async def view(session: AsyncSession, row: Any, request: Request) -> Reservation:
    return reservation_view(
        row, position=await waitlist_position(session, row), default_time_zone=settings_of(request).default_time_zone
    )


async def site_for(session: AsyncSession, request: Request, principal: Principal, site_id: str, tenant_id: str) -> Any:
    """The site must be the tenant's; the administrator may name one the platform has not heard
    of yet (it is registered to the tenant, in the default time zone until its topology comes)."""
    row = (await session.execute(sa.select(sites).where(sites.c.id == site_id))).first()
    if row is not None and (row.tenant_id == tenant_id or (principal.all_tenants and row.tenant_id is None)):
        return row
    if row is None and principal.all_tenants:
        now = runtime_of(request).clock.now()
        await session.execute(
            sites.insert().values(
                id=site_id,
                tenant_id=tenant_id,
                name=None,
                stations=[],
                time_zone=settings_of(request).default_time_zone,
                updated_at=now,
            )
        )
        return (await session.execute(sa.select(sites).where(sites.c.id == site_id))).first()
    raise Problem(
        422,
        "Unknown site",
        f"The site {site_id} is not one of the tenant's sites",
        errors=[{"field": "site_id", "message": "not a site of this tenant", "type": "value_error"}],
    )


def energy_and_trip(body: ReservationRequest, vehicle: Any) -> tuple[int, dict[str, Any] | None]:
    """The energy asked for, or the rated energy of the trip (km x the vehicle's consumption) with
    the trip itself, which the scheduler's model turns into the energy to plan (temperature,
    state of charge, margin)."""
    if body.energy_wh is not None:
        return body.energy_wh, None
    if body.distance_km is None or vehicle is None:
        raise Problem(
            422,
            "Which vehicle?",
            "distance_km needs the vehicle: its consumption turns kilometres into energy",
            errors=[{"field": "vehicle_id", "message": "required with distance_km", "type": "missing"}],
        )
    trip = {
        "distance_km": body.distance_km,
        "consumption_wh_per_100km": vehicle.consumption_wh_per_100km,
        "outside_temperature_c": body.outside_temperature_c,
        "soc_percent": body.soc_percent,
        "battery_capacity_wh": vehicle.battery_wh,
    }
    return rated_trip_energy_wh(body.distance_km, vehicle.consumption_wh_per_100km, vehicle.battery_wh), trip


async def create(
    session: AsyncSession, request: Request, principal: Principal, body: ReservationRequest, *, source: str = "api"
) -> Any:
    runtime = runtime_of(request)
    settings = settings_of(request)
    now = runtime.clock.now()
    tenant_id = target_tenant(principal, body.tenant_id)
    driver_id = body.driver_id
    if not principal.can(P.RESERVATIONS_WRITE):  # a driver books for themself only
        if driver_id not in (None, principal.driver_id) or principal.driver_id is None:
            raise Problem(403, "Forbidden", "A driver makes reservations for themself only; leave driver_id out")
        driver_id = principal.driver_id
    driver = None
    if driver_id is not None:
        driver = (
            await session.execute(
                sa.select(drivers)
                .where(drivers.c.id == driver_id)
                .where(drivers.c.tenant_id == tenant_id)
                .where(drivers.c.erased_at.is_(None))
            )
        ).first()
        if driver is None:
            raise Problem(
                422,
                "Unknown driver",
                f"No driver {driver_id} in this tenant",
                errors=[{"field": "driver_id", "message": "unknown driver", "type": "value_error"}],
            )
    vehicle = None
    if body.vehicle_id is not None:
        vehicle = (
            await session.execute(
                sa.select(vehicles).where(vehicles.c.id == body.vehicle_id).where(vehicles.c.tenant_id == tenant_id)
            )
        ).first()
        if vehicle is None or (
            driver is not None
            and not principal.can(P.RESERVATIONS_WRITE)
            and vehicle.id not in (driver.vehicle_ids or [])
        ):
            raise Problem(
                422,
                "Unknown vehicle",
                f"No vehicle {body.vehicle_id} for this reservation",
                errors=[{"field": "vehicle_id", "message": "unknown vehicle", "type": "value_error"}],
            )
    site = await site_for(session, request, principal, body.site_id or settings.default_site_id, tenant_id)
    energy_wh, trip = energy_and_trip(body, vehicle)
    max_power_w = body.max_power_w or (vehicle.max_ac_power_w if vehicle else 11_000)
    phases = body.phases or (vehicle.phases if vehicle else 3)
    priority = body.priority if body.priority is not None else (vehicle.priority if vehicle else 0)
    reservation_id = str(uuid.uuid4())
    alternatives = alternatives_if_impossible(body.arrival, body.departure, energy_wh, max_power_w)
    row = {
        "id": reservation_id,
        "tenant_id": tenant_id,
        "site_id": site.id,
        "time_zone": site.time_zone,
        "vehicle_id": body.vehicle_id,
        "driver_id": driver_id,
        "arrival": body.arrival,
        "departure": body.departure,
        "energy_wh": energy_wh,
        "trip": trip,
        "max_power_w": max_power_w,
        "phases": phases,
        "priority": priority,
        "station_id": body.station_id,
        "status": S.REJECTED.value if alternatives else S.REQUESTED.value,
        "alternatives": [
            {
                "arrival": a.arrival.isoformat(),
                "departure": a.departure.isoformat(),
                "energy_wh": a.energy_wh,
                "note": a.note,
            }
            for a in alternatives
        ]
        if alternatives
        else None,
        "reason": "more energy than the car can take in its window" if alternatives else None,
        "ad_hoc": False,
        "created_at": now,
        "updated_at": now,
    }
    await session.execute(reservations.insert().values(**row))
    emit = emitter(session, runtime.outbox, reservation_id)
    stored = await load(session, reservation_id)
    if alternatives:
        await emit(await updated_event(session, stored, ("status",), row["reason"], now))
    else:
        await emit(
            ReservationCreated(
                reservation_id=reservation_id,
                site_id=site.id,
                vehicle_id=body.vehicle_id,
                driver_id=await pseudonym_of(session, driver_id),
                arrival=body.arrival,
                departure=body.departure,
                energy_wh=energy_wh,
                max_power_w=max_power_w,
                phases=phases,
                priority=priority,
                station_id=body.station_id,
                created_at=now,
                **(trip or {}),
            )
        )
        stored = await _adopt_running_transaction(session, emit, stored, now)
    await audit(
        session,
        actor=principal.scope,
        tenant_id=tenant_id,
        action=f"created ({source})",
        entity="reservation",
        entity_id=reservation_id,
        at=now,
    )
    return stored


async def _adopt_running_transaction(session: AsyncSession, emit: Any, row: Any, now: datetime) -> Any:
    """A car already charging at the station asked for (it plugged in before the reservation was
    made): the reservation takes that session over instead of waiting for a car that is there."""
    from ..adapters.orm import live_transactions
    from ..handlers import start_charging

    if row.station_id is None:
        return row
    live = (
        await session.execute(
            sa.select(live_transactions)
            .where(live_transactions.c.station_id == row.station_id)
            .where(live_transactions.c.reservation_id.is_(None))
            .order_by(live_transactions.c.started_at)
        )
    ).first()
    if live is None:
        return row
    return await start_charging(
        session,
        emit,
        row,
        live.station_id,
        live.evse_id,
        live.transaction_id,
        live.meter_start_wh,
        live.started_at,
        now,
    )


@router.post("/reservations", status_code=status.HTTP_201_CREATED, response_model=Reservation, responses=CREATED)
async def create_reservation(
    body: ReservationRequest,
    request: Request,
    response: Response,
    principal: Writers,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Times with any offset; shown back in the site's time zone. A request the car cannot take
    in its window is stored as `rejected` with `alternatives`."""

    async def work(session: AsyncSession) -> tuple[int, BaseModel]:
        return 201, await view(session, await create(session, request, principal, body), request)

    return await idempotent(request, response, principal, idempotency_key, work)


@router.get("/reservations/{reservation_id}", response_model=Reservation)
async def get_reservation(reservation_id: str, request: Request, principal: Readers) -> Reservation:
    async with runtime_of(request).db.sessions() as session:
        return await view(session, await visible_reservation(session, principal, reservation_id), request)


@router.get("/reservations", response_model=Page[Reservation])
async def list_reservations(
    request: Request,
    principal: Readers,
    site_id: Annotated[str | None, Query(max_length=64)] = None,
    status_: Annotated[ReservationStatus | None, Query(alias="status")] = None,
    driver_id: Annotated[str | None, Query(max_length=64)] = None,
    vehicle_id: Annotated[str | None, Query(max_length=64)] = None,
    arrival_from: Annotated[AwareDatetime | None, Query(description="Arrival at or after")] = None,
    arrival_to: Annotated[AwareDatetime | None, Query(description="Arrival before")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[Reservation]:
    query = sa.select(reservations).where(visible(principal))
    for column, value in (
        (reservations.c.site_id, site_id),
        (reservations.c.driver_id, driver_id),
        (reservations.c.vehicle_id, vehicle_id),
        (reservations.c.status, status_.value if status_ else None),
    ):
        if value is not None:
            query = query.where(column == value)
    if arrival_from is not None:
        query = query.where(reservations.c.arrival >= arrival_from)
    if arrival_to is not None:
        query = query.where(reservations.c.arrival < arrival_to)
    async with runtime_of(request).db.sessions() as session:
        rows, next_cursor = await page(session, query, reservations, limit, cursor)
        return Page[Reservation](items=[await view(session, r, request) for r in rows], next_cursor=next_cursor)


@router.patch("/reservations/{reservation_id}", response_model=Reservation)
async def modify_reservation(
    reservation_id: str, body: ReservationChange, request: Request, principal: Writers
) -> Reservation:
    """Change the terms of a reservation whose car has not arrived; it is planned again."""
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        row = await visible_reservation(session, principal, reservation_id)
        if S(row.status) not in OPEN:
            raise Problem(409, "Cannot change", f"A reservation that is {row.status} cannot be changed")
        arrival, departure = body.arrival or row.arrival, body.departure or row.departure
        if departure <= arrival:
            raise Problem(
                422,
                "Request body is invalid",
                "departure must be after arrival",
                errors=[{"field": "departure", "message": "must be after arrival", "type": "value_error"}],
            )
        now = runtime.clock.now()
        row = await change(
            session,
            emitter(session, runtime.outbox, row.id),
            row,
            now,
            reason="modified",
            status=S.REQUESTED.value,
            arrival=arrival,
            departure=departure,
            energy_wh=body.energy_wh or row.energy_wh,
            priority=row.priority if body.priority is None else body.priority,
            conflict=None,
        )
        await audit(
            session,
            actor=principal.scope,
            tenant_id=row.tenant_id,
            action="modified",
            entity="reservation",
            entity_id=row.id,
            at=now,
            detail=body.model_dump(mode="json", exclude_none=True),
        )
        result = await view(session, row, request)
    runtime.wake_relay()
    return result


@router.post("/reservations/{reservation_id}/cancel", response_model=Reservation)
async def cancel_reservation(
    reservation_id: str,
    body: Cancellation,
    request: Request,
    response: Response,
    principal: Writers,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    async def work(session: AsyncSession) -> tuple[int, BaseModel]:
        runtime = runtime_of(request)
        row = await visible_reservation(session, principal, reservation_id)
        if S(row.status) not in OPEN | {S.ARRIVED}:
            raise Problem(409, "Cannot cancel", f"A reservation that is {row.status} cannot be cancelled")
        now = runtime.clock.now()
        row = await release(
            session, emitter(session, runtime.outbox, row.id), row, S.CANCELLED, now, body.reason or "cancelled"
        )
        await audit(
            session,
            actor=principal.scope,
            tenant_id=row.tenant_id,
            action="cancelled",
            entity="reservation",
            entity_id=row.id,
            at=now,
        )
        return 200, await view(session, row, request)

    return await idempotent(request, response, principal, idempotency_key, work)


@router.post("/reservations/{reservation_id}/decision", response_model=Reservation)
async def decide_conflict(
    reservation_id: str,
    body: Decision,
    request: Request,
    response: Response,
    principal: Writers,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Answer a conflict: "full charge, later" or "less charge, on time" (the default applies at
    `conflict.respond_by`)."""

    async def work(session: AsyncSession) -> tuple[int, BaseModel]:
        runtime = runtime_of(request)
        row = await visible_reservation(session, principal, reservation_id)
        if S(row.status) is not S.CONFLICT:
            raise Problem(409, "No open conflict", f"The reservation is {row.status}: there is nothing to decide")
        now = runtime.clock.now()
        row = await decide(session, emitter(session, runtime.outbox, row.id), row, body.choice, "driver", now)
        await audit(
            session,
            actor=principal.scope,
            tenant_id=row.tenant_id,
            action="decided",
            entity="reservation",
            entity_id=row.id,
            at=now,
            detail={"choice": body.choice.value},
        )
        return 200, await view(session, row, request)

    return await idempotent(request, response, principal, idempotency_key, work)


@router.get("/sites/{site_id}/waitlist", response_model=list[Reservation], tags=["sites"])
async def waiting_list(site_id: str, request: Request, principal: Readers) -> list[Reservation]:
    """The waiting list of a site, first in line first; promoted when capacity frees up."""
    async with runtime_of(request).db.sessions() as session:
        site = (await session.execute(sa.select(sites).where(sites.c.id == site_id))).first()
        if site is None or not (principal.all_tenants or site.tenant_id == principal.tenant_id):
            raise not_found("Site", site_id)
        rows = (
            await session.execute(
                sa.select(reservations)
                .where(reservations.c.site_id == site_id)
                .where(visible(principal))
                .where(reservations.c.status == S.WAITLISTED.value)
                .order_by(reservations.c.waitlisted_at, reservations.c.id)
            )
        ).all()
        return [await view(session, r, request) for r in rows]


__all__ = ["ACTIVE", "ReservationRequest", "create", "router"]
