"""The energy manager as its integration tests meet it: a real Tansu broker, a real PostgreSQL
database, the app over ASGI, and a client signed in as an administrator."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest_asyncio
from chargeyard_devstack.testing import postgres_database, tansu
from chargeyard_energy.bootstrap import bootstrap
from chargeyard_energy.config import Settings
from chargeyard_platform.bus import ensure_topics
from chargeyard_platform.runtime import Runtime, create_app
from energy_auth import JWT_SECRET, FakeApiKeys, as_role

Energy = tuple[httpx.AsyncClient, Runtime, str]
"""The client, the service's runtime and the broker's bootstrap address."""


@pytest_asyncio.fixture
async def energy(tmp_path: Path) -> AsyncIterator[Energy]:
    with tansu(tmp_path) as broker:
        await ensure_topics(broker.bootstrap)
        async with postgres_database("cy_energy") as url:
            settings = Settings(
                database_url=url,
                kafka_bootstrap_servers=broker.bootstrap,  # type: ignore[call-arg]
                kafka_group_id=f"energy-{uuid.uuid4().hex[:6]}",
                auto_place_stations=False,
                jwt_secret=JWT_SECRET,  # type: ignore[arg-type]
            )
            runtime = bootstrap(settings, api_keys=FakeApiKeys())
            app = create_app(runtime)
            await runtime.start()
            try:
                async with httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app),
                    base_url="http://energy",
                    headers=as_role("administrator"),
                ) as client:
                    yield client, runtime, broker.bootstrap
            finally:
                await runtime.stop()
