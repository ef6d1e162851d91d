"""REST /v1/stations: who may connect (needed when auto_register_unknown is off) and what we know."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from chargeyard_contracts.base import StationId
from chargeyard_platform.auth import ADMINISTRATOR, MAINTAINER, OPERATOR_ROLES, SITE_OPERATOR, requires
from chargeyard_platform.problems import Problem
from chargeyard_platform.runtime import runtime_of
from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from ..adapters.orm import connections, stations
from ..config import Settings
from ..domain.admission import SecurityProfile
from ..service_layer.credentials import set_credentials
from ..service_layer.journal import Journal

# Who may (the reservation API's roles): any operator role lists the stations; their OCPP journal
# is for administrators, site operators and maintainers; setting a station's security profile and
# password (which lets whoever knows it connect as the station) for administrators and site operators.
# The OCPP websocket server is not behind these: stations authenticate with their security profiles.
READ = requires(OPERATOR_ROLES, action="read stations")
JOURNAL = requires({ADMINISTRATOR, SITE_OPERATOR, MAINTAINER}, action="read a station's OCPP journal")
REGISTER = requires({ADMINISTRATOR, SITE_OPERATOR}, action="register stations or set their credentials")
router = APIRouter(prefix="/v1/stations", tags=["stations"])
StationPath = Annotated[StationId, Path(description="The station id of ws://HOST:9000/ocpp/{station_id}")]


class StationRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accepted: bool = Field(default=True, description="False keeps the station out (BootNotification Rejected)")
    vendor: str | None = Field(default=None, max_length=50)
    model: str | None = Field(default=None, max_length=50)
    serial_number: str | None = Field(default=None, max_length=50)
    security_profile: int | None = Field(
        default=None,
        ge=0,
        le=3,
        description="OCPP security profile: 0 none (dev), 1 HTTP Basic, 2 TLS + Basic, 3 mutual TLS "
        "(client certificate CN = station id). Unset: unchanged (0 for a new station).",
    )
    password: str | None = Field(
        default=None,
        min_length=16,
        max_length=40,
        json_schema_extra={"writeOnly": True},
        description="HTTP Basic password for profiles 1 and 2 (OCPP 2.0.1 A01: 16-40 characters); stored as "
        "an argon2id hash and never returned. The Basic username is the station id.",
    )


class Station(BaseModel):
    id: str
    accepted: bool
    ocpp_version: str | None
    vendor: str | None
    model: str | None
    serial_number: str | None
    firmware_version: str | None
    capabilities: dict[str, Any] | None
    evses: list[dict[str, Any]] | None
    last_seen_at: datetime | None
    registered_at: datetime | None
    connected: bool
    security_profile: int = 0
    password_set: bool = Field(default=False, description="A Basic password is stored (the hash is never shown)")

    @classmethod
    def of(cls, row: Any) -> Station:
        values = row._asdict()
        values["password_set"] = values.pop("password_hash", None) is not None
        return cls.model_validate(values)


def _query() -> sa.Select[Any]:
    return sa.select(stations, connections.c.station_id.is_not(None).label("connected")).outerjoin(
        connections, connections.c.station_id == stations.c.id
    )


@router.get("", response_model=list[Station], dependencies=[Depends(READ)])
async def list_stations(request: Request) -> list[Station]:
    async with runtime_of(request).db.sessions() as session:
        rows = (await session.execute(_query().order_by(stations.c.id))).all()
    return [Station.of(r) for r in rows]


@router.get("/{station_id}", response_model=Station, dependencies=[Depends(READ)])
async def get_station(request: Request, station_id: StationPath) -> Station:
    async with runtime_of(request).db.sessions() as session:
        row = (await session.execute(_query().where(stations.c.id == station_id))).first()
    if row is None:
        raise Problem(
            404, "Station not found", f"No station {station_id}; register it with PUT /v1/stations/{station_id}"
        )
    return Station.of(row)


@router.put(
    "/{station_id}",
    response_model=Station,
    responses={201: {"model": Station}},
    dependencies=[Depends(REGISTER)],
)
async def put_station(
    body: StationRegistration, request: Request, response: Response, station_id: StationPath
) -> Station:
    """Pre-register (or accept / refuse) a station and set its security profile and password;
    its next connection and BootNotification get the answer. Open connections are kept."""
    runtime = runtime_of(request)
    settings: Settings = runtime.settings  # type: ignore[assignment]
    now = runtime.clock.now()
    given = body.model_dump(exclude_unset=True, exclude={"security_profile", "password"})
    async with runtime.db.transaction() as session:
        exists = (
            await session.execute(
                sa.select(stations.c.security_profile, stations.c.password_hash).where(stations.c.id == station_id)
            )
        ).first()
        profile = (
            body.security_profile
            if body.security_profile is not None
            else (exists.security_profile if exists is not None else 0)
        )
        _check_security(
            settings,
            station_id,
            SecurityProfile(profile),
            has_password=body.password is not None or (exists is not None and exists.password_hash),
        )
        if exists is None:
            await session.execute(
                stations.insert().values(
                    id=station_id,
                    accepted=body.accepted,
                    vendor=body.vendor,
                    model=body.model,
                    serial_number=body.serial_number,
                    created_at=now,
                    updated_at=now,
                )
            )
            response.status_code = status.HTTP_201_CREATED
        else:
            await session.execute(stations.update().where(stations.c.id == station_id).values(**given, updated_at=now))
        await set_credentials(session, station_id, profile=SecurityProfile(profile), password=body.password, now=now)
        row = (await session.execute(_query().where(stations.c.id == station_id))).one()
    return Station.of(row)


def _check_security(settings: Settings, station_id: str, profile: SecurityProfile, *, has_password: bool) -> None:
    """Refuse a configuration the station could never connect with."""
    if profile < settings.minimum_security_profile:
        raise Problem(
            422,
            "Security profile too low",
            f"This gateway requires security profile {settings.minimum_security_profile} or higher; "
            "send security_profile with a password (1, 2) or use a client certificate (3)",
        )
    if profile.needs_password and not has_password:
        raise Problem(
            422,
            "Password required",
            f"Security profile {int(profile)} authenticates with HTTP Basic: send a password "
            f"(16-40 characters) for {station_id}",
        )
    if profile.needs_tls and settings.ocpp_tls_port is None:
        raise Problem(
            422,
            "No TLS listener",
            f"Security profile {int(profile)} needs wss://; set GATEWAY_OCPP_TLS_PORT and the TLS files",
        )
    if profile == SecurityProfile.MUTUAL_TLS and settings.tls_ca_file is None:
        raise Problem(
            422, "No client-certificate CA", "Security profile 3 verifies station certificates; set GATEWAY_TLS_CA_FILE"
        )


class JournalEntry(BaseModel):
    id: int
    at: datetime
    direction: str = Field(description='"in" from the station, "out" to it')
    message_type: str = Field(description="Call, CallResult, CallError or Malformed")
    unique_id: str | None
    action: str | None
    error_code: str | None = Field(description="Status errorCode (other than NoError), CallError code")
    vendor_error_code: str | None = Field(description="1.6 vendorErrorCode, 2.0.1 NotifyEvent techCode")
    frame: str = Field(description="The OCPP-J frame exactly as sent or received")


@router.get("/{station_id}/journal", response_model=list[JournalEntry], dependencies=[Depends(JOURNAL)])
async def get_journal(
    request: Request,
    station_id: StationPath,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[int | None, Query(description="Page back: entries with id below this")] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> list[JournalEntry]:
    """Every OCPP message of the station, newest first: the back office's event history."""
    runtime = runtime_of(request)
    journal: Journal = runtime.state["gateway"].journal
    rows = await journal.history(station_id, limit=limit, before=before, action=action)
    return [JournalEntry.model_validate(r._asdict()) for r in rows]
