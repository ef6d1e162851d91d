"""The group commit's write path on both databases: many events in one INSERT, rights still
checked; SQLite files in write-ahead-log mode."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from chargeyard_contracts import ReservationCreated
from chargeyard_contracts.registry import RESERVATIONS
from chargeyard_platform.batching import GroupCommit
from chargeyard_platform.bus import Outbox, UnauthorisedPublisher
from chargeyard_platform.clock import SystemClock
from chargeyard_platform.db import Database, outbox_table, platform_metadata

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


def a_reservation(n: int) -> ReservationCreated:
    return ReservationCreated(
        reservation_id=f"r-{n}",
        site_id="site-1",
        arrival=NOW,
        departure=NOW + timedelta(hours=4),
        energy_wh=10_000,
        max_power_w=11_000,
        created_at=NOW,
    )


@pytest.mark.integration
@pytest.mark.asyncio
async def test_group_committed_events_land_in_the_outbox_in_order(db_url: str) -> None:
    db = Database.connect(db_url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(platform_metadata.create_all)
        outbox = Outbox(RESERVATIONS, SystemClock())

        async def write(events: list[ReservationCreated]) -> None:
            async with db.transaction() as session:
                await outbox.add_many(session, events)

        group: GroupCommit[ReservationCreated] = GroupCommit(write, window_s=0.005)
        for n in range(0, 30, 10):
            await group.submit_many([a_reservation(i) for i in range(n, n + 10)])
        await group.aclose()

        async with db.sessions() as session:
            rows = (await session.execute(sa.select(outbox_table).order_by(outbox_table.c.id))).all()
        assert [json.loads(r.envelope)["payload"]["reservation_id"] for r in rows] == [f"r-{i}" for i in range(30)]
        assert {r.topic for r in rows} == {"reservation.created"} and len({r.event_id for r in rows}) == 30

        async with db.transaction() as session:
            with pytest.raises(UnauthorisedPublisher):
                await Outbox(f"not-{uuid.uuid4().hex[:4]}", SystemClock()).add_many(session, [a_reservation(99)])

        if not db.is_postgres:
            async with db.engine.connect() as conn:
                assert (await conn.execute(sa.text("PRAGMA journal_mode"))).scalar() == "wal"
    finally:
        await db.dispose()
