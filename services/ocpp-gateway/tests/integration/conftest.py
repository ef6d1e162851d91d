"""Real servers: a Tansu broker per session, a gateway runtime per database (SQLite, PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
import pytest_asyncio
from chargeyard_devstack.stack import free_port
from chargeyard_devstack.testing import TEST_JWT_SECRET, as_role, tansu
from chargeyard_gateway.bootstrap import bootstrap
from chargeyard_gateway.config import Settings
from chargeyard_platform.bus import ensure_topics
from chargeyard_platform.runtime import Runtime

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with tansu(tmp_path_factory.mktemp("tansu")) as broker:
        yield broker.bootstrap


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def topics(kafka: str) -> str:
    await ensure_topics(kafka, partitions=1)
    return kafka


async def _postgres_database() -> str:
    name = f"gw_test_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def _drop_postgres_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def gateway_settings(database_url: str, kafka: str, **changes: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "kafka_bootstrap_servers": kafka,
        "kafka_group_id": f"gw-test-{uuid.uuid4().hex[:8]}",
        "http_port": free_port(),
        "ocpp_port": free_port(),
        "command_timeout_s": 5,
        "capability_timeout_s": 2,
        "command_poll_interval_s": 0.2,
        "outbox_poll_interval_s": 0.05,
        "offline_grace_s": 1,
        # The REST API checks the reservation API's JWTs (tests sign them with TEST_JWT_SECRET).
        "jwt_secret": TEST_JWT_SECRET,
        **changes,
    }
    return Settings(**values)  # type: ignore[arg-type]


def operator() -> dict[str, str]:
    """An administrator's headers for the REST API (/v1/stations), as the back office sends them."""
    return as_role("administrator")


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["sqlite", "postgres"])
async def gateway(
    request: pytest.FixtureRequest, topics: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Runtime]:
    """A running gateway (consumer, relay, OCPP server, dispatcher) on each database."""
    pg_name = None
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('gw') / 'gateway.db'}"
    else:
        pg_name = await _postgres_database()
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{pg_name}"
    runtime = bootstrap(gateway_settings(url, topics))
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()
        if pg_name:
            await _drop_postgres_database(pg_name)
