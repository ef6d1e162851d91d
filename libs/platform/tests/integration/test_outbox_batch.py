"""The group commit's write path on both databases: many events in one INSERT, rows built ahead,
rights still checked; SQLite files in write-ahead-log mode, their frequent writers taking turns."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

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


@pytest.mark.integration
@pytest.mark.asyncio
async def test_rows_built_before_the_transaction_are_written_by_add_rows(db_url: str) -> None:
    db = Database.connect(db_url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(platform_metadata.create_all)
        with pytest.raises(UnauthorisedPublisher):  # refused when built, before any transaction
            Outbox(f"not-{uuid.uuid4().hex[:4]}", SystemClock()).rows([a_reservation(1)])
        rows = Outbox(RESERVATIONS, SystemClock()).rows([a_reservation(i) for i in range(3)])
        async with db.write_transaction() as session:
            await Outbox(RESERVATIONS, SystemClock()).add_rows(session, rows)
        async with db.sessions() as session:
            stored = (await session.execute(sa.select(outbox_table.c.event_id).order_by(outbox_table.c.id))).scalars()
            assert list(stored) == [row["event_id"] for row in rows]
    finally:
        await db.dispose()


@pytest.mark.integration
@pytest.mark.asyncio
async def test_a_session_closed_without_commit_leaves_nothing_behind(db_url: str) -> None:
    """SQLite's pool does not roll back on return (db.py): the session's own close must."""
    db = Database.connect(db_url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(platform_metadata.create_all)
        async with db.sessions() as session:
            await session.execute(outbox_table.insert(), Outbox(RESERVATIONS, SystemClock()).rows([a_reservation(7)]))
        async with db.transaction() as session:  # the same pooled connection, a new transaction
            assert (await session.execute(sa.select(sa.func.count()).select_from(outbox_table))).scalar() == 0
    finally:
        await db.dispose()


@pytest.mark.integration
@pytest.mark.asyncio
async def test_sqlite_writers_take_turns_in_the_process(tmp_path: Path) -> None:
    db = Database.connect(f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}")
    spans: list[tuple[str, float, float]] = []

    async def writer(name: str) -> None:
        async with db.write_transaction() as session:
            began = asyncio.get_running_loop().time()
            await session.execute(sa.text("SELECT 1"))
            await asyncio.sleep(0.05)
            spans.append((name, began, asyncio.get_running_loop().time()))

    try:
        await asyncio.gather(writer("a"), writer("b"), writer("c"))
        spans.sort(key=lambda s: s[1])
        # Each began after the one before had ended: never two writers at once.
        assert all(later[1] >= earlier[2] for earlier, later in itertools.pairwise(spans))
        assert len(spans) == 3
    finally:
        await db.dispose()


@pytest.mark.integration
@pytest.mark.asyncio
async def test_a_batch_commits_whole_or_not_at_all_and_takes_its_turn(db_url: str) -> None:
    db = Database.connect(db_url)
    outbox = Outbox(RESERVATIONS, SystemClock())
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(platform_metadata.create_all)
        first = outbox.rows([a_reservation(i) for i in range(3)])
        await outbox.write_rows(db, first)
        # A batch repeating an event id (unique) fails whole: its new row is not stored either.
        with pytest.raises(sa.exc.IntegrityError):
            await outbox.write_rows(db, [*outbox.rows([a_reservation(3)]), first[0]])
        async with db.sessions() as session:
            stored = (await session.execute(sa.select(outbox_table.c.event_id).order_by(outbox_table.c.id))).scalars()
            assert list(stored) == [row["event_id"] for row in first]

        async with db.write_transaction() as session:
            batch = asyncio.create_task(outbox.write_rows(db, outbox.rows([a_reservation(4)])))
            await asyncio.sleep(0.05)
            # On SQLite writers take turns: the batch waits for the open write transaction.
            # PostgreSQL locks rows, not the database: there it need not wait.
            assert db.is_postgres or not batch.done()
            await session.execute(sa.select(1))
        await batch
        async with db.sessions() as session:
            assert (await session.execute(sa.select(sa.func.count()).select_from(outbox_table))).scalar() == 4
    finally:
        await db.dispose()
