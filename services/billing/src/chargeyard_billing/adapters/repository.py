"""Loads and saves ChargingSession aggregates in the sessions table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.energy import RegisterReading
from ..domain.sessions import ChargingSession, SessionStatus
from .orm import session_readings, sessions


class SessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._seen: set[str] = set()

    async def get(self, transaction_id: str) -> ChargingSession | None:
        # FOR UPDATE: meter.values and transaction.events of one station may be consumed by two
        # instances at once (different topics, different partition owners). SQLite ignores it.
        row = (
            await self._session.execute(
                sa.select(sessions).where(sessions.c.transaction_id == transaction_id).with_for_update()
            )
        ).first()
        if row is None:
            return None
        self._seen.add(transaction_id)
        return _from_row(row._mapping)

    async def save(self, cs: ChargingSession, now: datetime) -> None:
        values = _to_row(cs)
        values["updated_at"] = now
        if cs.transaction_id in self._seen:
            await self._session.execute(
                sessions.update().where(sessions.c.transaction_id == cs.transaction_id).values(**values)
            )
        else:
            # A concurrent insert of the same session fails on the primary key; the consumer
            # retries the event and then finds the row.
            await self._session.execute(sessions.insert().values(**values, created_at=now))
            self._seen.add(cs.transaction_id)

    async def running_at(self, station_id: str, evse_id: int, at: datetime) -> ChargingSession | None:
        """The session on that EVSE at that instant, whether it has ended since or not (status
        events may be consumed after the transaction's end, e.g. in a replay)."""
        c = sessions.c
        row = (
            await self._session.execute(
                sa.select(c.transaction_id)
                .where(
                    c.station_id == station_id,
                    c.evse_id == evse_id,
                    c.started_at <= at,
                    sa.or_(c.stopped_at.is_(None), c.stopped_at >= at),
                )
                .order_by(c.started_at.desc())
                .limit(1)
            )
        ).first()
        return None if row is None else await self.get(row.transaction_id)

    async def add_reading(self, transaction_id: str, reading: RegisterReading) -> None:
        """Every distinct register reading is kept: the same one twice is stored once."""
        r = session_readings.c
        key = (r.transaction_id == transaction_id, r.read_at == reading.at, r.register_wh == reading.wh)
        found = (await self._session.execute(sa.select(r.signed).where(*key))).first()
        signed = dict(reading.signed) if reading.signed else None
        if found is None:
            await self._session.execute(
                session_readings.insert().values(
                    transaction_id=transaction_id, read_at=reading.at, register_wh=reading.wh, signed=signed
                )
            )
        elif found.signed is None and signed is not None:
            await self._session.execute(session_readings.update().where(*key).values(signed=signed))

    async def readings(self, transaction_id: str) -> list[RegisterReading]:
        r = session_readings.c
        rows = await self._session.execute(
            sa.select(r.register_wh, r.read_at, r.signed).where(r.transaction_id == transaction_id).order_by(r.read_at)
        )
        return [RegisterReading(row.register_wh, row.read_at, row.signed) for row in rows]


def _reading(wh: int | None, at: datetime | None, signed: dict[str, Any] | None) -> RegisterReading | None:
    if wh is None or at is None:
        return None
    return RegisterReading(wh, at, signed)


def _from_row(row: Any) -> ChargingSession:
    return ChargingSession(
        transaction_id=row["transaction_id"],
        station_id=row["station_id"],
        evse_id=row["evse_id"],
        connector_id=row["connector_id"],
        status=SessionStatus(row["status"]),
        id_token=row["id_token"],
        started_at=row["started_at"],
        stopped_at=row["stopped_at"],
        stop_reason=row["stop_reason"],
        offline=row["offline"],
        start=_reading(row["start_register_wh"], row["start_register_at"], row["start_signed"]),
        start_from_transaction=row["start_from_transaction"],
        stop=_reading(row["stop_register_wh"], row["stop_register_at"], row["stop_signed"]),
        stop_from_transaction=row["stop_from_transaction"],
        full_at=row["full_at"],
    )


def _to_row(cs: ChargingSession) -> dict[str, Any]:
    energy = cs.energy
    return {
        "transaction_id": cs.transaction_id,
        "station_id": cs.station_id,
        "evse_id": cs.evse_id,
        "connector_id": cs.connector_id,
        "id_token": cs.id_token,
        "status": cs.status.value,
        "started_at": cs.started_at,
        "stopped_at": cs.stopped_at,
        "stop_reason": cs.stop_reason,
        "offline": cs.offline,
        "start_register_wh": cs.start.wh if cs.start else None,
        "start_register_at": cs.start.at if cs.start else None,
        "start_signed": dict(cs.start.signed) if cs.start and cs.start.signed else None,
        "start_from_transaction": cs.start_from_transaction,
        "stop_register_wh": cs.stop.wh if cs.stop else None,
        "stop_register_at": cs.stop.at if cs.stop else None,
        "stop_signed": dict(cs.stop.signed) if cs.stop and cs.stop.signed else None,
        "stop_from_transaction": cs.stop_from_transaction,
        "energy_wh": energy.energy_wh,
        "anomaly": energy.anomaly,
        "full_at": cs.full_at,
    }
