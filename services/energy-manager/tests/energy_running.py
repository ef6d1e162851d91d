"""The energy manager as its integration tests meet it (the `energy` fixture in
integration/conftest.py): a real Tansu broker, a real PostgreSQL
database, the app over ASGI, and a client signed in as an administrator."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from chargeyard_devstack.testing import TEST_JWT_SECRET, FakeApiKeys, as_role, postgres_database, tansu
from chargeyard_energy.bootstrap import bootstrap
from chargeyard_energy.config import Settings
from chargeyard_platform.bus import ensure_topics
from chargeyard_platform.runtime import Runtime, create_app

Energy = tuple[httpx.AsyncClient, Runtime, str]
"""The client, the service's runtime and the broker's bootstrap address."""


@asynccontextmanager
async def running_energy_manager(tmp_path: Path, **settings: Any) -> AsyncIterator[Energy]:
    """`settings` override the service's (e.g. a watchdog interval a test needs)."""
    with tansu(tmp_path) as broker:
        await ensure_topics(broker.bootstrap)
        async with postgres_database("cy_energy") as url:
            runtime = bootstrap(
                Settings(
                    database_url=url,
                    kafka_bootstrap_servers=broker.bootstrap,  # type: ignore[call-arg]
                    kafka_group_id=f"energy-{uuid.uuid4().hex[:6]}",
                    auto_place_stations=False,
                    jwt_secret=TEST_JWT_SECRET,  # type: ignore[arg-type]
                    **settings,
                ),
                api_keys=FakeApiKeys(),
            )
            await runtime.start()
            try:
                async with httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=create_app(runtime)),
                    base_url="http://energy",
                    headers=as_role("administrator"),
                ) as client:
                    yield client, runtime, broker.bootstrap
            finally:
                await runtime.stop()
