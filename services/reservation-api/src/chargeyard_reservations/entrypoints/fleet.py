"""Sites, vehicles, drivers and RFID cards of a tenant; bulk import and export; a driver's
personal data exported or erased."""

from __future__ import annotations

import csv
import io
import json
import secrets
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import sqlalchemy as sa
from chargeyard_contracts.planning import TokenEntry
from chargeyard_platform.problems import Problem
from chargeyard_platform.runtime import runtime_of
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from ..adapters.orm import audit_log, drivers, reservations, rfid_tokens, sites, users, vehicles
from ..domain.access import Permission, Principal
from ..lifecycle import emitter, publish_tokens
from .api import ReservationRequest, create, view
from .common import (
    ERRORS,
    IdempotencyKey,
    Page,
    ProblemRoute,
    audit,
    idempotent,
    not_found,
    owned_row,
    page,
    require,
    target_tenant,
    tenant_filter,
)
from .views import Reservation

P = Permission
router = APIRouter(prefix="/v1", route_class=ProblemRoute, responses=ERRORS)
bulk = APIRouter(prefix="/v1", route_class=ProblemRoute, responses=ERRORS)
"""Included before the other routers: /v1/vehicles/export is not a vehicle id."""
CREATED = {200: {"description": "A replay: the same Idempotency-Key and body as an earlier request"}}
FleetReader = Annotated[Principal, Depends(require(P.FLEET_READ))]
FleetWriter = Annotated[Principal, Depends(require(P.FLEET_WRITE))]
Bulk = Annotated[Principal, Depends(require(P.BULK))]
Ref = Annotated[str, Field(min_length=1, max_length=100)]


# --- sites -----------------------------------------------------------------------------------------


class Site(BaseModel):
    id: str
    tenant_id: str | None
    name: str | None
    time_zone: str
    stations: list[dict[str, Any]]


class SiteAssignment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant_id: str = Field(min_length=1, max_length=64)
    name: str | None = Field(default=None, max_length=200)


@router.get("/sites", response_model=list[Site], tags=["sites"])
async def list_sites(request: Request, principal: Annotated[Principal, Depends(require(P.SITES_READ))]) -> list[Site]:
    async with runtime_of(request).db.sessions() as session:
        rows = (
            await session.execute(sa.select(sites).where(tenant_filter(sites, principal)).order_by(sites.c.id))
        ).all()
    return [Site.model_validate(r._asdict()) for r in rows]


@router.get("/sites/{site_id}", response_model=Site, tags=["sites"])
async def get_site(
    site_id: str, request: Request, principal: Annotated[Principal, Depends(require(P.SITES_READ))]
) -> Site:
    async with runtime_of(request).db.sessions() as session:
        row = (
            await session.execute(sa.select(sites).where(sites.c.id == site_id).where(tenant_filter(sites, principal)))
        ).first()
    if row is None:
        raise not_found("Site", site_id)
    return Site.model_validate(row._asdict())


@router.put("/sites/{site_id}", response_model=Site, tags=["sites"])
async def assign_site(
    site_id: str,
    body: SiteAssignment,
    request: Request,
    principal: Annotated[Principal, Depends(require(P.SITES_MANAGE))],
) -> Site:
    """Administrators: which tenant a site belongs to (its stations and time zone come from the
    energy manager's topology)."""
    runtime = runtime_of(request)
    now = runtime.clock.now()
    async with runtime.db.transaction() as session:
        row = (await session.execute(sa.select(sites).where(sites.c.id == site_id))).first()
        if row is None:
            await session.execute(
                sites.insert().values(
                    id=site_id,
                    tenant_id=body.tenant_id,
                    name=body.name,
                    time_zone=runtime.settings.default_time_zone,  # type: ignore[attr-defined]
                    stations=[],
                    updated_at=now,
                )
            )
        else:
            await session.execute(
                sites.update().where(sites.c.id == site_id).values(tenant_id=body.tenant_id, name=body.name or row.name)
            )
        await audit(
            session,
            actor=principal.scope,
            tenant_id=body.tenant_id,
            action="assigned",
            entity="site",
            entity_id=site_id,
            at=now,
        )
        row = (await session.execute(sa.select(sites).where(sites.c.id == site_id))).first()
    return Site.model_validate(row._asdict())


# --- vehicles --------------------------------------------------------------------------------------


class ConnectorType(StrEnum):
    TYPE2 = "Type2"
    TYPE1 = "Type1"
    CCS2 = "CCS2"
    CCS1 = "CCS1"
    CHADEMO = "CHAdeMO"


class VehicleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    external_ref: Ref | None = Field(default=None, description="The fleet system's own id (unique per tenant)")
    make: str = Field(min_length=1, max_length=100)
    model: str = Field(min_length=1, max_length=100)
    battery_wh: int = Field(gt=0, le=500_000)
    consumption_wh_per_100km: int = Field(gt=0, le=100_000)
    max_ac_power_w: int = Field(gt=0, le=350_000)
    phases: int = Field(default=3, ge=1, le=3)
    connector_type: ConnectorType = ConnectorType.TYPE2
    priority: int = Field(default=0, ge=0, le=10, description="Priority class: higher is planned first")
    tenant_id: str | None = Field(default=None, max_length=64, description="Administrators only")


class VehicleChange(BaseModel):
    """What PATCH /v1/vehicles/{id} changes: the fields sent (RFC 7396 merge patch); the rest stays.
    Null clears external_ref; the other fields always have a value, so null for them is refused."""

    model_config = ConfigDict(extra="forbid")
    external_ref: Ref | None = None
    make: str | None = Field(default=None, min_length=1, max_length=100)
    model: str | None = Field(default=None, min_length=1, max_length=100)
    battery_wh: int | None = Field(default=None, gt=0, le=500_000)
    consumption_wh_per_100km: int | None = Field(default=None, gt=0, le=100_000)
    max_ac_power_w: int | None = Field(default=None, gt=0, le=350_000)
    phases: int | None = Field(default=None, ge=1, le=3)
    connector_type: ConnectorType | None = None
    priority: int | None = Field(default=None, ge=0, le=10)

    @field_validator(
        "make",
        "model",
        "battery_wh",
        "consumption_wh_per_100km",
        "max_ac_power_w",
        "phases",
        "connector_type",
        "priority",
        mode="before",
    )
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Only a value sent is validated: null here would blank a column every vehicle needs.
        if value is None:
            raise ValueError("cannot be null; leave the field out to keep its value")
        return value


class Vehicle(BaseModel):
    id: str
    tenant_id: str
    external_ref: str | None
    make: str
    model: str
    battery_wh: int
    consumption_wh_per_100km: int
    max_ac_power_w: int
    phases: int
    connector_type: ConnectorType
    priority: int
    created_at: datetime


async def _refuse_taken_ref(
    session: AsyncSession, table: sa.Table, what: str, tenant_id: str, ref: str | None, *, other_than: str | None = None
) -> None:
    """A fleet system's own id (external_ref) names one vehicle or driver per tenant: 409 naming it."""
    if not ref:
        return
    query = sa.select(table.c.id).where(table.c.tenant_id == tenant_id).where(table.c.external_ref == ref)
    if other_than is not None:
        query = query.where(table.c.id != other_than)
    if (await session.execute(query)).first():
        raise Problem(
            409,
            f"{what.capitalize()} exists",
            f"Another {what} has external_ref {ref} already",
            errors=[{"field": "external_ref", "message": f"taken by another {what}", "type": "conflict"}],
        )


async def _insert_vehicle(session: AsyncSession, principal: Principal, body: VehicleRequest, now: datetime) -> Vehicle:
    tenant_id = target_tenant(principal, body.tenant_id)
    await _refuse_taken_ref(session, vehicles, "vehicle", tenant_id, body.external_ref)
    row = body.model_dump(exclude={"tenant_id"}) | {"id": str(uuid.uuid4()), "tenant_id": tenant_id, "created_at": now}
    await session.execute(vehicles.insert().values(**row))
    await audit(
        session,
        actor=principal.scope,
        tenant_id=tenant_id,
        action="created",
        entity="vehicle",
        entity_id=row["id"],
        at=now,
    )
    return Vehicle.model_validate(row)


@router.post("/vehicles", status_code=201, response_model=Vehicle, responses=CREATED, tags=["vehicles"])
async def create_vehicle(
    body: VehicleRequest,
    request: Request,
    response: Response,
    principal: FleetWriter,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    async def work(session: AsyncSession) -> tuple[int, BaseModel]:
        return 201, await _insert_vehicle(session, principal, body, runtime_of(request).clock.now())

    return await idempotent(request, response, principal, idempotency_key, work)


@router.get("/vehicles", response_model=Page[Vehicle], tags=["vehicles"])
async def list_vehicles(
    request: Request,
    principal: FleetReader,
    make: Annotated[str | None, Query(max_length=100)] = None,
    priority: Annotated[int | None, Query(ge=0, le=10)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[Vehicle]:
    query = sa.select(vehicles).where(tenant_filter(vehicles, principal))
    if make:
        query = query.where(vehicles.c.make == make)
    if priority is not None:
        query = query.where(vehicles.c.priority == priority)
    async with runtime_of(request).db.sessions() as session:
        rows, next_cursor = await page(session, query, vehicles, limit, cursor)
    return Page[Vehicle](items=[Vehicle.model_validate(r._asdict()) for r in rows], next_cursor=next_cursor)


async def _vehicle(session: AsyncSession, principal: Principal, vehicle_id: str) -> Any:
    return await owned_row(session, vehicles, vehicles.c.id, vehicle_id, principal, "Vehicle")


@router.get("/vehicles/{vehicle_id}", response_model=Vehicle, tags=["vehicles"])
async def get_vehicle(vehicle_id: str, request: Request, principal: FleetReader) -> Vehicle:
    async with runtime_of(request).db.sessions() as session:
        return Vehicle.model_validate((await _vehicle(session, principal, vehicle_id))._asdict())


@router.patch("/vehicles/{vehicle_id}", response_model=Vehicle, tags=["vehicles"])
async def change_vehicle(vehicle_id: str, body: VehicleChange, request: Request, principal: FleetWriter) -> Vehicle:
    """Correct or update a vehicle (fields sent change, the rest stays). Reservations already made
    keep the figures they were planned with; new ones use these."""
    runtime = runtime_of(request)
    now = runtime.clock.now()
    async with runtime.db.transaction() as session:
        row = await _vehicle(session, principal, vehicle_id)
        values = body.model_dump(mode="json", exclude_unset=True)
        await _refuse_taken_ref(
            session, vehicles, "vehicle", row.tenant_id, values.get("external_ref"), other_than=vehicle_id
        )
        if values:
            await session.execute(vehicles.update().where(vehicles.c.id == vehicle_id).values(**values))
            await audit(
                session,
                actor=principal.scope,
                tenant_id=row.tenant_id,
                action="changed",
                entity="vehicle",
                entity_id=vehicle_id,
                at=now,
                detail=values,
            )
            row = await _vehicle(session, principal, vehicle_id)
    return Vehicle.model_validate(row._asdict())


@router.delete("/vehicles/{vehicle_id}", status_code=204, tags=["vehicles"])
async def delete_vehicle(vehicle_id: str, request: Request, principal: FleetWriter) -> Response:
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        row = await _vehicle(session, principal, vehicle_id)
        await session.execute(vehicles.delete().where(vehicles.c.id == vehicle_id))
        await audit(
            session,
            actor=principal.scope,
            tenant_id=row.tenant_id,
            action="deleted",
            entity="vehicle",
            entity_id=vehicle_id,
            at=runtime.clock.now(),
        )
    return Response(status_code=204)


# --- drivers ---------------------------------------------------------------------------------------


class DriverRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    external_ref: Ref | None = None
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    phone: str | None = Field(default=None, max_length=40)
    vehicle_ids: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=50)
    tenant_id: str | None = Field(default=None, max_length=64, description="Administrators only")


class DriverChange(BaseModel):
    """What PATCH /v1/drivers/{id} changes: the fields sent; null clears external_ref, email or
    phone; vehicle_ids replaces the list (an empty list unlinks every vehicle)."""

    model_config = ConfigDict(extra="forbid")
    external_ref: Ref | None = None
    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    phone: str | None = Field(default=None, max_length=40)
    vehicle_ids: list[Annotated[str, Field(max_length=64)]] | None = Field(default=None, max_length=50)

    @field_validator("name", "vehicle_ids", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null; leave the field out to keep its value")
        return value


class Driver(BaseModel):
    id: str
    tenant_id: str
    pseudonym: str = Field(description="The id events on public topics carry instead of this driver's identity")
    external_ref: str | None
    name: str | None
    email: str | None
    phone: str | None
    vehicle_ids: list[str]
    created_at: datetime
    erased_at: datetime | None


async def _check_vehicles(session: AsyncSession, tenant_id: str, vehicle_ids: list[str]) -> None:
    for vehicle_id in vehicle_ids:
        if (
            await session.execute(
                sa.select(vehicles.c.id).where(vehicles.c.id == vehicle_id).where(vehicles.c.tenant_id == tenant_id)
            )
        ).first() is None:
            raise Problem(
                422,
                "Unknown vehicle",
                f"No vehicle {vehicle_id} in this tenant",
                errors=[{"field": "vehicle_ids", "message": "unknown vehicle", "type": "value_error"}],
            )


async def _insert_driver(
    session: AsyncSession, request: Request, principal: Principal, body: DriverRequest, now: datetime
) -> Driver:
    tenant_id = target_tenant(principal, body.tenant_id)
    await _refuse_taken_ref(session, drivers, "driver", tenant_id, body.external_ref)
    await _check_vehicles(session, tenant_id, body.vehicle_ids)
    row = body.model_dump(exclude={"tenant_id"}) | {
        "id": str(uuid.uuid4()),
        "tenant_id": tenant_id,
        "pseudonym": "drv_" + secrets.token_hex(12),
        # OCPP 1.6 §7.28: an idTag is a CiString20, so the app's token (the idTag of a QR start)
        # is 19 characters: 64 random bits, as hex, upper case like the cards' UIDs.
        "app_token": "APP" + secrets.token_hex(8).upper(),
        "created_at": now,
        "erased_at": None,
    }
    await session.execute(drivers.insert().values(**row))
    # The app's token goes to the gateway too: a remote start from a QR scan is authorised with it.
    await publish_tokens(
        session,
        emitter(session, runtime_of(request).outbox),
        [TokenEntry(id_token=row["app_token"], driver_id=row["pseudonym"])],
    )
    await audit(
        session,
        actor=principal.scope,
        tenant_id=tenant_id,
        action="created",
        entity="driver",
        entity_id=row["id"],
        at=now,
    )
    return Driver.model_validate(row)


@router.post("/drivers", status_code=201, response_model=Driver, responses=CREATED, tags=["drivers"])
async def create_driver(
    body: DriverRequest,
    request: Request,
    response: Response,
    principal: FleetWriter,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    async def work(session: AsyncSession) -> tuple[int, BaseModel]:
        return 201, await _insert_driver(session, request, principal, body, runtime_of(request).clock.now())

    return await idempotent(request, response, principal, idempotency_key, work)


@router.get("/drivers", response_model=Page[Driver], tags=["drivers"])
async def list_drivers(
    request: Request,
    principal: FleetReader,
    external_ref: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[Driver]:
    query = sa.select(drivers).where(tenant_filter(drivers, principal))
    if external_ref:
        query = query.where(drivers.c.external_ref == external_ref)
    async with runtime_of(request).db.sessions() as session:
        rows, next_cursor = await page(session, query, drivers, limit, cursor)
    return Page[Driver](items=[Driver.model_validate(r._asdict()) for r in rows], next_cursor=next_cursor)


async def _driver(session: AsyncSession, principal: Principal, driver_id: str, *, own_ok: bool = False) -> Any:
    """Fleet readers see the tenant's drivers; a driver sees their own record where `own_ok`."""
    if not (principal.can(P.FLEET_READ) or principal.can(P.PRIVACY_MANAGE)):
        if not own_ok or principal.driver_id != driver_id:
            raise not_found("Driver", driver_id)
    return await owned_row(session, drivers, drivers.c.id, driver_id, principal, "Driver")


@router.get("/drivers/{driver_id}", response_model=Driver, tags=["drivers"])
async def get_driver(
    driver_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(require(P.FLEET_READ, P.RESERVATIONS_OWN))],
) -> Driver:
    async with runtime_of(request).db.sessions() as session:
        return Driver.model_validate((await _driver(session, principal, driver_id, own_ok=True))._asdict())


@router.patch("/drivers/{driver_id}", response_model=Driver, tags=["drivers"])
async def change_driver(driver_id: str, body: DriverChange, request: Request, principal: FleetWriter) -> Driver:
    """Correct or update a driver (fields sent change, the rest stays). Nothing goes to the
    gateway: the app token and the pseudonym the token entry carries (tokens.updated, sent when
    the driver was created) do not change here."""
    runtime = runtime_of(request)
    now = runtime.clock.now()
    async with runtime.db.transaction() as session:
        row = await _driver(session, principal, driver_id)
        if row.erased_at is not None:
            raise Problem(409, "Driver erased", f"Driver {driver_id} was erased; an erased driver is not changed")
        values = body.model_dump(mode="json", exclude_unset=True)
        await _refuse_taken_ref(
            session, drivers, "driver", row.tenant_id, values.get("external_ref"), other_than=driver_id
        )
        if "vehicle_ids" in values:
            values["vehicle_ids"] = list(dict.fromkeys(values["vehicle_ids"]))
            await _check_vehicles(session, row.tenant_id, values["vehicle_ids"])
        if values:
            await session.execute(drivers.update().where(drivers.c.id == driver_id).values(**values))
            await audit(
                session,
                actor=principal.scope,
                tenant_id=row.tenant_id,
                action="changed",
                entity="driver",
                entity_id=driver_id,
                at=now,
                # Which fields changed, not their values: the audit log outlives an erasure (GDPR
                # Art. 17), so it holds no name, e-mail or phone number.
                detail={"fields": sorted(values)},
            )
            row = await _driver(session, principal, driver_id)
    return Driver.model_validate(row._asdict())


# --- RFID cards ------------------------------------------------------------------------------------


class TokenStatus(StrEnum):
    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"


class RfidRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id_token: str = Field(
        min_length=1, max_length=20, pattern=r"^[A-Za-z0-9]+$", description="The card's idTag (OCPP 1.6 CiString20)"
    )
    driver_id: str = Field(min_length=1, max_length=64)
    status: TokenStatus = TokenStatus.ACCEPTED
    expires_at: AwareDatetime | None = None


class RfidChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: TokenStatus | None = None
    expires_at: AwareDatetime | None = None


class RfidToken(BaseModel):
    id_token: str
    tenant_id: str
    driver_id: str | None
    status: TokenStatus
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


async def _publish_token(session: AsyncSession, request: Request, row: Any, status: str | None = None) -> None:
    pseudonym = (await session.execute(sa.select(drivers.c.pseudonym).where(drivers.c.id == row.driver_id))).scalar()
    await publish_tokens(
        session,
        emitter(session, runtime_of(request).outbox),
        [
            TokenEntry(
                id_token=row.id_token, status=status or row.status, driver_id=pseudonym, expires_at=row.expires_at
            )
        ],
    )


@router.post("/rfid-tokens", status_code=201, response_model=RfidToken, responses=CREATED, tags=["rfid-tokens"])
async def create_rfid_token(
    body: RfidRequest,
    request: Request,
    response: Response,
    principal: FleetWriter,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """A card linked to a driver; copied to the gateway (tokens.updated) for Authorize and the
    stations' local lists."""

    async def work(session: AsyncSession) -> tuple[int, BaseModel]:
        now = runtime_of(request).clock.now()
        driver = await _driver(session, principal, body.driver_id)
        if driver.erased_at is not None:
            raise Problem(409, "Driver erased", "An erased driver gets no new cards")
        if (
            await session.execute(sa.select(rfid_tokens.c.id_token).where(rfid_tokens.c.id_token == body.id_token))
        ).first():
            raise Problem(409, "Card exists", "This idTag is registered already")
        row = body.model_dump() | {"tenant_id": driver.tenant_id, "created_at": now, "updated_at": now}
        await session.execute(rfid_tokens.insert().values(**row))
        stored = (await session.execute(sa.select(rfid_tokens).where(rfid_tokens.c.id_token == body.id_token))).first()
        await _publish_token(session, request, stored)
        await audit(
            session,
            actor=principal.scope,
            tenant_id=driver.tenant_id,
            action="created",
            entity="rfid_token",
            entity_id=body.id_token,
            at=now,
        )
        return 201, RfidToken.model_validate(stored._asdict())

    return await idempotent(request, response, principal, idempotency_key, work)


@router.get("/rfid-tokens", response_model=Page[RfidToken], tags=["rfid-tokens"])
async def list_rfid_tokens(
    request: Request,
    principal: FleetReader,
    driver_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[RfidToken]:
    query = sa.select(rfid_tokens).where(tenant_filter(rfid_tokens, principal))
    if driver_id:
        query = query.where(rfid_tokens.c.driver_id == driver_id)
    async with runtime_of(request).db.sessions() as session:
        rows, next_cursor = await page(session, query, rfid_tokens, limit, cursor, id_column="id_token")
    return Page[RfidToken](items=[RfidToken.model_validate(r._asdict()) for r in rows], next_cursor=next_cursor)


async def _token(session: AsyncSession, principal: Principal, id_token: str) -> Any:
    return await owned_row(session, rfid_tokens, rfid_tokens.c.id_token, id_token, principal, "RFID token")


@router.get("/rfid-tokens/{id_token}", response_model=RfidToken, tags=["rfid-tokens"])
async def get_rfid_token(id_token: str, request: Request, principal: FleetReader) -> RfidToken:
    async with runtime_of(request).db.sessions() as session:
        return RfidToken.model_validate((await _token(session, principal, id_token))._asdict())


@router.patch("/rfid-tokens/{id_token}", response_model=RfidToken, tags=["rfid-tokens"])
async def change_rfid_token(id_token: str, body: RfidChange, request: Request, principal: FleetWriter) -> RfidToken:
    """Block, unblock or let a card expire; the gateway learns it at once (tokens.updated)."""
    runtime = runtime_of(request)
    now = runtime.clock.now()
    async with runtime.db.transaction() as session:
        row = await _token(session, principal, id_token)
        values = body.model_dump(exclude_unset=True)
        if values:
            await session.execute(
                rfid_tokens.update().where(rfid_tokens.c.id_token == id_token).values(**values, updated_at=now)
            )
            row = await _token(session, principal, id_token)
            await _publish_token(session, request, row)
            await audit(
                session,
                actor=principal.scope,
                tenant_id=row.tenant_id,
                action="changed",
                entity="rfid_token",
                entity_id=id_token,
                at=now,
                detail=body.model_dump(mode="json"),
            )
    runtime.wake_relay()
    return RfidToken.model_validate(row._asdict())


@router.delete("/rfid-tokens/{id_token}", status_code=204, tags=["rfid-tokens"])
async def delete_rfid_token(id_token: str, request: Request, principal: FleetWriter) -> Response:
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        row = await _token(session, principal, id_token)
        await session.execute(rfid_tokens.delete().where(rfid_tokens.c.id_token == id_token))
        await _publish_token(session, request, row, status="Invalid")
        await audit(
            session,
            actor=principal.scope,
            tenant_id=row.tenant_id,
            action="deleted",
            entity="rfid_token",
            entity_id=id_token,
            at=runtime.clock.now(),
        )
    runtime.wake_relay()
    return Response(status_code=204)


# --- personal data ---------------------------------------------------------------------------------


class PersonalData(BaseModel):
    """Everything held about one driver (GDPR Art. 15 and 20)."""

    driver: Driver
    users: list[dict[str, Any]]
    vehicles: list[Vehicle]
    rfid_tokens: list[RfidToken]
    reservations: list[Reservation]
    audit: list[dict[str, Any]]


Privacy = Annotated[Principal, Depends(require(P.PRIVACY_MANAGE, P.RESERVATIONS_OWN))]


@router.get("/drivers/{driver_id}/export", response_model=PersonalData, tags=["privacy"])
async def export_personal_data(driver_id: str, request: Request, principal: Privacy) -> PersonalData:
    async with runtime_of(request).db.sessions() as session:
        driver = await _driver(session, principal, driver_id, own_ok=True)
        cars = (await session.execute(sa.select(vehicles).where(vehicles.c.id.in_(driver.vehicle_ids or [])))).all()
        cards = (await session.execute(sa.select(rfid_tokens).where(rfid_tokens.c.driver_id == driver_id))).all()
        logins = (await session.execute(sa.select(users).where(users.c.driver_id == driver_id))).all()
        booked = (
            await session.execute(
                sa.select(reservations).where(reservations.c.driver_id == driver_id).order_by(reservations.c.created_at)
            )
        ).all()
        trail = (
            await session.execute(
                sa.select(audit_log)
                .where(audit_log.c.entity_id.in_([driver_id, *(r.id for r in booked)]))
                .order_by(audit_log.c.id)
            )
        ).all()
        return PersonalData(
            driver=Driver.model_validate(driver._asdict()),
            users=[{"id": u.id, "email": u.email, "roles": u.roles, "active": u.active} for u in logins],
            vehicles=[Vehicle.model_validate(v._asdict()) for v in cars],
            rfid_tokens=[RfidToken.model_validate(t._asdict()) for t in cards],
            reservations=[await view(session, r, request) for r in booked],
            audit=[
                {"action": a.action, "entity": a.entity, "entity_id": a.entity_id, "at": a.at.isoformat()}
                for a in trail
            ],
        )


class ErasureReport(BaseModel):
    driver_id: str
    erased_at: datetime
    kept: str = Field(description="What is kept and why")
    cards_invalidated: int
    logins_removed: int


@router.delete("/drivers/{driver_id}", response_model=ErasureReport, tags=["privacy"])
async def erase_driver(driver_id: str, request: Request, principal: Privacy) -> ErasureReport:
    """Erasure (GDPR Art. 17): name, e-mail, phone, references, cards and logins go. Reservations
    and charge records stay, as tax law requires, under the driver's pseudonymous id only."""
    runtime = runtime_of(request)
    now = runtime.clock.now()
    async with runtime.db.transaction() as session:
        driver = await _driver(session, principal, driver_id, own_ok=True)
        if driver.erased_at is not None:
            raise Problem(409, "Erased already", f"Driver {driver_id} was erased at {driver.erased_at.isoformat()}")
        cards = (await session.execute(sa.select(rfid_tokens).where(rfid_tokens.c.driver_id == driver_id))).all()
        entries = [TokenEntry(id_token=c.id_token, status="Invalid") for c in cards]
        entries.append(TokenEntry(id_token=driver.app_token, status="Invalid"))
        await publish_tokens(session, emitter(session, runtime.outbox), entries)
        await session.execute(rfid_tokens.delete().where(rfid_tokens.c.driver_id == driver_id))
        removed = await session.execute(users.delete().where(users.c.driver_id == driver_id))
        await session.execute(
            drivers.update()
            .where(drivers.c.id == driver_id)
            .values(name=None, email=None, phone=None, external_ref=None, vehicle_ids=[], erased_at=now)
        )
        await audit(
            session,
            actor=principal.scope,
            tenant_id=driver.tenant_id,
            action="erased",
            entity="driver",
            entity_id=driver_id,
            at=now,
        )
    runtime.wake_relay()
    return ErasureReport(
        driver_id=driver_id,
        erased_at=now,
        cards_invalidated=len(cards),
        logins_removed=removed.rowcount or 0,
        kept="reservations and charge records under the pseudonymous driver id (tax law)",
    )


# --- bulk import and export ------------------------------------------------------------------------


class ImportReport(BaseModel):
    created: int
    ids: list[str]


class ExportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


BULK_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}


async def _rows_of(request: Request) -> list[dict[str, Any]]:
    raw = await request.body()
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    try:
        text = raw.decode("utf-8-sig")
        if kind == "text/csv":
            return [
                {k: v for k, v in row.items() if k is not None and v not in (None, "")}
                for row in csv.DictReader(io.StringIO(text))
            ]
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError, csv.Error) as exc:
        raise Problem(422, "Unreadable import", f"The body is not valid {kind}: {exc}") from None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise Problem(422, "Unreadable import", "A JSON import is an array of objects")
    return data


async def _import(
    request: Request, response: Response, principal: Principal, key: str | None, model: type[BaseModel], insert: Any
) -> Any:
    rows = await _rows_of(request)
    if len(rows) > 5000:
        raise Problem(422, "Too many rows", "At most 5000 rows per import; split the file")
    parsed, errors = [], []
    for n, row in enumerate(rows, start=1):
        try:
            parsed.append(
                model.model_validate(
                    {k: (json.loads(v) if k.endswith("_ids") and isinstance(v, str) else v) for k, v in row.items()}
                )
            )
        except (ValidationError, ValueError) as exc:
            errors.append({"field": f"row {n}", "message": str(exc).splitlines()[0:3].__str__(), "type": "value_error"})
    if errors:
        raise Problem(422, "Import refused", f"{len(errors)} rows are invalid; nothing was imported", errors=errors)

    async def work(session: AsyncSession) -> tuple[int, BaseModel]:
        ids = [str((await insert(session, item)).id) for item in parsed]
        return 201, ImportReport(created=len(ids), ids=ids)

    return await idempotent(request, response, principal, key, work)


def _export(items: list[BaseModel], fmt: ExportFormat, name: str) -> Response:
    dumped = [i.model_dump(mode="json") for i in items]
    if fmt is ExportFormat.JSON:
        return Response(json.dumps(dumped), media_type="application/json")
    out = io.StringIO()
    fields = list(type(items[0]).model_fields) if items else []
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    for row in dumped:
        writer.writerow({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in row.items() if k in fields})
    return Response(
        out.getvalue(), media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}.csv"'}
    )


EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
            "text/csv": {"schema": {"type": "string"}},
        }
    }
}


@bulk.post("/vehicles/import", status_code=201, response_model=ImportReport, responses=CREATED, openapi_extra=BULK_BODY)
async def import_vehicles(
    request: Request, response: Response, principal: Bulk, idempotency_key: IdempotencyKey = None
) -> Any:
    """An array of vehicles (JSON) or a CSV with the same columns; all or nothing."""
    now = runtime_of(request).clock.now()
    return await _import(
        request,
        response,
        principal,
        idempotency_key,
        VehicleRequest,
        lambda s, item: _insert_vehicle(s, principal, item, now),
    )


@bulk.post("/drivers/import", status_code=201, response_model=ImportReport, responses=CREATED, openapi_extra=BULK_BODY)
async def import_drivers(
    request: Request, response: Response, principal: Bulk, idempotency_key: IdempotencyKey = None
) -> Any:
    """vehicle_ids in a CSV is a JSON array, e.g. ["id1","id2"]."""
    now = runtime_of(request).clock.now()
    return await _import(
        request,
        response,
        principal,
        idempotency_key,
        DriverRequest,
        lambda s, item: _insert_driver(s, request, principal, item, now),
    )


@bulk.post(
    "/reservations/import", status_code=201, response_model=ImportReport, responses=CREATED, openapi_extra=BULK_BODY
)
async def import_reservations(
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(require(P.BULK))],
    idempotency_key: IdempotencyKey = None,
) -> Any:
    if not principal.can(P.RESERVATIONS_WRITE):
        raise Problem(403, "Forbidden", "Importing reservations needs reservations:write")
    return await _import(
        request,
        response,
        principal,
        idempotency_key,
        ReservationRequest,
        lambda s, item: create(s, request, principal, item, source="import"),
    )


@bulk.get("/vehicles/export", responses=EXPORT_RESPONSES)
async def export_vehicles(request: Request, principal: Bulk, format: ExportFormat = ExportFormat.JSON) -> Response:
    async with runtime_of(request).db.sessions() as session:
        rows = (
            await session.execute(
                sa.select(vehicles)
                .where(tenant_filter(vehicles, principal))
                .order_by(vehicles.c.created_at, vehicles.c.id)
            )
        ).all()
    return _export([Vehicle.model_validate(r._asdict()) for r in rows], format, "vehicles")


@bulk.get("/drivers/export", responses=EXPORT_RESPONSES)
async def export_drivers(request: Request, principal: Bulk, format: ExportFormat = ExportFormat.JSON) -> Response:
    async with runtime_of(request).db.sessions() as session:
        rows = (
            await session.execute(
                sa.select(drivers).where(tenant_filter(drivers, principal)).order_by(drivers.c.created_at, drivers.c.id)
            )
        ).all()
    return _export([Driver.model_validate(r._asdict()) for r in rows], format, "drivers")


@bulk.get("/reservations/export", responses=EXPORT_RESPONSES)
async def export_reservations(request: Request, principal: Bulk, format: ExportFormat = ExportFormat.JSON) -> Response:
    if not principal.can(P.RESERVATIONS_READ):
        raise Problem(403, "Forbidden", "Exporting reservations needs reservations:read")
    async with runtime_of(request).db.sessions() as session:
        rows = (
            await session.execute(
                sa.select(reservations)
                .where(tenant_filter(reservations, principal))
                .order_by(reservations.c.created_at, reservations.c.id)
            )
        ).all()
        items = [await view(session, r, request) for r in rows]
    return _export(items, format, "reservations")
