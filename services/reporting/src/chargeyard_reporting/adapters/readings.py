"""Register readings with the energy since the reading before, kept right whatever order they
arrive in: a late reading slots in between its neighbours and its successor's delta is redone."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.deltas import register_delta
from .orm import meter_readings

r = meter_readings.c


async def record_register_reading(session: AsyncSession, station_id: str, evse_id: int, at: datetime, wh: int) -> bool:
    """False when a reading of that EVSE at that instant is already known (the same reading sent
    twice, e.g. in a MeterValues and in the transaction event)."""
    if session.get_bind().dialect.name == "postgresql":
        # meter.values and transaction.events of one station can be handled by two instances at
        # once; this serialises the neighbour look-ups per station until commit.
        await session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(station_id))))
    same_evse = sa.and_(r.station_id == station_id, r.evse_id == evse_id)
    if (await session.execute(sa.select(r.id).where(same_evse, r.read_at == at))).first() is not None:
        return False
    previous = (
        await session.execute(
            sa.select(r.register_wh).where(same_evse, r.read_at < at).order_by(r.read_at.desc()).limit(1)
        )
    ).scalar_one_or_none()
    following = (
        await session.execute(
            sa.select(r.id, r.register_wh).where(same_evse, r.read_at > at).order_by(r.read_at).limit(1)
        )
    ).first()
    await session.execute(
        meter_readings.insert().values(
            station_id=station_id,
            evse_id=evse_id,
            read_at=at,
            register_wh=wh,
            delta_wh=register_delta(previous, wh),
        )
    )
    if following is not None:
        await session.execute(
            meter_readings.update()
            .where(r.id == following.id)
            .values(delta_wh=register_delta(wh, following.register_wh))
        )
    return True
