"""Fixtures for reporting's tests: a migrated database (SQLite file and PostgreSQL), a clock,
a way to deliver events to handlers, and an HTTP client on the API without Kafka."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import pytest_asyncio
from chargeyard_contracts import Envelope
from chargeyard_contracts.registry import topic_of
from chargeyard_devstack.testing import ADMIN_HEADERS, authenticator_for_tests, database_url
from chargeyard_platform.bus import Context, Outbox
from chargeyard_platform.clock import FixedClock
from chargeyard_platform.db import Database
from chargeyard_platform.problems import install_problem_handlers
from chargeyard_reporting.bootstrap import SPEC
from chargeyard_reporting.entrypoints.api import router
from fastapi import FastAPI
from pydantic import BaseModel

# The builders module sits beside this file; tests dirs are not packages (every service has one,
# and pytest would see three packages called "tests"), so the directory goes on the path.
sys.path.insert(0, str(Path(__file__).parent))

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest_asyncio.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh database with the service's migrations applied; every integration test runs on both."""
    async with database_url(request.param, tmp_path) as url:
        database = Database.connect(url)
        try:
            await database.migrate(SPEC.migrations)
            yield database
        finally:
            await database.dispose()


Deliver = Callable[[BaseModel], Awaitable[None]]


@pytest.fixture
def deliver(db: Database, clock: FixedClock) -> Deliver:
    """Runs the service's handler for one event in a transaction, as the consumer would."""

    async def _deliver(event: BaseModel) -> None:
        source = min(topic_of(type(event)).publishers)  # whoever may publish it
        envelope = Envelope.wrap(event, source=source, occurred_at=clock.now())
        async with db.transaction() as session:
            await SPEC.handlers[type(event)](event, Context(session, envelope, Outbox(SPEC.name, clock), clock))

    return _deliver


@pytest_asyncio.fixture
async def client(db: Database, clock: FixedClock) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    app.state.runtime = SimpleNamespace(db=db, clock=clock, state={"authenticator": authenticator_for_tests()})
    # The administrator key, as the back office and the dev stack send credentials; the access
    # tests take it off or replace it.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://reporting", headers=ADMIN_HEADERS
    ) as c:
        yield c
