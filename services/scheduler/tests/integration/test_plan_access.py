"""Who may read a plan (GET /v1/plans/{site_id}): the reservation API's credentials, any operator role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import pytest_asyncio
from chargeyard_contracts import ScheduleUpdated
from chargeyard_devstack.testing import ADMIN_HEADERS, as_role, authenticator_for_tests, bearer, database_url
from chargeyard_platform.clock import FixedClock
from chargeyard_platform.db import Database
from chargeyard_platform.problems import install_problem_handlers
from chargeyard_scheduler.adapters.orm import plans
from chargeyard_scheduler.bootstrap import SPEC
from chargeyard_scheduler.entrypoints.api import router
from fastapi import FastAPI

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
PLAN = ScheduleUpdated(
    site_id="site-1",
    plan_id="p-1",
    time_zone="Europe/Berlin",
    horizon_start=T0,
    horizon_end=T0 + timedelta(hours=24),
    slot_seconds=900,
    site_limit_w=44_000,
    strategy="fcfs",
    solver_status="optimal",
    solve_ms=3,
)


@pytest_asyncio.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with database_url("sqlite", tmp_path) as url:
        db = Database.connect(url)
        try:
            await db.migrate(SPEC.migrations)
            async with db.transaction() as session:
                await session.execute(
                    plans.insert().values(
                        site_id="site-1", plan_id="p-1", schedule=PLAN.model_dump_json(), created_at=T0
                    )
                )
            app = FastAPI()
            install_problem_handlers(app)
            app.include_router(router)
            app.state.runtime = SimpleNamespace(
                db=db, clock=FixedClock(T0), state={"authenticator": authenticator_for_tests()}
            )
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://scheduler") as c:
                yield c
        finally:
            await db.dispose()


@pytest.mark.asyncio
async def test_a_plan_needs_credentials(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v1/plans/site-1")
    assert missing.status_code == 401 and missing.headers["content-type"] == "application/problem+json"
    assert (await client.get("/v1/plans/site-1", headers=bearer("cy_not-a-key"))).status_code == 401


@pytest.mark.asyncio
async def test_drivers_and_partners_are_refused(client: httpx.AsyncClient) -> None:
    for role in ("driver", "partner"):
        refused = await client.get("/v1/plans/site-1", headers=as_role(role))
        assert refused.status_code == 403 and role in refused.json()["detail"]


@pytest.mark.asyncio
async def test_operators_and_the_administrator_key_read_the_plan(client: httpx.AsyncClient) -> None:
    for headers in [ADMIN_HEADERS, *(as_role(r) for r in ("site_operator", "maintainer", "fleet_manager"))]:
        found = await client.get("/v1/plans/site-1", headers=headers)
        assert found.status_code == 200, found.text
        assert ScheduleUpdated.model_validate(found.json()) == PLAN
