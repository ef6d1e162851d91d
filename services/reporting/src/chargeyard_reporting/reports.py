"""The reports behind /v1/reports/*: every report is a list of flat rows plus totals, so the same
rows give the JSON answer and the CSV export.

Where the numbers come from:
- energy: register deltas (meter.values and transaction meterStart/Stop) by station and site;
  with a user, vehicle or tenant filter, the energy of those people's charges (billing's CDRs),
  since a meter reading knows no driver;
- sessions: transaction.events for start, end and duration; billing.cdr for driver, vehicle,
  tenant and cost (average cost over priced CDRs only: a flagged CDR has no price yet);
- utilisation and availability: station.status history (see domain/timeline.py);
- CO2 avoided: energy × (the petrol or diesel car's CO2 for the same distance − the grid's CO2
  for the energy), with the grid intensity, the reference car and the EV's consumption as
  parameters (defaults in the service's settings);
- green share: energy whose register delta falls in an energy.green interval, weighted by that
  interval's renewable share; energy outside any interval is reported as not covered;
- events: status changes with an error code or into Faulted / Unavailable / Offline, and
  station.events (device-model events with the manufacturer's tech code, security events,
  firmware status), with the station's vendor and model.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from .adapters.orm import (
    charges,
    green_intervals,
    meter_readings,
    station_sites,
    stations,
    status_history,
    transactions,
)
from .adapters.orm import station_events as station_events_table
from .domain.report import UNASSIGNED
from .domain.timeline import DOWN, Change, availability, utilisation


@dataclass(frozen=True)
class Filters:
    start: datetime | None = None
    end: datetime | None = None
    site_id: str | None = None
    station_id: str | None = None
    vehicle_id: str | None = None
    driver_id: str | None = None
    tenant_id: str | None = None

    @property
    def by_person(self) -> bool:
        return any(v is not None for v in (self.vehicle_id, self.driver_id, self.tenant_id))


class NotApplicable(ValueError):
    """A filter that the report cannot apply (a driver filter on a station's availability)."""


async def _site_of(s: AsyncSession) -> dict[str, str]:
    rows = (await s.execute(sa.select(station_sites.c.station_id, station_sites.c.site_id))).all()
    return {row.station_id: row.site_id for row in rows}


def _station_ok(f: Filters, station_id: str, site_of: dict[str, str]) -> bool:
    if f.station_id is not None and station_id != f.station_id:
        return False
    return f.site_id is None or site_of.get(station_id, UNASSIGNED) == f.site_id


def _only_station_filters(f: Filters, report: str) -> None:
    if f.by_person:
        raise NotApplicable(f"the {report} report is per station and connector: drop vehicle_id, driver_id, tenant_id")


# --- energy -----------------------------------------------------------------------------------


class EnergyRow(BaseModel):
    site_id: str
    station_id: str
    energy_wh: int


class EnergyReport(BaseModel):
    energy_wh: int
    source: str
    rows: list[EnergyRow]


async def _charges(s: AsyncSession, f: Filters, site_of: dict[str, str]) -> list[sa.Row[Any]]:
    c = charges.c
    query = sa.select(charges)
    for column, value in ((c.vehicle_id, f.vehicle_id), (c.driver_id, f.driver_id), (c.tenant_id, f.tenant_id)):
        if value is not None:
            query = query.where(column == value)
    if f.start is not None:
        query = query.where(c.stopped_at >= f.start)
    if f.end is not None:
        query = query.where(c.stopped_at < f.end)
    return [r for r in (await s.execute(query.order_by(c.stopped_at))).all() if _station_ok(f, r.station_id, site_of)]


async def energy(s: AsyncSession, f: Filters) -> EnergyReport:
    site_of = await _site_of(s)
    per_station: dict[str, int] = {}
    if f.by_person:
        source = "billing.cdr energy of the matching charges, by end time"
        for row in await _charges(s, f, site_of):
            per_station[row.station_id] = per_station.get(row.station_id, 0) + (row.energy_wh or 0)
    else:
        source = "register deltas, by the time of the later reading"
        r = meter_readings.c
        query = sa.select(r.station_id, sa.func.sum(r.delta_wh).label("wh")).group_by(r.station_id)
        if f.start is not None:
            query = query.where(r.read_at >= f.start)
        if f.end is not None:
            query = query.where(r.read_at < f.end)
        for summed in (await s.execute(query)).all():
            if _station_ok(f, summed.station_id, site_of):
                per_station[summed.station_id] = int(summed.wh)
    rows = [
        EnergyRow(site_id=site_of.get(station, UNASSIGNED), station_id=station, energy_wh=wh)
        for station, wh in sorted(per_station.items(), key=lambda kv: (site_of.get(kv[0], UNASSIGNED), kv[0]))
    ]
    return EnergyReport(energy_wh=sum(r.energy_wh for r in rows), source=source, rows=rows)


# --- sessions ---------------------------------------------------------------------------------


class SessionRow(BaseModel):
    transaction_id: str
    site_id: str
    station_id: str
    evse_id: int
    started_at: datetime | None
    ended_at: datetime | None
    duration_min: float | None
    energy_wh: int | None
    driver_id: str | None
    vehicle_id: str | None
    tenant_id: str | None
    billing_status: str | None
    currency: str | None
    cost_gross: str | None


class SessionsReport(BaseModel):
    count: int
    completed: int
    average_duration_min: float | None
    energy_wh: int
    priced: int
    average_cost_gross: str | None
    """Over priced CDRs in one currency; null when none or mixed currencies."""
    currency: str | None
    rows: list[SessionRow]


async def sessions(s: AsyncSession, f: Filters) -> SessionsReport:
    site_of = await _site_of(s)
    t, c = transactions.c, charges.c
    query = sa.select(
        t.transaction_id,
        t.station_id,
        t.evse_id,
        t.started_at,
        t.ended_at,
        c.energy_wh,
        c.driver_id,
        c.vehicle_id,
        c.tenant_id,
        c.status,
        c.currency,
        c.gross,
    ).select_from(transactions.outerjoin(charges, c.transaction_id == t.transaction_id))
    for column, value in ((c.vehicle_id, f.vehicle_id), (c.driver_id, f.driver_id), (c.tenant_id, f.tenant_id)):
        if value is not None:
            query = query.where(column == value)
    if f.start is not None:
        query = query.where(t.started_at >= f.start)
    if f.end is not None:
        query = query.where(t.started_at < f.end)
    rows = []
    for row in (await s.execute(query.order_by(t.started_at, t.transaction_id))).all():
        if not _station_ok(f, row.station_id, site_of):
            continue
        duration = (row.ended_at - row.started_at).total_seconds() / 60 if row.started_at and row.ended_at else None
        rows.append(
            SessionRow(
                transaction_id=row.transaction_id,
                site_id=site_of.get(row.station_id, UNASSIGNED),
                station_id=row.station_id,
                evse_id=row.evse_id,
                started_at=row.started_at,
                ended_at=row.ended_at,
                duration_min=None if duration is None else round(duration, 2),
                energy_wh=row.energy_wh,
                driver_id=row.driver_id,
                vehicle_id=row.vehicle_id,
                tenant_id=row.tenant_id,
                billing_status=row.status,
                currency=row.currency,
                cost_gross=row.gross,
            )
        )
    durations = [r.duration_min for r in rows if r.duration_min is not None]
    priced = [r for r in rows if r.billing_status == "priced" and r.cost_gross is not None]
    currencies = {r.currency for r in priced}
    average_cost = None
    if priced and len(currencies) == 1:
        total = sum((Decimal(r.cost_gross or "0") for r in priced), Decimal(0))
        average_cost = str((total / len(priced)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    return SessionsReport(
        count=len(rows),
        completed=sum(1 for r in rows if r.ended_at is not None),
        average_duration_min=round(sum(durations) / len(durations), 2) if durations else None,
        energy_wh=sum(r.energy_wh or 0 for r in rows),
        priced=len(priced),
        average_cost_gross=average_cost,
        currency=currencies.pop() if len(currencies) == 1 else None,
        rows=rows,
    )


# --- utilisation and availability ---------------------------------------------------------------


async def _history(s: AsyncSession, f: Filters, end: datetime) -> dict[tuple[str, int, int], list[Change]]:
    h = status_history.c
    query = sa.select(h.station_id, h.evse_id, h.connector_id, h.at, h.status).where(h.at < end)
    if f.station_id is not None:
        query = query.where(h.station_id == f.station_id)
    history: dict[tuple[str, int, int], list[Change]] = {}
    for row in (await s.execute(query.order_by(h.at))).all():
        history.setdefault((row.station_id, row.evse_id, row.connector_id), []).append(Change(row.at, row.status))
    return history


class UtilisationRow(BaseModel):
    site_id: str
    station_id: str
    evse_id: int
    connector_id: int
    known_s: float
    in_use_s: float
    charging_s: float
    utilisation: float | None


class UtilisationReport(BaseModel):
    start: datetime
    end: datetime
    rows: list[UtilisationRow]


async def connector_utilisation(s: AsyncSession, f: Filters, now: datetime) -> UtilisationReport:
    _only_station_filters(f, "utilisation")
    end = f.end or now
    site_of = await _site_of(s)
    history = await _history(s, f, end)
    start = f.start or min((c[0].at for c in history.values()), default=end)
    rows = []
    for (station_id, evse_id, connector_id), changes in sorted(history.items()):
        if evse_id == 0 or not _station_ok(f, station_id, site_of):
            continue
        u = utilisation(changes, start, end)
        rows.append(
            UtilisationRow(
                site_id=site_of.get(station_id, UNASSIGNED),
                station_id=station_id,
                evse_id=evse_id,
                connector_id=connector_id,
                known_s=u.known_s,
                in_use_s=u.in_use_s,
                charging_s=u.charging_s,
                utilisation=None if u.share is None else round(u.share, 4),
            )
        )
    return UtilisationReport(start=start, end=end, rows=rows)


class AvailabilityRow(BaseModel):
    site_id: str
    station_id: str
    known_s: float
    available_s: float
    availability: float | None


class AvailabilityReport(BaseModel):
    start: datetime
    end: datetime
    rows: list[AvailabilityRow]


async def station_availability(s: AsyncSession, f: Filters, now: datetime) -> AvailabilityReport:
    _only_station_filters(f, "availability")
    end = f.end or now
    site_of = await _site_of(s)
    history = await _history(s, f, end)
    start = f.start or min((c[0].at for c in history.values()), default=end)
    per_station: dict[str, tuple[list[Change], list[list[Change]]]] = {}
    for (station_id, evse_id, _), changes in history.items():
        station_level, connectors = per_station.setdefault(station_id, ([], []))
        if evse_id == 0:
            station_level.extend(changes)
        else:
            connectors.append(changes)
    rows = []
    for station_id, (station_level, connectors) in sorted(per_station.items()):
        if not _station_ok(f, station_id, site_of):
            continue
        a = availability(station_level, connectors, start, end)
        rows.append(
            AvailabilityRow(
                site_id=site_of.get(station_id, UNASSIGNED),
                station_id=station_id,
                known_s=a.known_s,
                available_s=a.available_s,
                availability=None if a.share is None else round(a.share, 4),
            )
        )
    return AvailabilityReport(start=start, end=end, rows=rows)


# --- CO2 and green share ------------------------------------------------------------------------


@dataclass(frozen=True)
class Co2Parameters:
    grid_g_per_kwh: float
    reference_g_per_km: float
    ev_kwh_per_100km: float
    reference: str


class Co2Row(BaseModel):
    site_id: str
    station_id: str
    energy_wh: int
    km_equivalent: float
    reference_kg: float
    grid_kg: float
    avoided_kg: float


class Co2Report(BaseModel):
    reference: str
    grid_g_per_kwh: float
    reference_g_per_km: float
    ev_kwh_per_100km: float
    avoided_kg: float
    rows: list[Co2Row]


async def co2_avoided(s: AsyncSession, f: Filters, p: Co2Parameters) -> Co2Report:
    rows = []
    for e in (await energy(s, f)).rows:
        kwh = e.energy_wh / 1000
        km = kwh / p.ev_kwh_per_100km * 100
        reference_kg = km * p.reference_g_per_km / 1000
        grid_kg = kwh * p.grid_g_per_kwh / 1000
        rows.append(
            Co2Row(
                site_id=e.site_id,
                station_id=e.station_id,
                energy_wh=e.energy_wh,
                km_equivalent=round(km, 3),
                reference_kg=round(reference_kg, 3),
                grid_kg=round(grid_kg, 3),
                avoided_kg=round(reference_kg - grid_kg, 3),
            )
        )
    return Co2Report(
        reference=p.reference,
        grid_g_per_kwh=p.grid_g_per_kwh,
        reference_g_per_km=p.reference_g_per_km,
        ev_kwh_per_100km=p.ev_kwh_per_100km,
        avoided_kg=round(sum(r.avoided_kg for r in rows), 3),
        rows=rows,
    )


class GreenRow(BaseModel):
    site_id: str
    energy_wh: int
    covered_wh: int
    """Energy inside an interval with a known renewable share."""
    green_wh: float
    green_share: float | None


class GreenReport(BaseModel):
    energy_wh: int
    green_wh: float
    green_share: float | None
    rows: list[GreenRow]


async def green_share(s: AsyncSession, f: Filters) -> GreenReport:
    if f.by_person:
        raise NotApplicable("the green share is per site, from register deltas: drop vehicle_id, driver_id, tenant_id")
    site_of = await _site_of(s)
    r = meter_readings.c
    query = sa.select(r.station_id, r.read_at, r.delta_wh).where(r.delta_wh > 0)
    if f.start is not None:
        query = query.where(r.read_at >= f.start)
    if f.end is not None:
        query = query.where(r.read_at < f.end)
    g = green_intervals.c
    intervals: dict[str, list[sa.Row[Any]]] = {}
    for row in (await s.execute(sa.select(green_intervals).order_by(g.start))).all():
        intervals.setdefault(row.site_id, []).append(row)
    totals: dict[str, list[float]] = {}
    for row in (await s.execute(query)).all():
        if not _station_ok(f, row.station_id, site_of):
            continue
        site = site_of.get(row.station_id, UNASSIGNED)
        acc = totals.setdefault(site, [0, 0, 0.0])
        acc[0] += row.delta_wh
        share = next((i.renewable_share for i in intervals.get(site, []) if i.start <= row.read_at < i.end), None)
        if share is not None:
            acc[1] += row.delta_wh
            acc[2] += row.delta_wh * share
    rows = [
        GreenRow(
            site_id=site,
            energy_wh=int(e),
            covered_wh=int(c),
            green_wh=round(gw, 1),
            green_share=round(gw / c, 4) if c else None,
        )
        for site, (e, c, gw) in sorted(totals.items())
    ]
    covered = sum(r.covered_wh for r in rows)
    green = sum(r.green_wh for r in rows)
    return GreenReport(
        energy_wh=sum(r.energy_wh for r in rows),
        green_wh=round(green, 1),
        green_share=round(green / covered, 4) if covered else None,
        rows=rows,
    )


# --- event history ----------------------------------------------------------------------------


class EventRow(BaseModel):
    at: datetime
    site_id: str
    station_id: str
    vendor: str | None
    model: str | None
    evse_id: int | None
    connector_id: int | None
    kind: str
    status: str | None
    error_code: str | None
    vendor_error_code: str | None
    detail: str | None


class EventsReport(BaseModel):
    rows: list[EventRow]


async def events(s: AsyncSession, f: Filters, limit: int = 1000) -> EventsReport:
    _only_station_filters(f, "event history")
    site_of = await _site_of(s)
    info = {row.station_id: row for row in (await s.execute(sa.select(stations))).all()}
    h = status_history.c
    q1 = sa.select(status_history).where(
        sa.or_(
            h.status.in_(sorted(DOWN)),
            h.vendor_error_code.is_not(None),
            sa.and_(h.error_code.is_not(None), h.error_code != "NoError"),
        )
    )
    e = station_events_table.c
    q2 = sa.select(station_events_table)
    if f.start is not None:
        q1, q2 = q1.where(h.at >= f.start), q2.where(e.at >= f.start)
    if f.end is not None:
        q1, q2 = q1.where(h.at < f.end), q2.where(e.at < f.end)
    if f.station_id is not None:
        q1, q2 = q1.where(h.station_id == f.station_id), q2.where(e.station_id == f.station_id)
    rows: list[EventRow] = []

    def base(station_id: str) -> dict[str, str | None]:
        known = info.get(station_id)
        return {
            "site_id": site_of.get(station_id, UNASSIGNED),
            "station_id": station_id,
            "vendor": known.vendor if known else None,
            "model": known.model if known else None,
        }

    for row in (await s.execute(q1)).all():
        if _station_ok(f, row.station_id, site_of):
            rows.append(
                EventRow(
                    at=row.at,
                    **base(row.station_id),
                    evse_id=row.evse_id,
                    connector_id=row.connector_id,
                    kind="status",
                    status=row.status,
                    error_code=row.error_code,
                    vendor_error_code=row.vendor_error_code,
                    detail=None,
                )
            )
    for row in (await s.execute(q2)).all():
        if _station_ok(f, row.station_id, site_of):
            rows.append(
                EventRow(
                    at=row.at,
                    **base(row.station_id),
                    evse_id=None,
                    connector_id=None,
                    kind=row.kind,
                    status=None,
                    error_code=None,
                    vendor_error_code=row.code,
                    detail=row.detail,
                )
            )
    rows.sort(key=lambda r: (r.at, r.station_id, r.kind), reverse=True)
    return EventsReport(rows=rows[:limit])


# --- CSV ----------------------------------------------------------------------------------------


def rows_csv(rows: Sequence[BaseModel], model: type[BaseModel]) -> str:
    """RFC 4180 CSV of a report's rows: one column per field, times in ISO 8601 with offset."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    fields = list(model.model_fields)
    writer.writerow(fields)
    for row in rows:
        values = row.model_dump(mode="json")
        writer.writerow(["" if values[k] is None else values[k] for k in fields])
    return out.getvalue()
