"""Fixtures for notifier's tests: a migrated database (SQLite file and PostgreSQL), a clock,
a way to deliver events to handlers, fakes of the outside world, and an HTTP client on the API
without Kafka."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import asyncpg
import httpx
import pytest
import pytest_asyncio
import sqlalchemy as sa
from chargeyard_contracts import Envelope
from chargeyard_contracts.registry import topic_of
from chargeyard_devstack.testing import POSTGRES_DSN, database_url
from chargeyard_notifier.adapters.orm import metadata
from chargeyard_notifier.bootstrap import MIGRATIONS
from chargeyard_notifier.entrypoints.api import router
from chargeyard_notifier.entrypoints.stream import router as stream_router
from chargeyard_notifier.handlers import Notifier
from chargeyard_notifier.wiring import Wiring
from chargeyard_platform.auth import Authenticator
from chargeyard_platform.bus import Context, Outbox
from chargeyard_platform.clock import FixedClock
from chargeyard_platform.db import Database, outbox_table, platform_metadata
from chargeyard_platform.problems import install_problem_handlers
from chargeyard_platform.tokens import TokenVerifier
from fastapi import FastAPI
from pydantic import BaseModel

# The builders module sits beside this file; tests dirs are not packages (every service has one,
# and pytest would see three packages called "tests"), so the directory goes on the path.
sys.path.insert(0, str(Path(__file__).parent))

from notifier_builders import JWT_ISSUER, JWT_SECRET, OPERATOR_EMAILS, FakeDirectory

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One migrated PostgreSQL database for the session; each test starts from emptied tables
    (creating and dropping a database per test cost ~3 s each)."""
    name = f"cy_test_notifier_{uuid.uuid4().hex[:10]}"
    url = f"{POSTGRES_DSN.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"

    async def admin(statement: str) -> None:
        conn = await asyncpg.connect(f"{POSTGRES_DSN}/postgres")
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    async def create() -> None:
        await admin(f'CREATE DATABASE "{name}"')
        database = Database.connect(url)
        try:
            await database.migrate(MIGRATIONS)
        finally:
            await database.dispose()

    # In a thread of its own: first requested from inside a test's running event loop.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, create()).result()
        try:
            yield url
        finally:
            thread.submit(asyncio.run, admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')).result()


@pytest_asyncio.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh database with the service's migrations applied; every integration test runs on both."""
    if request.param == "postgres":
        database = Database.connect(request.getfixturevalue("postgres_url"))
        tables = ", ".join([*metadata.tables, *platform_metadata.tables])
        async with database.transaction() as session:
            await session.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        try:
            yield database
        finally:
            await database.dispose()
        return
    async with database_url(request.param, tmp_path) as url:
        database = Database.connect(url)
        try:
            await database.migrate(MIGRATIONS)
            yield database
        finally:
            await database.dispose()


@pytest.fixture
def directory() -> FakeDirectory:
    return FakeDirectory()


@pytest.fixture
def notifier() -> Notifier:
    return Notifier(operator_emails=OPERATOR_EMAILS)


Deliver = Callable[..., Awaitable[Envelope]]


@pytest.fixture
def deliver(db: Database, clock: FixedClock, notifier: Notifier) -> Deliver:
    """Runs the service's handler for one event in a transaction, as the consumer would."""
    handlers = notifier.handlers()

    async def _deliver(event: BaseModel, envelope: Envelope | None = None) -> Envelope:
        source = min(topic_of(type(event)).publishers)  # whoever may publish it
        envelope = envelope or Envelope.wrap(event, source=source, occurred_at=clock.now())
        async with db.transaction() as session:
            await handlers[type(event)](event, Context(session, envelope, Outbox("notifier", clock), clock))
        return envelope

    return _deliver


def app_for(db: Database, clock: FixedClock, directory: FakeDirectory) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    app.include_router(stream_router)
    wiring = Wiring(
        directory=directory,
        authenticator=Authenticator(TokenVerifier(JWT_SECRET, JWT_ISSUER), api_keys=directory),
        stream_poll_s=0.05,
    )
    app.state.runtime = SimpleNamespace(db=db, clock=clock, state={"wiring": wiring})
    return app


@pytest_asyncio.fixture
async def client(db: Database, clock: FixedClock, directory: FakeDirectory) -> AsyncIterator[httpx.AsyncClient]:
    app = app_for(db, clock, directory)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notifier") as c:
        yield c


@pytest.fixture
def published(db: Database) -> Callable[[], Awaitable[list[Envelope]]]:
    """The events this service put in its outbox, in order."""

    async def _published() -> list[Envelope]:
        async with db.sessions() as session:
            rows = (await session.execute(sa.select(outbox_table.c.envelope).order_by(outbox_table.c.id))).scalars()
            return [Envelope.model_validate_json(row) for row in rows]

    return _published
