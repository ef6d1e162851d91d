"""Topology API: sites and the stations placed on them."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from chargeyard_contracts import TopologyUpdated
from chargeyard_contracts.base import PhaseRotation
from chargeyard_platform.problems import Problem
from chargeyard_platform.runtime import runtime_of
from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..adapters.orm import circuits, sites, stations
from ..adapters.topology import place_station, site_of_station, topology_of, upsert_site
from ..control import apply_limits
from .access import MANAGE, READ

router = APIRouter(prefix="/v1", tags=["topology"])


class SiteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    time_zone: str = Field(examples=["Europe/Berlin"], description="IANA time zone")
    grid_limit_w: Annotated[int, Field(gt=0, le=100_000_000)]
    voltage_v: Annotated[float, Field(gt=0, le=1000)] = 230.0
    grid_limit_a: Annotated[
        float | None, Field(gt=0, le=100_000, description="Per phase; default grid_limit_w / (3 x voltage)")
    ] = None
    safety_margin_w: Annotated[int, Field(ge=0, le=100_000_000)] = 0
    building_timeout_s: Annotated[
        int | None,
        Field(gt=0, le=86_400, description="Dynamic load management: a building reading older than this is stale"),
    ] = None
    building_fallback_w: Annotated[
        int | None,
        Field(
            ge=0,
            le=100_000_000,
            description="The building load assumed while the meter is stale (required with "
            "building_timeout_s): never 'unlimited'",
        ),
    ] = None
    max_priority: Annotated[int, Field(ge=0, le=10, description="The highest priority a driver may ask for")] = 5

    @model_validator(mode="after")
    def _fallback_with_timeout(self) -> SiteBody:
        if (self.building_timeout_s is None) != (self.building_fallback_w is None):
            raise ValueError(
                "building_timeout_s and building_fallback_w go together: a site with a building meter "
                "needs the load to assume when the meter is silent"
            )
        return self

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin)") from exc
        return value


class StationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_power_w: Annotated[int, Field(gt=0, le=1_000_000)]
    phases: Annotated[int, Field(ge=1, le=3)] = 3
    evse_ids: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [1], min_length=1)
    circuit_id: str | None = Field(default=None, max_length=64, description="The circuit it is wired to")
    phase_rotation: PhaseRotation = Field(
        default=PhaseRotation.RST,
        description="How its L1/L2/L3 are wired to the grid's phases (single-phase cars "
        "load the grid phase its L1 is on)",
    )


class CircuitBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parent_id: str | None = Field(default=None, max_length=64, description="Board above it; None: the grid connection")
    limit_a: Annotated[float | None, Field(gt=0, le=100_000, description="Per phase")] = None
    limit_w: Annotated[int | None, Field(gt=0, le=100_000_000)] = None

    @model_validator(mode="after")
    def _a_limit(self) -> CircuitBody:
        if self.limit_a is None and self.limit_w is None:
            raise ValueError("give limit_a (per phase) or limit_w, or both")
        return self


async def _publish_topology(request: Request, site_id: str) -> TopologyUpdated:
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        topology = await topology_of(session, site_id, runtime.clock.now())
        if topology is None:
            raise Problem(404, "Site not found", f"No site with id {site_id}; create it with PUT /v1/sites/{site_id}")
        await runtime.outbox.add(session, topology)
        # New limits or stations: fail-safe maxima, clamps and the capacity follow at once.
        await apply_limits(
            session,
            lambda e: runtime.outbox.add(session, e),
            runtime.settings,  # type: ignore[arg-type]
            site_id,
            runtime.clock.now(),
            budget_changed=True,
        )
    runtime.wake_relay()
    return topology


@router.put("/sites/{site_id}", response_model=TopologyUpdated, dependencies=[Depends(MANAGE)])
async def put_site(site_id: str, body: SiteBody, request: Request) -> TopologyUpdated:
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        await upsert_site(session, site_id=site_id, now=runtime.clock.now(), **body.model_dump())
    return await _publish_topology(request, site_id)


@router.get("/sites", response_model=list[TopologyUpdated], dependencies=[Depends(READ)])
async def list_sites(request: Request) -> list[TopologyUpdated]:
    runtime = runtime_of(request)
    async with runtime.db.sessions() as session:
        ids = (await session.execute(sa.select(sites.c.id).order_by(sites.c.id))).scalars().all()
        found = [await topology_of(session, site_id, runtime.clock.now()) for site_id in ids]
    return [t for t in found if t is not None]


@router.get("/sites/{site_id}", response_model=TopologyUpdated, dependencies=[Depends(READ)])
async def get_site(site_id: str, request: Request) -> TopologyUpdated:
    runtime = runtime_of(request)
    async with runtime.db.sessions() as session:
        topology = await topology_of(session, site_id, runtime.clock.now())
    if topology is None:
        raise Problem(404, "Site not found", f"No site with id {site_id}")
    return topology


@router.put(
    "/sites/{site_id}/stations/{station_id}",
    response_model=TopologyUpdated,
    status_code=status.HTTP_200_OK,
    dependencies=[Depends(MANAGE)],
)
async def put_station(site_id: str, station_id: str, body: StationBody, request: Request) -> TopologyUpdated:
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        if (await session.execute(sa.select(sites.c.id).where(sites.c.id == site_id))).first() is None:
            raise Problem(404, "Site not found", f"No site with id {site_id}; create it first")
        current = await site_of_station(session, station_id)
        if current is not None and current != site_id:
            raise Problem(
                409,
                "Station is on another site",
                f"Station {station_id} is placed on site {current}; remove it there first",
            )
        if (
            body.circuit_id is not None
            and (
                await session.execute(
                    sa.select(circuits.c.id)
                    .where(circuits.c.site_id == site_id)
                    .where(circuits.c.id == body.circuit_id)
                )
            ).first()
            is None
        ):
            raise Problem(
                422,
                "Unknown circuit",
                f"Site {site_id} has no circuit {body.circuit_id}; create it with "
                f"PUT /v1/sites/{site_id}/circuits/{body.circuit_id}",
                errors=[{"field": "circuit_id", "message": "unknown circuit"}],
            )
        await place_station(
            session,
            site_id=site_id,
            station_id=station_id,
            max_power_w=body.max_power_w,
            phases=body.phases,
            evse_ids=sorted(set(body.evse_ids)),
            now=runtime.clock.now(),
            circuit_id=body.circuit_id,
            phase_rotation=body.phase_rotation.value,
        )
    return await _publish_topology(request, site_id)


@router.delete("/sites/{site_id}/stations/{station_id}", response_model=TopologyUpdated, dependencies=[Depends(MANAGE)])
async def delete_station(site_id: str, station_id: str, request: Request) -> TopologyUpdated:
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        deleted = await session.execute(
            stations.delete().where(stations.c.id == station_id).where(stations.c.site_id == site_id)
        )
        if deleted.rowcount == 0:
            raise Problem(404, "Station not on this site", f"Station {station_id} is not placed on site {site_id}")
    return await _publish_topology(request, site_id)


@router.put("/sites/{site_id}/circuits/{circuit_id}", response_model=TopologyUpdated, dependencies=[Depends(MANAGE)])
async def put_circuit(site_id: str, circuit_id: str, body: CircuitBody, request: Request) -> TopologyUpdated:
    """A board or circuit with its limit, under a parent board or the grid connection."""
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        if (await session.execute(sa.select(sites.c.id).where(sites.c.id == site_id))).first() is None:
            raise Problem(404, "Site not found", f"No site with id {site_id}; create it first")
        known = {
            r.id: r.parent_id
            for r in (
                await session.execute(
                    sa.select(circuits.c.id, circuits.c.parent_id).where(circuits.c.site_id == site_id)
                )
            ).all()
        }
        if body.parent_id is not None:
            if body.parent_id not in known:
                raise Problem(
                    422,
                    "Unknown parent",
                    f"Site {site_id} has no circuit {body.parent_id} to hang {circuit_id} under",
                    errors=[{"field": "parent_id", "message": "unknown circuit"}],
                )
            ancestor: str | None = body.parent_id
            while ancestor is not None:
                if ancestor == circuit_id:
                    raise Problem(
                        422,
                        "Circuit loop",
                        f"{body.parent_id} is below {circuit_id}: a circuit cannot hang under itself",
                        errors=[{"field": "parent_id", "message": "loop"}],
                    )
                ancestor = known.get(ancestor)
        values = dict(
            parent_id=body.parent_id, limit_a=body.limit_a, limit_w=body.limit_w, updated_at=runtime.clock.now()
        )
        key = (circuits.c.site_id == site_id) & (circuits.c.id == circuit_id)
        if (await session.execute(circuits.update().where(key).values(**values))).rowcount == 0:
            await session.execute(circuits.insert().values(site_id=site_id, id=circuit_id, **values))
    return await _publish_topology(request, site_id)
