"""Reading and writing the topology store; every change goes out as topology.updated."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from chargeyard_contracts import TopologyUpdated
from chargeyard_contracts.base import PhaseRotation
from chargeyard_contracts.planning import CircuitLimit, StationPlacement
from sqlalchemy.ext.asyncio import AsyncSession

from .orm import circuits, sites, stations


async def topology_of(session: AsyncSession, site_id: str, now: datetime) -> TopologyUpdated | None:
    site = (await session.execute(sa.select(sites).where(sites.c.id == site_id))).first()
    if site is None:
        return None
    placed = (
        await session.execute(sa.select(stations).where(stations.c.site_id == site_id).order_by(stations.c.id))
    ).all()
    site_circuits = (
        await session.execute(sa.select(circuits).where(circuits.c.site_id == site_id).order_by(circuits.c.id))
    ).all()
    return TopologyUpdated(
        site_id=site.id,
        time_zone=site.time_zone,
        grid_limit_w=site.grid_limit_w,
        voltage_v=site.voltage_v,
        circuits=tuple(
            CircuitLimit(circuit_id=c.id, parent_id=c.parent_id, limit_a=c.limit_a, limit_w=c.limit_w)
            for c in site_circuits
        ),
        stations=tuple(
            StationPlacement(
                station_id=s.id,
                circuit_id=s.circuit_id,
                evse_ids=tuple(s.evse_ids),
                max_power_w=s.max_power_w,
                phases=s.phases,
                phase_rotation=PhaseRotation(s.phase_rotation),
            )
            for s in placed
        ),
        updated_at=now,
    )


async def upsert_site(
    session: AsyncSession,
    *,
    site_id: str,
    name: str,
    time_zone: str,
    grid_limit_w: int,
    voltage_v: float,
    now: datetime,
    **limits: object,
) -> None:
    """`limits`: grid_limit_a, safety_margin_w, building_timeout_s, building_fallback_w, max_priority."""
    values = dict(
        name=name, time_zone=time_zone, grid_limit_w=grid_limit_w, voltage_v=voltage_v, updated_at=now, **limits
    )
    updated = await session.execute(sites.update().where(sites.c.id == site_id).values(**values))
    if updated.rowcount == 0:
        await session.execute(sites.insert().values(id=site_id, **values))


async def place_station(
    session: AsyncSession,
    *,
    site_id: str,
    station_id: str,
    max_power_w: int,
    phases: int,
    evse_ids: list[int],
    now: datetime,
    circuit_id: str | None = None,
    phase_rotation: str = "RST",
) -> None:
    values = dict(
        site_id=site_id,
        max_power_w=max_power_w,
        phases=phases,
        evse_ids=evse_ids,
        updated_at=now,
        circuit_id=circuit_id,
        phase_rotation=phase_rotation,
    )
    updated = await session.execute(stations.update().where(stations.c.id == station_id).values(**values))
    if updated.rowcount == 0:
        await session.execute(stations.insert().values(id=station_id, **values))


async def site_of_station(session: AsyncSession, station_id: str) -> str | None:
    return (await session.execute(sa.select(stations.c.site_id).where(stations.c.id == station_id))).scalar()
