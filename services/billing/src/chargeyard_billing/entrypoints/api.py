"""REST /v1: sessions (energy from the station's register), tariffs, accounts, CDRs, statements."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from chargeyard_platform.auth import ADMINISTRATOR, FLEET_MANAGER, SITE_OPERATOR, requires
from chargeyard_platform.problems import Problem
from chargeyard_platform.runtime import runtime_of
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from .. import views
from ..adapters.orm import accounts
from ..adapters.tariffs import TariffBody, TariffView, all_tariffs
from ..adapters.tariffs import put_tariff as put_tariff_row
from ..domain.sessions import SessionStatus
from ..statements import Statement, StatementBy, month_bounds, statement, statement_csv, statement_pdf

# Who may: sessions, CDRs, statements and tariffs are read by administrators, site operators and
# fleet managers (their drivers' costs); only administrators and site operators set tariffs and accounts.
READ = requires({ADMINISTRATOR, SITE_OPERATOR, FLEET_MANAGER}, action="read sessions, tariffs, CDRs or statements")
MANAGE = requires({ADMINISTRATOR, SITE_OPERATOR}, action="change tariffs or accounts")
router = APIRouter(prefix="/v1", tags=["sessions"])


@router.get("/sessions", response_model=list[views.SessionView], dependencies=[Depends(READ)])
async def list_sessions(
    request: Request,
    station_id: str | None = None,
    status: SessionStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[views.SessionView]:
    runtime = runtime_of(request)
    async with runtime.db.sessions() as session:
        return await views.list_sessions(session, station_id=station_id, status=status, limit=limit)


@router.get("/sessions/{transaction_id}", response_model=views.SessionView, dependencies=[Depends(READ)])
async def get_session(transaction_id: str, request: Request) -> views.SessionView:
    runtime = runtime_of(request)
    async with runtime.db.sessions() as session:
        found = await views.get_session(session, transaction_id)
    if found is None:
        raise Problem(404, "Session not found", f"No charging session with transaction id {transaction_id}")
    return found


# --- tariffs -----------------------------------------------------------------------------------

TariffId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


@router.put("/tariffs/{tariff_id}", response_model=TariffView, tags=["tariffs"], dependencies=[Depends(MANAGE)])
async def put_tariff(tariff_id: TariffId, body: TariffBody, request: Request, response: Response) -> TariffView:
    """Create or replace a tariff. A CDR keeps the tariff it was priced with."""
    runtime = runtime_of(request)
    now = runtime.clock.now()
    async with runtime.db.transaction() as session:
        created = await put_tariff_row(session, tariff_id, body, now)
    response.status_code = 201 if created else 200
    return TariffView(**body.model_dump(), tariff_id=tariff_id, updated_at=now)


@router.get("/tariffs", response_model=list[TariffView], tags=["tariffs"], dependencies=[Depends(READ)])
async def list_tariffs(request: Request) -> list[TariffView]:
    async with runtime_of(request).db.sessions() as session:
        return await all_tariffs(session)


@router.get("/tariffs/{tariff_id}", response_model=TariffView, tags=["tariffs"], dependencies=[Depends(READ)])
async def get_tariff(tariff_id: str, request: Request) -> TariffView:
    async with runtime_of(request).db.sessions() as session:
        found = [t for t in await all_tariffs(session) if t.tariff_id == tariff_id]
    if not found:
        raise Problem(404, "Tariff not found", f"No tariff {tariff_id}; PUT /v1/tariffs/{tariff_id} creates it")
    return found[0]


# --- accounts: who a driver bills to ----------------------------------------------------------


class AccountBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant_id: str | None = Field(default=None, max_length=64)
    user_group: str | None = Field(default=None, max_length=64)
    cost_centre: str | None = Field(default=None, max_length=64)
    vehicle_id: str | None = Field(default=None, max_length=64, description="The company car the driver charges")


@router.put("/accounts/{driver_id}", response_model=AccountBody, tags=["accounts"], dependencies=[Depends(MANAGE)])
async def put_account(driver_id: TariffId, body: AccountBody, request: Request) -> AccountBody:
    """Tenant, user group (for tariffs), cost centre and vehicle (for statements) of a driver.
    Applies to CDRs made from now on, and to a CDR again if its session changes."""
    runtime = runtime_of(request)
    values = {**body.model_dump(), "updated_at": runtime.clock.now()}
    async with runtime.db.transaction() as session:
        exists = (
            await session.execute(sa.select(accounts.c.driver_id).where(accounts.c.driver_id == driver_id))
        ).first()
        if exists:
            await session.execute(accounts.update().where(accounts.c.driver_id == driver_id).values(**values))
        else:
            await session.execute(accounts.insert().values(driver_id=driver_id, **values))
    return body


# --- CDRs -------------------------------------------------------------------------------------


@router.get("/cdrs", response_model=list[views.CdrRecord], tags=["cdrs"], dependencies=[Depends(READ)])
async def list_cdrs(
    request: Request,
    status: Annotated[str | None, Query(pattern="^(priced|flagged)$")] = None,
    driver_id: str | None = None,
    transaction_id: str | None = None,
    from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    to: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[views.CdrRecord]:
    async with runtime_of(request).db.sessions() as session:
        return await views.list_cdrs(
            session, status=status, driver_id=driver_id, transaction_id=transaction_id, start=from_, end=to, limit=limit
        )


@router.get("/cdrs/{cdr_id}", response_model=views.CdrRecord, tags=["cdrs"], dependencies=[Depends(READ)])
async def get_cdr(cdr_id: str, request: Request) -> views.CdrRecord:
    async with runtime_of(request).db.sessions() as session:
        found = await views.get_cdr(session, cdr_id)
    if found is None:
        raise Problem(404, "CDR not found", f"No charge detail record {cdr_id}")
    return found


# --- statements -------------------------------------------------------------------------------


@router.get(
    "/statements/{by}/{key}/{month}",
    response_model=Statement,
    tags=["statements"],
    responses={200: {"content": {"text/csv": {}, "application/pdf": {}}}},
    dependencies=[Depends(READ)],
)
async def get_statement(
    by: StatementBy,
    key: str,
    month: str,
    request: Request,
    format: Annotated[str, Query(pattern="^(json|csv|pdf)$")] = "json",
) -> Response | Statement:
    """A month's statement for a user (driver id), vehicle or cost centre; ?format=csv or pdf."""
    try:
        month_bounds(month)
    except ValueError as exc:
        raise Problem(422, "Invalid month", str(exc)) from exc
    async with runtime_of(request).db.sessions() as session:
        st = await statement(session, by, key, month)
    name = f"statement-{by.value}-{key}-{month}"
    if format == "csv":
        return Response(
            statement_csv(st),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if format == "pdf":
        return Response(
            statement_pdf(st),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
        )
    return st
