"""Read side: what the API returns, straight from the sessions table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from chargeyard_contracts.stations import SignedMeterValue
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from .adapters.orm import cdrs, sessions
from .domain.sessions import SessionStatus


class SessionView(BaseModel):
    transaction_id: str
    station_id: str
    evse_id: int
    connector_id: int
    id_token: str | None
    status: SessionStatus
    started_at: datetime | None
    stopped_at: datetime | None
    stop_reason: str | None
    offline: bool
    start_register_wh: int | None
    start_register_at: datetime | None
    start_signed: SignedMeterValue | None
    stop_register_wh: int | None
    """The latest register reading while active; the stop reading once completed."""
    stop_register_at: datetime | None
    stop_signed: SignedMeterValue | None
    energy_wh: int | None
    """stop − start of the register; null while unknown or when the register went backwards."""
    anomaly: str | None
    full_at: datetime | None
    updated_at: datetime


async def list_sessions(
    session: AsyncSession, *, station_id: str | None = None, status: SessionStatus | None = None, limit: int = 100
) -> list[SessionView]:
    query = sa.select(sessions).order_by(sessions.c.created_at.desc(), sessions.c.transaction_id).limit(limit)
    if station_id is not None:
        query = query.where(sessions.c.station_id == station_id)
    if status is not None:
        query = query.where(sessions.c.status == status.value)
    rows = (await session.execute(query)).all()
    return [SessionView.model_validate(row._asdict()) for row in rows]


async def get_session(session: AsyncSession, transaction_id: str) -> SessionView | None:
    row = (await session.execute(sa.select(sessions).where(sessions.c.transaction_id == transaction_id))).first()
    return None if row is None else SessionView.model_validate(row._asdict())


class CdrRecord(BaseModel):
    """A CDR with its billing state: `cdr` is the OCPI 2.2.1 CDR object (null while flagged)."""

    cdr_id: str
    transaction_id: str
    version: int
    status: str
    anomalies: list[str]
    driver_id: str | None
    vehicle_id: str | None
    tenant_id: str | None
    user_group: str | None
    cost_centre: str | None
    site_id: str | None
    tariff_id: str | None
    started_at: datetime
    stopped_at: datetime
    energy_wh: int | None
    currency: str | None
    net: str | None
    vat: str | None
    gross: str | None
    signed_checks: list[dict[str, Any]]
    """Per signed start/end value: format, structure_ok, value_matches, signature (valid, invalid, unchecked)."""
    cdr: dict[str, Any] | None


def _cdr(row: Any) -> CdrRecord:
    body = dict(row.body)
    checks = body.pop("signed_checks", [])
    fields = {k: v for k, v in row._asdict().items() if k in CdrRecord.model_fields}
    return CdrRecord(**{**fields, "signed_checks": checks, "cdr": body or None})


async def list_cdrs(
    session: AsyncSession,
    *,
    status: str | None,
    driver_id: str | None,
    start: datetime | None,
    transaction_id: str | None = None,
    end: datetime | None,
    limit: int,
) -> list[CdrRecord]:
    query = sa.select(cdrs).order_by(cdrs.c.stopped_at.desc(), cdrs.c.cdr_id).limit(limit)
    if status is not None:
        query = query.where(cdrs.c.status == status)
    if driver_id is not None:
        query = query.where(cdrs.c.driver_id == driver_id)
    if transaction_id is not None:
        query = query.where(cdrs.c.transaction_id == transaction_id)
    if start is not None:
        query = query.where(cdrs.c.stopped_at >= start)
    if end is not None:
        query = query.where(cdrs.c.stopped_at < end)
    return [_cdr(row) for row in (await session.execute(query)).all()]


async def get_cdr(session: AsyncSession, cdr_id: str) -> CdrRecord | None:
    row = (await session.execute(sa.select(cdrs).where(cdrs.c.cdr_id == cdr_id))).first()
    return None if row is None else _cdr(row)
