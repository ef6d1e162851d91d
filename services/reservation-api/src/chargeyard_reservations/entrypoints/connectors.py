"""Identification at the connector: a QR code per connector that the app scans to start its
driver's reservation there (a remote start through station.commands)."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import quote

import segno
import sqlalchemy as sa
from chargeyard_contracts.commands import RemoteStart, StationCommandIssued
from chargeyard_platform.problems import Problem
from chargeyard_platform.runtime import runtime_of
from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from ..adapters.orm import drivers, reservations, sites
from ..domain.access import Permission, Principal
from ..domain.reservations import OPEN
from ..lifecycle import change, emitter
from .api import view, visible
from .common import ERRORS, IdempotencyKey, ProblemRoute, audit, idempotent, not_found, require, settings_of
from .views import Reservation

P = Permission
router = APIRouter(prefix="/v1", tags=["connectors"], route_class=ProblemRoute, responses=ERRORS)
StationPath = Annotated[str, Path(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9._:-]+$")]
EvsePath = Annotated[int, Path(ge=1, le=1000)]


class QrFormat(StrEnum):
    SVG = "svg"
    PNG = "png"


async def _site_of_connector(session: AsyncSession, principal: Principal, station_id: str, evse_id: int) -> Any:
    """The connector must be on one of the caller's tenant's sites (topology from the energy manager)."""
    for site in (await session.execute(sa.select(sites))).all():
        if not (principal.all_tenants or site.tenant_id == principal.tenant_id):
            continue
        for station in site.stations or []:
            if station.get("station_id") == station_id and evse_id in station.get("evse_ids", [1]):
                return site
    raise not_found("Connector", f"{station_id}/{evse_id}")


def qr_content(public_url: str, station_id: str, evse_id: int) -> str:
    return f"{public_url.rstrip('/')}/v1/connectors/{quote(station_id)}/{evse_id}/start"


@router.get(
    "/connectors/{station_id}/{evse_id}/qr",
    responses={
        200: {
            "content": {
                "image/svg+xml": {"schema": {"type": "string"}},
                "image/png": {"schema": {"type": "string", "format": "binary"}},
            }
        }
    },
)
async def connector_qr(
    station_id: StationPath,
    evse_id: EvsePath,
    request: Request,
    principal: Annotated[Principal, Depends(require(P.CONNECTORS_READ))],
    format: QrFormat = QrFormat.SVG,
) -> Response:
    """The QR code to stick on the connector: the URL the app posts to when scanned."""
    async with runtime_of(request).db.sessions() as session:
        await _site_of_connector(session, principal, station_id, evse_id)
    code = segno.make(qr_content(settings_of(request).public_url, station_id, evse_id), error="m")
    out = io.BytesIO()
    if format is QrFormat.PNG:
        code.save(out, kind="png", scale=8, border=4)
        return Response(out.getvalue(), media_type="image/png")
    code.save(out, kind="svg", scale=8, border=4, xmldecl=False)
    return Response(out.getvalue(), media_type="image/svg+xml")


class StartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reservation_id: str | None = Field(
        default=None, max_length=64, description="Which reservation; by default the driver's next one at the site"
    )


class Started(BaseModel):
    command_id: str
    reservation: Reservation


@router.post(
    "/connectors/{station_id}/{evse_id}/start",
    status_code=202,
    response_model=Started,
    responses={200: {"description": "A replay: the same Idempotency-Key and body as an earlier request"}},
)
async def start_at_connector(
    station_id: StationPath,
    evse_id: EvsePath,
    body: StartRequest,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(require(P.CONNECTORS_START))],
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """What a QR scan posts: starts the driver's reservation on this connector (a RemoteStart with
    the driver's app token, which the gateway knows from tokens.updated)."""

    async def work(session: AsyncSession) -> tuple[int, Any]:
        runtime = runtime_of(request)
        now = runtime.clock.now()
        site = await _site_of_connector(session, principal, station_id, evse_id)
        query = (
            sa.select(reservations)
            .where(visible(principal))
            .where(reservations.c.site_id == site.id)
            .where(reservations.c.status.in_([*(s.value for s in OPEN), "arrived"]))
            .where(reservations.c.arrival <= now + timedelta(hours=1))
            .where(reservations.c.departure > now)
        )
        if body.reservation_id:
            query = query.where(reservations.c.id == body.reservation_id)
        elif principal.driver_id:
            query = query.where(reservations.c.driver_id == principal.driver_id)
        else:
            raise Problem(
                422,
                "Which reservation?",
                "Only a driver's scan finds its reservation; name reservation_id",
                errors=[{"field": "reservation_id", "message": "required here", "type": "missing"}],
            )
        mine = (reservations.c.assigned_station_id == station_id) & (reservations.c.assigned_evse_id == evse_id)
        row = (await session.execute(query.order_by(sa.case((mine, 0), else_=1), reservations.c.arrival))).first()
        if row is None:
            raise Problem(
                409,
                "No reservation to start",
                "No reservation of yours starts here within the hour; make one first (POST /v1/reservations)",
            )
        driver = (
            await session.execute(
                sa.select(drivers).where(drivers.c.id == row.driver_id).where(drivers.c.erased_at.is_(None))
            )
        ).first()
        if driver is None:
            raise Problem(409, "No driver", "The reservation has no driver to start it for")
        command_id = str(uuid.uuid4())
        emit = emitter(session, runtime.outbox, row.id)
        await emit(
            StationCommandIssued(
                command_id=command_id,
                station_id=station_id,
                expires_at=now + timedelta(minutes=5),
                command=RemoteStart(
                    station_id=station_id,
                    evse_id=evse_id,
                    id_token=driver.app_token,
                    id_token_type="Central",
                    reservation_id=row.id,
                ),
            )
        )
        row = await change(
            session,
            emit,
            row,
            now,
            reason="started by QR scan",
            status="arrived",
            arrived_at=now,
            assigned_station_id=station_id,
            assigned_evse_id=evse_id,
        )
        await audit(
            session,
            actor=principal.scope,
            tenant_id=row.tenant_id,
            action="remote_start",
            entity="reservation",
            entity_id=row.id,
            at=now,
            detail={"station_id": station_id, "evse_id": evse_id},
        )
        return 202, Started(command_id=command_id, reservation=await view(session, row, request))

    return await idempotent(request, response, principal, idempotency_key, work)
