"""Database access: one async engine per service, migrations by Alembic, the platform's tables.

Every service owns its database. The outbox and the processed-event table live in each of them,
so that a state change, the events it causes and the record of the event that caused it commit
in one transaction (the transactional outbox and the idempotent consumer).
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.operations import Operations
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


class UtcDateTime(sa.TypeDecorator[datetime]):
    """DateTime(timezone=True) that always comes back timezone-aware in UTC.

    SQLite stores no offset and returns naive values; PostgreSQL returns aware ones. The DDL is
    plain DateTime(timezone=True), as in the migration.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused: every time in Chargeyard carries an offset")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


platform_metadata = sa.MetaData()

outbox_table = sa.Table(
    "outbox",
    platform_metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(36), nullable=False, unique=True),
    sa.Column("topic", sa.String(200), nullable=False),
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("envelope", sa.Text(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("sent_at", UtcDateTime(), nullable=True),
    sa.Index("ix_outbox_unsent", "sent_at", "id"),
)

processed_events_table = sa.Table(
    "processed_events",
    platform_metadata,
    sa.Column("event_id", sa.String(36), primary_key=True),
    sa.Column("topic", sa.String(200), nullable=False),
    sa.Column("type", sa.String(200), nullable=False),
    sa.Column("processed_at", UtcDateTime(), nullable=False),
)


def create_platform_tables(op: Operations) -> None:
    """Called from each service's first Alembic revision."""
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("envelope", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_outbox_unsent", "outbox", ["sent_at", "id"])
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
    )


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._writers = asyncio.Lock()
        self._batch_engine: Engine | None = None
        self._batch_thread: ThreadPoolExecutor | None = None

    @classmethod
    def connect(cls, url: str) -> Database:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            # A busy timeout instead of "database is locked" when the relay and a handler overlap.
            # pool_reset_on_return=None: every session here ends its transaction itself (commit, or
            # rollback when it closes), so the pool's own ROLLBACK on return is a no-op that costs a
            # hand-off to aiosqlite's thread: one of five per group commit (bench/README.md).
            engine = create_async_engine(url, connect_args={"timeout": 30}, pool_reset_on_return=None)
            if parsed.database and parsed.database != ":memory:":
                sa.event.listen(engine.sync_engine, "connect", _sqlite_wal)
        else:
            engine = create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
        return cls(engine)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def write_transaction(self) -> AsyncIterator[AsyncSession]:
        """A transaction for a frequent writer (group commits, batched logs). SQLite takes one
        writer at a time, and a connection that finds the write lock taken sleeps in SQLite's busy
        handler, in steps of up to 100 ms, whether or not the lock is freed sooner; on a hot path
        that sleep was the p99 (bench/README.md). Writers that go through here take turns on an
        asyncio lock instead, and each starts the moment the previous one commits. PostgreSQL locks
        rows, not the database: there this is `transaction()`."""
        if self.is_postgres:
            async with self.transaction() as session:
                yield session
            return
        async with self._writers, self.transaction() as session:
            yield session

    async def write_batch(self, statement: sa.Executable, rows: Sequence[Mapping[str, Any]] | None = None) -> None:
        """One statement (for each of `rows`, when given) in a transaction of its own, for a
        frequent writer (a group commit, a batched log, the relay marking rows sent), taking turns
        as `write_transaction` does. On a SQLite file the whole transaction runs in one hand-off to
        a writer thread of its own (SQLAlchemy's synchronous engine on the same file): through
        aiosqlite it is four (execute, close, commit and the connection's checkout), each waiting
        for a turn of a busy event loop, and at 70 % load they were the p99 (bench/README.md).
        Elsewhere it is `write_transaction`."""
        if rows is not None and not rows:
            return
        params = list(rows) if rows is not None else None
        engine = self._sqlite_batch_engine()
        if engine is None:
            async with self.write_transaction() as session:
                await session.execute(statement, params)
            return
        assert self._batch_thread is not None
        async with self._writers:
            await asyncio.get_running_loop().run_in_executor(
                self._batch_thread, _execute_batch, engine, statement, params
            )

    def _sqlite_batch_engine(self) -> Engine | None:
        url = self.engine.url
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None  # PostgreSQL; or an in-memory database, which a second engine would not see
        if self._batch_engine is None:
            # check_same_thread off: the pool's connection is made and used in the one writer thread.
            self._batch_engine = sa.create_engine(
                url.set(drivername="sqlite+pysqlite"),
                connect_args={"timeout": 30, "check_same_thread": False},
                pool_reset_on_return=None,
            )
            sa.event.listen(self._batch_engine, "connect", _sqlite_wal)
            # Many rows as one INSERT ... VALUES (...), (...) (SQLAlchemy's "insertmanyvalues", as
            # on psycopg2), not executemany: sqlite3 lets go of the GIL for every row's step and,
            # with the event loop busy, waited a switch interval to get it back each time. 40
            # outbox rows beside a busy thread: 46 ms by executemany, 7.5 ms as one statement.
            self._batch_engine.dialect.use_insertmanyvalues_wo_returning = True
            self._batch_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-batch-writer")
        return self._batch_engine

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def migrate(self, script_location: str | Path) -> None:
        """Bring the schema to Alembic head. On PostgreSQL an advisory lock keeps two instances
        of one service from migrating at once."""
        async with self.engine.begin() as conn:
            if self.is_postgres:
                lock = zlib.crc32(str(script_location).encode()) & 0x7FFFFFFF
                await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock})
            await conn.run_sync(_upgrade, str(script_location))

    async def dispose(self) -> None:
        if self._batch_thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._batch_thread.shutdown)
            self._batch_thread = None
        if self._batch_engine is not None:
            self._batch_engine.dispose()
            self._batch_engine = None
        await self.engine.dispose()


def _execute_batch(engine: Engine, statement: sa.Executable, params: list[Mapping[str, Any]] | None) -> None:
    with engine.begin() as conn:
        conn.execute(statement, params)


def _sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    """Write-ahead logging: readers (the relay, lookups) no longer block the writer and a commit
    costs one fsync instead of the rollback journal's several (measured here: 3 ms vs 10 ms per
    transaction). synchronous stays FULL: a commit survives power loss, as before."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _upgrade(connection: Connection, script_location: str) -> None:
    config = Config()
    config.set_main_option("script_location", script_location)
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def run_migrations(target_metadata: sa.MetaData | None) -> None:
    """The whole body of each service's migrations/env.py."""
    from alembic import context

    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through Database.migrate(), which passes the connection")
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
