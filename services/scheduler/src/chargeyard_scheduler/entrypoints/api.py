"""Read-only plan API, for any operator role (the back office's dashboard)."""

from __future__ import annotations

import sqlalchemy as sa
from chargeyard_contracts import ScheduleUpdated
from chargeyard_platform.auth import OPERATOR_ROLES, requires
from chargeyard_platform.problems import Problem
from chargeyard_platform.runtime import runtime_of
from fastapi import APIRouter, Depends, Request

from ..adapters.orm import plans

READ = requires(OPERATOR_ROLES, action="read charging plans")
router = APIRouter(prefix="/v1", tags=["plans"], dependencies=[Depends(READ)])


@router.get("/plans/{site_id}", response_model=ScheduleUpdated)
async def get_plan(site_id: str, request: Request) -> ScheduleUpdated:
    runtime = runtime_of(request)
    async with runtime.db.sessions() as session:
        found = (await session.execute(sa.select(plans.c.schedule).where(plans.c.site_id == site_id))).scalar()
    if found is None:
        raise Problem(404, "No plan for this site", f"Site {site_id} has no plan yet")
    return ScheduleUpdated.model_validate_json(found)
