"""Groups and third parties (the GreenFlux smart charging API), building load, site capacity,
prices and green energy, operator commands and priority requests."""

from __future__ import annotations

import csv
import io
import secrets
import uuid
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import sqlalchemy as sa
from chargeyard_contracts import CapacityUpdated, EnergyPricesPublished, StationCommandIssued
from chargeyard_contracts.base import SiteId, StationId, TransactionId, UtcDatetime
from chargeyard_contracts.commands import (
    ChangeAvailability,
    RemoteStop,
    Reset,
    ResetKind,
    UnlockConnector,
    UpdateFirmware,
)
from chargeyard_contracts.energy import (
    BuildingLoadReported,
    CapacityAllocationReported,
    CapacityFlexibilityReported,
    GreenEnergyPublished,
    GreenInterval,
    PriorityRequested,
    ProfileKind,
    ProfileUnit,
    SiteCapacityUpdated,
)
from chargeyard_contracts.planning import PriceInterval
from chargeyard_platform.problems import Problem
from chargeyard_platform.runtime import Runtime, runtime_of
from fastapi import APIRouter, Depends, Header, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from ..adapters.orm import (
    audit_log,
    capacity_profiles,
    firmware_rollout_stations,
    firmware_rollouts,
    group_evses,
    group_reports,
    groups,
    operator_commands,
    parties,
    party_groups,
    priority_requests,
    published_capacity,
    site_energy,
    sites,
    stations,
)
from ..control import apply_limits
from ..domain.groups import Interval, hash_key
from ..groups import ProfileRefused, audit, set_profile
from ..handlers import store_building_reading
from .access import MANAGE, PRIORITY, READ, Commander, Manager

router = APIRouter(prefix="/v1")
Current = Annotated[float, Field(ge=0)]


def _publisher(runtime: Runtime, session: AsyncSession) -> Any:
    return lambda event: runtime.outbox.add(session, event)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- building load and site capacity ---------------------------------------------------------------


class BuildingLoadBody(_Body):
    total_w: Annotated[int | None, Field(ge=0)] = None
    phase_a: tuple[Current, Current, Current] | None = Field(
        default=None, description="Current per grid phase L1, L2, L3"
    )
    measured_at: UtcDatetime | None = Field(default=None, description="Default: now")


@router.post(
    "/sites/{site_id}/building-load",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["load management"],
    response_model=SiteCapacityUpdated,
    dependencies=[Depends(MANAGE)],
)
async def post_building_load(site_id: str, body: BuildingLoadBody, request: Request) -> SiteCapacityUpdated:
    """A building meter reading (also accepted on the energy.building-load topic)."""
    runtime = runtime_of(request)
    now = runtime.clock.now()
    try:
        reading = BuildingLoadReported(
            site_id=site_id, total_w=body.total_w, phase_a=body.phase_a, measured_at=body.measured_at or now
        )
    except ValidationError as exc:
        raise Problem(422, "Reading is invalid", "Give total_w or phase_a") from exc
    async with runtime.db.transaction() as session:
        if (await session.execute(sa.select(sites.c.id).where(sites.c.id == site_id))).first() is None:
            raise Problem(404, "Site not found", f"No site with id {site_id}")
        if await store_building_reading(session, reading):
            await apply_limits(
                session,
                _publisher(runtime, session),
                runtime.settings,  # type: ignore[arg-type]
                site_id,
                now,
                budget_changed=True,
            )
    runtime.wake_relay()
    return await get_capacity(site_id, request)


@router.get(
    "/sites/{site_id}/capacity",
    response_model=SiteCapacityUpdated,
    tags=["load management"],
    dependencies=[Depends(READ)],
)
async def get_capacity(site_id: str, request: Request) -> SiteCapacityUpdated:
    """The capacity last published for the site's plan, with the EVSEs counted as not obeying."""
    runtime = runtime_of(request)
    async with runtime.db.sessions() as session:
        found = (
            await session.execute(sa.select(published_capacity.c.event).where(published_capacity.c.site_id == site_id))
        ).scalar()
    if found is None:
        raise Problem(404, "No capacity yet", f"Site {site_id} has no published capacity (no stations placed?)")
    return SiteCapacityUpdated.model_validate_json(found)


# --- groups, parties, capacity profiles ------------------------------------------------------------


class EvseRef(_Body):
    station_id: str = Field(min_length=1, max_length=48)
    evse_id: int = Field(ge=1)


class GroupBody(_Body):
    name: str = Field(min_length=1, max_length=200)
    strategy: Literal["fcfs", "economic", "green"] = "fcfs"
    settings: dict[str, Any] = Field(default_factory=dict)
    evses: list[EvseRef] = Field(min_length=1, description="Any EVSEs, on any sites (at least one)")


class Group(GroupBody):
    group_id: str


@router.put("/groups/{group_id}", response_model=Group, tags=["groups"], dependencies=[Depends(MANAGE)])
async def put_group(group_id: str, body: GroupBody, request: Request) -> Group:
    runtime = runtime_of(request)
    now = runtime.clock.now()
    async with runtime.db.transaction() as session:
        placed = {
            (s.id, e)
            for s in (await session.execute(sa.select(stations.c.id, stations.c.evse_ids))).all()
            for e in s.evse_ids
        }
        unknown = [f"{e.station_id}/{e.evse_id}" for e in body.evses if (e.station_id, e.evse_id) not in placed]
        if unknown:
            raise Problem(
                422,
                "Unknown EVSEs",
                f"Not placed on any site: {', '.join(unknown)}",
                errors=[{"field": "evses", "message": f"unknown EVSE {u}"} for u in unknown],
            )
        before = await _sites_of(session, group_id)
        values = dict(name=body.name, strategy=body.strategy, settings=body.settings, updated_at=now)
        if (await session.execute(groups.update().where(groups.c.id == group_id).values(**values))).rowcount == 0:
            await session.execute(groups.insert().values(id=group_id, **values))
        await session.execute(group_evses.delete().where(group_evses.c.group_id == group_id))
        for e in {(e.station_id, e.evse_id) for e in body.evses}:
            await session.execute(group_evses.insert().values(group_id=group_id, station_id=e[0], evse_id=e[1]))
        for site_id in sorted(before | await _sites_of(session, group_id)):
            await apply_limits(
                session,
                _publisher(runtime, session),
                runtime.settings,  # type: ignore[arg-type]
                site_id,
                now,
            )
    runtime.wake_relay()
    return Group(group_id=group_id, **body.model_dump())


async def _sites_of(session: AsyncSession, group_id: str) -> set[str]:
    rows = (
        await session.execute(
            sa.select(stations.c.site_id)
            .join(group_evses, group_evses.c.station_id == stations.c.id)
            .where(group_evses.c.group_id == group_id)
        )
    ).all()
    return {r.site_id for r in rows}


@router.get("/groups", response_model=list[Group], tags=["groups"], dependencies=[Depends(READ)])
async def list_groups(request: Request) -> list[Group]:
    runtime = runtime_of(request)
    async with runtime.db.sessions() as session:
        rows = (await session.execute(sa.select(groups).order_by(groups.c.id))).all()
        members = (await session.execute(sa.select(group_evses))).all()
    return [
        Group(
            group_id=g.id,
            name=g.name,
            strategy=g.strategy,
            settings=g.settings,
            evses=[EvseRef(station_id=m.station_id, evse_id=m.evse_id) for m in members if m.group_id == g.id],
        )
        for g in rows
    ]


class PartyBody(_Body):
    name: str = Field(min_length=1, max_length=200)
    role: Literal["dso", "trader", "ems"]
    group_ids: list[str] = Field(min_length=1, description="The groups this party may steer")


class PartyCreated(BaseModel):
    party_id: str
    name: str
    role: str
    group_ids: list[str]
    api_key: str = Field(description="Shown once: only its hash is kept")


@router.post(
    "/parties",
    response_model=PartyCreated,
    status_code=status.HTTP_201_CREATED,
    tags=["groups"],
    dependencies=[Depends(MANAGE)],
)
async def create_party(body: PartyBody, request: Request) -> PartyCreated:
    """A DSO, trader or local EMS with an API key scoped to groups."""
    runtime = runtime_of(request)
    party_id = f"party-{uuid.uuid4().hex[:12]}"
    api_key = f"cy_{secrets.token_urlsafe(32)}"
    async with runtime.db.transaction() as session:
        known = set((await session.execute(sa.select(groups.c.id))).scalars().all())
        missing = [g for g in body.group_ids if g not in known]
        if missing:
            raise Problem(
                422,
                "Unknown groups",
                f"No groups {', '.join(missing)}; create them first",
                errors=[{"field": "group_ids", "message": f"unknown group {g}"} for g in missing],
            )
        await session.execute(
            parties.insert().values(
                id=party_id, name=body.name, role=body.role, key_hash=hash_key(api_key), created_at=runtime.clock.now()
            )
        )
        for g in sorted(set(body.group_ids)):
            await session.execute(party_groups.insert().values(party_id=party_id, group_id=g))
    return PartyCreated(party_id=party_id, name=body.name, role=body.role, group_ids=body.group_ids, api_key=api_key)


class IntervalBody(_Body):
    start: UtcDatetime
    end: UtcDatetime
    value: float = Field(description="In the profile's unit (A per phase, kW or W)")


class CapacityProfileBody(_Body):
    kind: ProfileKind = ProfileKind.LIMIT
    unit: ProfileUnit = ProfileUnit.KILOWATTS
    intervals: list[IntervalBody] = Field(min_length=1)


class CapacityProfile(CapacityProfileBody):
    group_id: str
    set_by: str
    updated_at: UtcDatetime


@router.put("/groups/{group_id}/capacity-profile", response_model=CapacityUpdated, tags=["groups"])
async def put_capacity_profile(
    group_id: str, body: CapacityProfileBody, request: Request, x_api_key: Annotated[str | None, Header()] = None
) -> CapacityUpdated:
    """A capacity limit or power setpoint profile for a group, by a third party (X-API-Key).
    Intervals of at least a minute, without gaps or overlaps; the new profile replaces the old
    one entirely. Every attempt is kept in the group's audit log."""
    runtime = runtime_of(request)
    now = runtime.clock.now()
    intervals = [Interval(i.start, i.end, i.value) for i in body.intervals]
    detail = {
        "kind": body.kind.value,
        "unit": body.unit.value,
        "intervals": len(intervals),
        "first_start": intervals[0].start.isoformat(),
        "last_end": intervals[-1].end.isoformat(),
    }
    try:
        async with runtime.db.transaction() as session:
            event = await set_profile(
                session,
                _publisher(runtime, session),
                runtime.settings,  # type: ignore[arg-type]
                api_key=x_api_key,
                group_id=group_id,
                kind=body.kind.value,
                unit=body.unit.value,
                intervals=intervals,
                now=now,
            )
            await audit(
                session,
                now=now,
                party_id=event.set_by,
                group_id=group_id,
                channel="rest",
                action="capacity-profile",
                accepted=True,
                detail=detail,
            )
    except ProfileRefused as exc:
        async with runtime.db.transaction() as session:
            await audit(
                session,
                now=now,
                party_id=exc.extra.get("party_id"),
                group_id=group_id,
                channel="rest",
                action="capacity-profile",
                accepted=False,
                detail=detail | {"status": exc.status, "reason": exc.detail},
            )
        extra = {k: v for k, v in exc.extra.items() if k != "party_id"}
        raise Problem(exc.status, exc.title, exc.detail, **extra) from exc
    runtime.wake_relay()
    return event


@router.get(
    "/groups/{group_id}/capacity-profile", response_model=CapacityProfile, tags=["groups"], dependencies=[Depends(READ)]
)
async def get_capacity_profile(group_id: str, request: Request) -> CapacityProfile:
    runtime = runtime_of(request)
    async with runtime.db.sessions() as session:
        row = (
            await session.execute(sa.select(capacity_profiles).where(capacity_profiles.c.group_id == group_id))
        ).first()
    if row is None:
        raise Problem(404, "No capacity profile", f"Group {group_id} has no capacity profile")
    return CapacityProfile(
        group_id=group_id,
        kind=row.kind,
        unit=row.unit,
        set_by=row.set_by,
        updated_at=row.updated_at,
        intervals=[IntervalBody(start=a, end=b, value=v) for a, b, v, _w in row.intervals],
    )


class AuditEntry(BaseModel):
    at: datetime
    party_id: str | None
    group_id: str | None
    channel: str
    action: str
    accepted: bool
    detail: dict[str, Any]


@router.get("/groups/{group_id}/audit", response_model=list[AuditEntry], tags=["groups"], dependencies=[Depends(READ)])
async def get_audit(group_id: str, request: Request) -> list[AuditEntry]:
    """Every change (and refused attempt) by a third party, oldest first."""
    runtime = runtime_of(request)
    async with runtime.db.sessions() as session:
        rows = (
            await session.execute(sa.select(audit_log).where(audit_log.c.group_id == group_id).order_by(audit_log.c.id))
        ).all()
    return [
        AuditEntry(
            at=r.at,
            party_id=r.party_id,
            group_id=r.group_id,
            channel=r.channel,
            action=r.action,
            accepted=r.accepted,
            detail=r.detail,
        )
        for r in rows
    ]


async def _report(request: Request, group_id: str, kind: str) -> str:
    runtime = runtime_of(request)
    async with runtime.db.sessions() as session:
        found = (
            await session.execute(
                sa.select(group_reports.c.event)
                .where(group_reports.c.group_id == group_id)
                .where(group_reports.c.kind == kind)
            )
        ).scalar()
    if found is None:
        raise Problem(404, f"No {kind} yet", f"Group {group_id} has no {kind} report yet")
    return str(found)


@router.get(
    "/groups/{group_id}/flexibility",
    response_model=CapacityFlexibilityReported,
    tags=["groups"],
    dependencies=[Depends(READ)],
)
async def get_flexibility(group_id: str, request: Request) -> CapacityFlexibilityReported:
    return CapacityFlexibilityReported.model_validate_json(await _report(request, group_id, "flexibility"))


@router.get(
    "/groups/{group_id}/allocation",
    response_model=CapacityAllocationReported,
    tags=["groups"],
    dependencies=[Depends(READ)],
)
async def get_allocation(group_id: str, request: Request) -> CapacityAllocationReported:
    return CapacityAllocationReported.model_validate_json(await _report(request, group_id, "allocation"))


# --- prices and green energy -----------------------------------------------------------------------


class PriceBody(_Body):
    currency: str = Field(min_length=3, max_length=3, examples=["EUR"])
    intervals: list[PriceInterval] = Field(min_length=1)


async def _publish_site_energy(request: Request, site_id: str, kind: str, event: Any) -> None:
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        if (await session.execute(sa.select(sites.c.id).where(sites.c.id == site_id))).first() is None:
            raise Problem(404, "Site not found", f"No site with id {site_id}")
        await session.execute(
            site_energy.delete().where(site_energy.c.site_id == site_id).where(site_energy.c.kind == kind)
        )
        await session.execute(
            site_energy.insert().values(
                site_id=site_id, kind=kind, event=event.model_dump_json(), published_at=runtime.clock.now()
            )
        )
        await runtime.outbox.add(session, event)
    runtime.wake_relay()


def _ordered(intervals: list[Any]) -> None:
    for i, interval in enumerate(intervals):
        if interval.end <= interval.start:
            raise Problem(
                422,
                "Interval is invalid",
                f"intervals[{i}]: end is not after start",
                errors=[{"field": f"intervals.{i}", "message": "end is not after start"}],
            )
        if i and interval.start < intervals[i - 1].end:
            raise Problem(
                422,
                "Intervals overlap",
                f"intervals[{i}] starts before intervals[{i - 1}] ends",
                errors=[{"field": f"intervals.{i}", "message": "overlaps the previous interval"}],
            )


@router.post(
    "/sites/{site_id}/prices",
    response_model=EnergyPricesPublished,
    status_code=status.HTTP_201_CREATED,
    tags=["energy"],
    dependencies=[Depends(MANAGE)],
)
async def post_prices(site_id: SiteId, body: PriceBody, request: Request) -> EnergyPricesPublished:
    """Day-ahead or time-of-use prices per kWh, published on energy.prices for the scheduler."""
    _ordered(body.intervals)
    event = EnergyPricesPublished(
        site_id=site_id,
        currency=body.currency.upper(),
        intervals=tuple(body.intervals),
        published_at=runtime_of(request).clock.now(),
    )
    await _publish_site_energy(request, site_id, "prices", event)
    return event


@router.post(
    "/sites/{site_id}/prices.csv",
    response_model=EnergyPricesPublished,
    status_code=status.HTTP_201_CREATED,
    tags=["energy"],
    dependencies=[Depends(MANAGE)],
)
async def post_prices_csv(site_id: SiteId, request: Request, currency: str = "EUR") -> EnergyPricesPublished:
    """CSV import, one interval a line: `start,end,price_per_kwh[,renewable_share]` (a header line is
    optional; times ISO 8601 with offset; price a decimal)."""
    text = (await request.body()).decode("utf-8-sig")
    intervals = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not "".join(row).strip() or (number == 1 and row[0].strip().lower() == "start"):
            continue
        try:
            if len(row) not in (3, 4):
                raise ValueError(f"{len(row)} columns, expected 3 or 4")
            Decimal(row[2].strip())
            intervals.append(
                PriceInterval(
                    start=row[0].strip(),
                    end=row[1].strip(),
                    price_per_kwh=row[2].strip(),
                    renewable_share=float(row[3]) if len(row) == 4 and row[3].strip() else None,
                )
            )
        except (ValueError, InvalidOperation, ValidationError) as exc:
            raise Problem(
                422,
                "CSV line is invalid",
                f"line {number}: {exc}",
                errors=[{"field": f"line {number}", "message": str(exc)}],
            ) from exc
    if not intervals:
        raise Problem(422, "CSV is empty", "Send at least one line start,end,price_per_kwh")
    return await post_prices(site_id, PriceBody(currency=currency, intervals=intervals), request)


class GreenBody(_Body):
    forecast: bool = True
    intervals: list[GreenInterval] = Field(min_length=1)


@router.post(
    "/sites/{site_id}/green",
    response_model=GreenEnergyPublished,
    status_code=status.HTTP_201_CREATED,
    tags=["energy"],
    dependencies=[Depends(MANAGE)],
)
async def post_green(site_id: SiteId, body: GreenBody, request: Request) -> GreenEnergyPublished:
    """On-site PV production or forecast, grid renewable share or marginal emissions (energy.green)."""
    _ordered(body.intervals)
    event = GreenEnergyPublished(
        site_id=site_id,
        forecast=body.forecast,
        intervals=tuple(body.intervals),
        published_at=runtime_of(request).clock.now(),
    )
    await _publish_site_energy(request, site_id, "green", event)
    return event


# --- operator commands -----------------------------------------------------------------------------


class CommandAccepted(BaseModel):
    command_id: str
    station_id: str
    command: dict[str, Any]
    issued_by: str = Field(description="Who sent it, as authenticated: user:<id> or api_key:<id>")
    outcome: str | None = None
    detail: str | None = None


class ResetBody(_Body):
    kind: ResetKind = ResetKind.SOFT


class AvailabilityBody(_Body):
    evse_id: int = Field(default=0, ge=0, description="0 = the whole station")
    operative: bool


class UnlockBody(_Body):
    evse_id: int = Field(ge=1)
    connector_id: int = Field(default=1, ge=1)


async def _record(
    session: AsyncSession, runtime: Runtime, command: Any, issued_by: str, now: datetime, command_id: str | None = None
) -> str:
    """One operator command: kept with its issuer (its outcome follows from station.command-results)
    and put on station.commands through the outbox, in the caller's transaction."""
    command_id = command_id or f"op:{uuid.uuid4().hex}"
    await session.execute(
        operator_commands.insert().values(
            command_id=command_id,
            station_id=command.station_id,
            command=command.model_dump(mode="json"),
            issued_by=issued_by,
            issued_at=now,
        )
    )
    await runtime.outbox.add(
        session, StationCommandIssued(command_id=command_id, station_id=command.station_id, command=command)
    )
    return command_id


async def _issue(request: Request, station_id: str, command: Any, issued_by: str) -> CommandAccepted:
    runtime = runtime_of(request)
    now = runtime.clock.now()
    async with runtime.db.transaction() as session:
        if (await session.execute(sa.select(stations.c.id).where(stations.c.id == station_id))).first() is None:
            raise Problem(404, "Station not found", f"Station {station_id} is not placed on any site")
        command_id = await _record(session, runtime, command, issued_by, now)
    runtime.wake_relay()
    return CommandAccepted(
        command_id=command_id, station_id=station_id, command=command.model_dump(mode="json"), issued_by=issued_by
    )


@router.post(
    "/stations/{station_id}/reset",
    response_model=CommandAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    tags=["operator commands"],
)
async def reset(station_id: str, body: ResetBody, request: Request, caller: Commander) -> CommandAccepted:
    return await _issue(request, station_id, Reset(station_id=station_id, kind=body.kind), caller.label)


@router.post(
    "/stations/{station_id}/availability",
    response_model=CommandAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    tags=["operator commands"],
)
async def availability(station_id: str, body: AvailabilityBody, request: Request, caller: Commander) -> CommandAccepted:
    return await _issue(
        request,
        station_id,
        ChangeAvailability(station_id=station_id, evse_id=body.evse_id, operative=body.operative),
        caller.label,
    )


@router.post(
    "/stations/{station_id}/unlock",
    response_model=CommandAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    tags=["operator commands"],
)
async def unlock(station_id: str, body: UnlockBody, request: Request, caller: Commander) -> CommandAccepted:
    return await _issue(
        request,
        station_id,
        UnlockConnector(station_id=station_id, evse_id=body.evse_id, connector_id=body.connector_id),
        caller.label,
    )


class RemoteStopBody(_Body):
    transaction_id: TransactionId = Field(description="The session's transaction id, as the station reported it")


@router.post(
    "/stations/{station_id}/remote-stop",
    response_model=CommandAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    tags=["operator commands"],
)
async def remote_stop(station_id: str, body: RemoteStopBody, request: Request, caller: Commander) -> CommandAccepted:
    """Stop a running session (OCPP 1.6 RemoteStopTransaction, 2.0.1 RequestStopTransaction F03).
    Accepted means the station will stop it; the transaction's end follows on transaction.events."""
    return await _issue(
        request, station_id, RemoteStop(station_id=station_id, transaction_id=body.transaction_id), caller.label
    )


# --- firmware roll-outs ----------------------------------------------------------------------------

FIRMWARE_SCHEMES = ("http", "https", "ftp", "ftps", "sftp")
RETRIEVE_GRACE = timedelta(minutes=5)
"""A retrieve time this little in the past is "now" (a form filled in a minute ago); older is a mistake."""


class FirmwareRolloutBody(_Body):
    location: str = Field(
        min_length=1,
        max_length=512,
        description="Where the stations download the firmware: an http(s) or ftp(s) URL (OCPP 1.6 §6.52 location, "
        "2.0.1 FirmwareType.location, at most 512 characters)",
    )
    retrieve_at: UtcDatetime | None = Field(default=None, description="When the stations download it; default now")
    station_ids: list[StationId] | None = Field(
        default=None, max_length=10_000, description="These stations (give this or site_id)"
    )
    site_id: SiteId | None = Field(default=None, description="All stations placed on this site (or station_ids)")
    retries: int | None = Field(default=None, ge=0, le=100)
    retry_interval_s: int | None = Field(default=None, ge=0, le=86_400)


class RolloutStation(BaseModel):
    station_id: str
    command_id: str
    request_id: int
    outcome: str | None = Field(description="The UpdateFirmware answer: Accepted, Rejected, Offline, TimedOut...")
    detail: str | None
    completed_at: datetime | None


class FirmwareRollout(BaseModel):
    rollout_id: str
    location: str
    retrieve_at: datetime
    site_id: str | None
    retries: int | None
    retry_interval_s: int | None
    created_by: str
    created_at: datetime
    stations: list[RolloutStation]


def _field_error(field: str, title: str, message: str) -> Problem:
    return Problem(422, title, f"{field}: {message}", errors=[{"field": field, "message": message}])


def _check_location(location: str) -> None:
    parts = urlsplit(location.strip())
    if parts.scheme.lower() not in FIRMWARE_SCHEMES or not parts.hostname:
        raise _field_error(
            "location",
            "Firmware location is invalid",
            f"{location!r} is not a URL the stations can download from; give an "
            f"{', '.join(FIRMWARE_SCHEMES)} URL with a host, e.g. https://updates.example.com/fw-2.1.bin",
        )


@router.post(
    "/firmware-rollouts",
    response_model=FirmwareRollout,
    status_code=status.HTTP_201_CREATED,
    tags=["operator commands"],
)
async def create_rollout(body: FirmwareRolloutBody, request: Request, caller: Manager) -> FirmwareRollout:
    """Schedule a firmware update on a chosen set of stations, or on every station of a site: one
    UpdateFirmware per station, sent now, to download at retrieve_at. Each station's answer is in
    `stations[].outcome`; its FirmwareStatusNotifications (Downloading ... Installed) go to
    station.events as FirmwareStatusChanged (2.0.1 with the roll-out's request_id)."""
    runtime = runtime_of(request)
    now = runtime.clock.now()
    if (body.station_ids is None) == (body.site_id is None):
        raise _field_error("station_ids", "Choose the stations", "give either station_ids or site_id, not both")
    if body.station_ids is not None and not body.station_ids:
        raise _field_error("station_ids", "Choose the stations", "the list is empty; choose at least one station")
    _check_location(body.location)
    retrieve_at = body.retrieve_at or now
    if retrieve_at < now - RETRIEVE_GRACE:
        raise _field_error(
            "retrieve_at",
            "Retrieve time is in the past",
            f"{retrieve_at.isoformat()} is before now ({now.isoformat()}); give a later time, or none to start now",
        )
    rollout_id = f"fw-{uuid.uuid4().hex[:12]}"
    async with runtime.db.transaction() as session:
        if body.site_id is not None:
            if (await session.execute(sa.select(sites.c.id).where(sites.c.id == body.site_id))).first() is None:
                raise _field_error("site_id", "Unknown site", f"no site {body.site_id}")
            chosen = list(
                (
                    await session.execute(
                        sa.select(stations.c.id).where(stations.c.site_id == body.site_id).order_by(stations.c.id)
                    )
                ).scalars()
            )
            if not chosen:
                raise _field_error("site_id", "No stations on the site", f"site {body.site_id} has no stations placed")
        else:
            chosen = sorted(set(body.station_ids or []))
            placed = set(
                (await session.execute(sa.select(stations.c.id).where(stations.c.id.in_(chosen)))).scalars().all()
            )
            unknown = [s for s in chosen if s not in placed]
            if unknown:
                raise Problem(
                    422,
                    "Unknown stations",
                    f"station_ids: not placed on any site: {', '.join(unknown)}",
                    errors=[{"field": "station_ids", "message": f"unknown station {s}"} for s in unknown],
                )
        await session.execute(
            firmware_rollouts.insert().values(
                id=rollout_id,
                location=body.location.strip(),
                retrieve_at=retrieve_at,
                site_id=body.site_id,
                retries=body.retries,
                retry_interval_s=body.retry_interval_s,
                created_by=caller.label,
                created_at=now,
            )
        )
        for station_id in chosen:
            # OCPP 2.0.1 L01: the requestId comes back on every FirmwareStatusNotification of this update.
            request_id = secrets.randbelow(2**31 - 2) + 1
            command = UpdateFirmware(
                station_id=station_id,
                location=body.location.strip(),
                retrieve_at=retrieve_at,
                request_id=request_id,
                retries=body.retries,
                retry_interval_s=body.retry_interval_s,
            )
            command_id = await _record(session, runtime, command, caller.label, now, f"fw:{uuid.uuid4().hex}")
            await session.execute(
                firmware_rollout_stations.insert().values(
                    rollout_id=rollout_id, station_id=station_id, command_id=command_id, request_id=request_id
                )
            )
    runtime.wake_relay()
    return await get_rollout(rollout_id, request)


async def _rollouts(session: AsyncSession, query: sa.Select[Any]) -> list[FirmwareRollout]:
    found = (await session.execute(query)).all()
    if not found:
        return []
    r, o = firmware_rollout_stations.c, operator_commands.c
    members = (
        await session.execute(
            sa.select(r.rollout_id, r.station_id, r.command_id, r.request_id, o.outcome, o.detail, o.completed_at)
            .join(operator_commands, o.command_id == r.command_id)
            .where(r.rollout_id.in_([f.id for f in found]))
            .order_by(r.station_id)
        )
    ).all()
    return [
        FirmwareRollout(
            rollout_id=f.id,
            location=f.location,
            retrieve_at=f.retrieve_at,
            site_id=f.site_id,
            retries=f.retries,
            retry_interval_s=f.retry_interval_s,
            created_by=f.created_by,
            created_at=f.created_at,
            stations=[
                RolloutStation(
                    station_id=m.station_id,
                    command_id=m.command_id,
                    request_id=m.request_id,
                    outcome=m.outcome,
                    detail=m.detail,
                    completed_at=m.completed_at,
                )
                for m in members
                if m.rollout_id == f.id
            ],
        )
        for f in found
    ]


@router.get(
    "/firmware-rollouts", response_model=list[FirmwareRollout], tags=["operator commands"], dependencies=[Depends(READ)]
)
async def list_rollouts(
    request: Request,
    site_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> list[FirmwareRollout]:
    """The latest roll-outs, newest first."""
    query = sa.select(firmware_rollouts).order_by(firmware_rollouts.c.created_at.desc()).limit(limit)
    if site_id:
        query = query.where(firmware_rollouts.c.site_id == site_id)
    async with runtime_of(request).db.sessions() as session:
        return await _rollouts(session, query)


@router.get(
    "/firmware-rollouts/{rollout_id}",
    response_model=FirmwareRollout,
    tags=["operator commands"],
    dependencies=[Depends(READ)],
)
async def get_rollout(rollout_id: str, request: Request) -> FirmwareRollout:
    async with runtime_of(request).db.sessions() as session:
        found = await _rollouts(session, sa.select(firmware_rollouts).where(firmware_rollouts.c.id == rollout_id))
    if not found:
        raise Problem(404, "Roll-out not found", f"No firmware roll-out {rollout_id}")
    return found[0]


@router.get(
    "/commands/{command_id}", response_model=CommandAccepted, tags=["operator commands"], dependencies=[Depends(READ)]
)
async def get_command(command_id: str, request: Request) -> CommandAccepted:
    """An operator command and how it ended (from station.command-results)."""
    runtime = runtime_of(request)
    async with runtime.db.sessions() as session:
        row = (
            await session.execute(sa.select(operator_commands).where(operator_commands.c.command_id == command_id))
        ).first()
    if row is None:
        raise Problem(404, "Command not found", f"No operator command {command_id}")
    return CommandAccepted(
        command_id=row.command_id,
        station_id=row.station_id,
        command=row.command,
        issued_by=row.issued_by,
        outcome=row.outcome,
        detail=row.detail,
    )


# --- priority requests -----------------------------------------------------------------------------


class PriorityBody(_Body):
    site_id: SiteId
    reservation_id: str = Field(min_length=1, max_length=64)
    priority: int = Field(ge=1, le=10, description="What the driver asks for")
    reason: str | None = Field(default=None, max_length=500)
    requested_by: str = Field(min_length=1, max_length=100, description="The driver's pseudonym or the app")


@router.post(
    "/priority-requests",
    response_model=PriorityRequested,
    status_code=status.HTTP_201_CREATED,
    tags=["priority"],
    dependencies=[Depends(PRIORITY)],
)
async def request_priority(body: PriorityBody, request: Request) -> PriorityRequested:
    """A driver in a hurry. The granted priority is capped by the site's max_priority; the scheduler
    raises the reservation's priority (charging.priority). Every request is kept."""
    runtime = runtime_of(request)
    now = runtime.clock.now()
    async with runtime.db.transaction() as session:
        site = (await session.execute(sa.select(sites.c.max_priority).where(sites.c.id == body.site_id))).first()
        if site is None:
            raise Problem(404, "Site not found", f"No site with id {body.site_id}")
        event = PriorityRequested(
            request_id=uuid.uuid4().hex,
            site_id=body.site_id,
            reservation_id=body.reservation_id,
            requested=body.priority,
            granted=min(body.priority, site.max_priority),
            reason=body.reason,
            requested_by=body.requested_by,
            requested_at=now,
        )
        await session.execute(
            priority_requests.insert().values(
                id=event.request_id,
                site_id=event.site_id,
                reservation_id=event.reservation_id,
                requested=event.requested,
                granted=event.granted,
                reason=event.reason,
                requested_by=event.requested_by,
                requested_at=now,
            )
        )
        await runtime.outbox.add(session, event)
    runtime.wake_relay()
    return event


@router.get(
    "/priority-requests", response_model=list[PriorityRequested], tags=["priority"], dependencies=[Depends(READ)]
)
async def priority_history(
    request: Request, site_id: str | None = None, reservation_id: str | None = None
) -> list[PriorityRequested]:
    runtime = runtime_of(request)
    query = sa.select(priority_requests).order_by(priority_requests.c.requested_at)
    if site_id:
        query = query.where(priority_requests.c.site_id == site_id)
    if reservation_id:
        query = query.where(priority_requests.c.reservation_id == reservation_id)
    async with runtime.db.sessions() as session:
        rows = (await session.execute(query)).all()
    return [
        PriorityRequested(
            request_id=r.id,
            site_id=r.site_id,
            reservation_id=r.reservation_id,
            requested=r.requested,
            granted=r.granted,
            reason=r.reason,
            requested_by=r.requested_by,
            requested_at=r.requested_at,
        )
        for r in rows
    ]
