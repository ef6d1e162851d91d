"""What each EVSE was last sent on the plan layer."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.profiles import Evse
from ..domain.transitions import Step, StepFunction
from .orm import sent_profiles


async def sent_steps(session: AsyncSession, evses: Iterable[Evse]) -> dict[Evse, StepFunction]:
    wanted = set(evses)
    rows = (await session.execute(sa.select(sent_profiles))).all()
    return {
        Evse(r.station_id, r.evse_id): StepFunction([Step(datetime.fromisoformat(at), limit) for at, limit in r.steps])
        for r in rows
        if Evse(r.station_id, r.evse_id) in wanted
    }


HISTORY = timedelta(minutes=10)
"""How far back what an EVSE was sent is kept: a meter value is judged against every limit the
EVSE held in its grace period, not only the latest (a station may still be stepping down)."""


async def remember_sent(session: AsyncSession, evse: Evse, steps: list[Step], plan_id: str) -> None:
    key = (sent_profiles.c.station_id == evse.station_id) & (sent_profiles.c.evse_id == evse.evse_id)
    old = (await session.execute(sa.select(sent_profiles.c.steps).where(key))).scalar()
    kept: list[list[object]] = []
    if old and steps:
        start = steps[0].at
        past = [(datetime.fromisoformat(a), v) for a, v in old if datetime.fromisoformat(a) < start]
        recent = [p for p in past if p[0] >= start - HISTORY]
        before = [p for p in past if p[0] < start - HISTORY][-1:]
        kept = [[a.isoformat(), v] for a, v in before + recent]
    values = dict(steps=kept + [[s.at.isoformat(), s.limit] for s in steps], plan_id=plan_id)
    if (await session.execute(sent_profiles.update().where(key).values(**values))).rowcount == 0:
        await session.execute(sent_profiles.insert().values(station_id=evse.station_id, evse_id=evse.evse_id, **values))


UNCONFIRMED = "unconfirmed"


async def unconfirmed_evses(session: AsyncSession, evses: Iterable[Evse]) -> set[Evse]:
    """EVSEs whose last profile did not reach them (expired, timed out, offline): sent again."""
    wanted = set(evses)
    rows = (
        await session.execute(
            sa.select(sent_profiles.c.station_id, sent_profiles.c.evse_id).where(sent_profiles.c.plan_id == UNCONFIRMED)
        )
    ).all()
    return {Evse(r.station_id, r.evse_id) for r in rows} & wanted


async def mark_unconfirmed(session: AsyncSession, evse: Evse) -> None:
    await session.execute(
        sent_profiles.update()
        .where(sent_profiles.c.station_id == evse.station_id)
        .where(sent_profiles.c.evse_id == evse.evse_id)
        .values(plan_id=UNCONFIRMED)
    )
