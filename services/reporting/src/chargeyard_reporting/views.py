"""Read side: the reports, computed from the read models at request time.

Energy is attributed to the site a station belongs to now (the latest topology), so a station
that arrives in a topology after its readings still lands on the right site.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from .adapters.orm import connector_status, evse_power, meter_readings, sites, station_sites, stations, transactions
from .domain.report import UNASSIGNED, energy_by_site


class StationEnergyView(BaseModel):
    station_id: str
    energy_wh: int


class SiteEnergyView(BaseModel):
    site_id: str
    energy_wh: int
    stations: list[StationEnergyView]


class EnergyReport(BaseModel):
    from_: datetime | None = Field(serialization_alias="from")
    to: datetime | None
    energy_wh: int
    sites: list[SiteEnergyView]


class ConnectorView(BaseModel):
    evse_id: int
    connector_id: int
    status: str
    error_code: str | None
    since: datetime


class StationView(BaseModel):
    station_id: str
    site_id: str
    vendor: str | None
    model: str | None
    firmware_version: str | None
    registered_at: datetime | None
    power_w: int | None
    """Sum of the latest power of each EVSE; null when the station never reported power."""
    power_at: datetime | None
    connectors: list[ConnectorView]
    active_transactions: list[str]


async def _site_of(session: AsyncSession) -> dict[str, str]:
    rows = (await session.execute(sa.select(station_sites.c.station_id, station_sites.c.site_id))).all()
    return {row.station_id: row.site_id for row in rows}


async def energy_report(
    session: AsyncSession, *, site_id: str | None = None, start: datetime | None = None, end: datetime | None = None
) -> EnergyReport:
    """Energy whose reading falls in [start, end): a delta counts where the later reading lies."""
    r = meter_readings.c
    query = sa.select(r.station_id, sa.func.sum(r.delta_wh).label("wh")).group_by(r.station_id)
    if start is not None:
        query = query.where(r.read_at >= start)
    if end is not None:
        query = query.where(r.read_at < end)
    energy = {row.station_id: int(row.wh) for row in (await session.execute(query)).all()}
    site_of = await _site_of(session)
    registered = (await session.execute(sa.select(stations.c.station_id))).scalars().all()
    known_sites = (await session.execute(sa.select(sites.c.site_id))).scalars().all()
    by_site = energy_by_site(energy, site_of, known_stations=[*site_of, *registered], known_sites=known_sites)
    if site_id is not None:
        by_site = [s for s in by_site if s.site_id == site_id]
    return EnergyReport(
        from_=start,
        to=end,
        energy_wh=sum(s.energy_wh for s in by_site),
        sites=[
            SiteEnergyView(
                site_id=s.site_id,
                energy_wh=s.energy_wh,
                stations=[StationEnergyView(station_id=x.station_id, energy_wh=x.energy_wh) for x in s.stations],
            )
            for s in by_site
        ],
    )


def energy_csv(report: EnergyReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180 line breaks
    writer.writerow(["site_id", "station_id", "energy_wh", "from", "to"])
    start = report.from_.isoformat() if report.from_ else ""
    end = report.to.isoformat() if report.to else ""
    for site in report.sites:
        for station in site.stations:
            writer.writerow([site.site_id, station.station_id, station.energy_wh, start, end])
    return out.getvalue()


async def station_report(session: AsyncSession, *, site_id: str | None = None) -> list[StationView]:
    site_of = await _site_of(session)
    info = {row.station_id: row for row in (await session.execute(sa.select(stations))).all()}
    connectors: dict[str, list[ConnectorView]] = {}
    for row in (
        await session.execute(
            sa.select(connector_status).order_by(connector_status.c.evse_id, connector_status.c.connector_id)
        )
    ).all():
        connectors.setdefault(row.station_id, []).append(
            ConnectorView(
                evse_id=row.evse_id,
                connector_id=row.connector_id,
                status=row.status,
                error_code=row.error_code,
                since=row.status_at,
            )
        )
    power: dict[str, tuple[int, datetime]] = {}
    for row in (await session.execute(sa.select(evse_power))).all():
        total, latest = power.get(row.station_id, (0, row.measured_at))
        power[row.station_id] = (total + row.power_w, max(latest, row.measured_at))
    active: dict[str, list[str]] = {}
    for row in (
        await session.execute(
            sa.select(transactions.c.station_id, transactions.c.transaction_id)
            .where(transactions.c.ended_at.is_(None))
            .order_by(transactions.c.transaction_id)
        )
    ).all():
        active.setdefault(row.station_id, []).append(row.transaction_id)

    views = []
    for station_id in sorted({*site_of, *info, *connectors, *power}):
        site = site_of.get(station_id, UNASSIGNED)
        if site_id is not None and site != site_id:
            continue
        registered = info.get(station_id)
        watts, watts_at = power.get(station_id, (None, None))
        views.append(
            StationView(
                station_id=station_id,
                site_id=site,
                vendor=registered.vendor if registered else None,
                model=registered.model if registered else None,
                firmware_version=registered.firmware_version if registered else None,
                registered_at=registered.registered_at if registered else None,
                power_w=watts,
                power_at=watts_at,
                connectors=connectors.get(station_id, []),
                active_transactions=active.get(station_id, []),
            )
        )
    return views
