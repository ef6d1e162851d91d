"""A migrated database (SQLite file and PostgreSQL) and HTTP clients on the API without Kafka:
the outbox rows the API writes are what would be published. Events the service consumes are
delivered by `deliver`, which runs the real handler the way the consumer does (one transaction
that also records the event id)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import sqlalchemy as sa
from chargeyard_contracts import Envelope
from chargeyard_devstack.testing import database_url
from chargeyard_platform.bus import Context, Outbox
from chargeyard_platform.clock import FixedClock
from chargeyard_platform.db import Database, outbox_table
from chargeyard_platform.problems import install_problem_handlers
from chargeyard_reservations.bootstrap import ROUTERS, SPEC, ensure_admin
from chargeyard_reservations.config import Settings
from chargeyard_reservations.handlers import make_handlers
from chargeyard_reservations.lifecycle import sweep
from fastapi import FastAPI
from pydantic import BaseModel

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
ADMIN_TOKEN = "cy_test-admin-token-0123456789abcdef"


def settings(**changes: Any) -> Settings:
    return Settings(
        database_url="sqlite+aiosqlite:///unused.db",
        admin_token=ADMIN_TOKEN,  # type: ignore[arg-type]
        jwt_secret="test-secret-" + "x" * 32,
        **changes,
    )


@dataclass
class Runtime:
    """What the routes use of the real Runtime."""

    db: Database
    clock: FixedClock
    settings: Settings
    outbox: Outbox = field(init=False)
    state: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.outbox = Outbox(SPEC.name, self.clock)

    def wake_relay(self) -> None:
        pass


def build_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(title=SPEC.title)
    install_problem_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.state.runtime = runtime
    return app


@pytest_asyncio.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with database_url(request.param, tmp_path) as url:
        database = Database.connect(url)
        try:
            await database.migrate(SPEC.migrations)
            yield database
        finally:
            await database.dispose()


@pytest.fixture
def runtime(db: Database) -> Runtime:
    return Runtime(db=db, clock=FixedClock(T0), settings=settings())


@pytest_asyncio.fixture
async def app(runtime: Runtime) -> FastAPI:
    await ensure_admin(runtime.db, runtime.clock, runtime.settings)
    return build_app(runtime)


Connect = Callable[..., httpx.AsyncClient]


@pytest_asyncio.fixture
async def connect(app: FastAPI) -> AsyncIterator[Connect]:
    """connect(token) -> a client sending that token as a bearer; connect() sends none."""
    opened: list[httpx.AsyncClient] = []

    def make(token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", headers=headers)
        opened.append(c)
        return c

    yield make
    for c in opened:
        await c.aclose()


@pytest_asyncio.fixture
async def client(connect: Connect) -> httpx.AsyncClient:
    """The administrator (the dev profile's CHARGEYARD_ADMIN_TOKEN)."""
    return connect(ADMIN_TOKEN)


async def outbox_rows(db: Database, topic: str | None = None) -> list[dict[str, Any]]:
    async with db.sessions() as session:
        query = sa.select(outbox_table.c.topic, outbox_table.c.envelope).order_by(outbox_table.c.id)
        rows = (await session.execute(query)).all()
    found = [{"topic": r.topic, **json.loads(r.envelope)} for r in rows]
    return [r for r in found if topic is None or r["topic"] == topic]


Deliver = Callable[[BaseModel], Awaitable[None]]


@pytest.fixture
def deliver(runtime: Runtime) -> Deliver:
    handlers = make_handlers(runtime.settings)

    async def run(event: BaseModel) -> None:
        envelope = Envelope.wrap(event, source="test", occurred_at=runtime.clock.now())
        async with runtime.db.transaction() as session:
            await handlers[type(event)](event, Context(session, envelope, runtime.outbox, runtime.clock))

    return run


@pytest.fixture
def sweep_now(runtime: Runtime) -> Callable[[], Awaitable[dict[str, int]]]:
    async def run() -> dict[str, int]:
        return await sweep(runtime.db, runtime.outbox, runtime.clock, runtime.settings)

    return run
