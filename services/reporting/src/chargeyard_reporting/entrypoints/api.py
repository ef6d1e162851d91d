"""REST /v1/reports: energy, sessions, utilisation, availability, CO2, green share and events,
each with filters, as JSON or CSV; station status and power."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from chargeyard_platform.auth import DRIVER, OPERATOR_ROLES, requires
from chargeyard_platform.problems import Problem
from chargeyard_platform.runtime import runtime_of
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AwareDatetime, BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from .. import reports, views
from ..config import Settings

# Every report is for the operator roles. Drivers may read the stations' status and power only
# (GET /v1/reports/stations: the driver app shows the power of the station they charge at).
READ = requires(OPERATOR_ROLES, action="read reports")
STATIONS = requires(OPERATOR_ROLES | {DRIVER}, action="read station status and power")
router = APIRouter(prefix="/v1/reports", tags=["reports"])

From = Annotated[AwareDatetime | None, Query(alias="from", description="ISO 8601 with offset, inclusive")]
To = Annotated[AwareDatetime | None, Query(description="ISO 8601 with offset, exclusive")]
SiteFilter = Annotated[str | None, Query(description='A site id; "unassigned" for stations in no topology')]


async def _energy(
    request: Request, site_id: str | None, start: AwareDatetime | None, end: AwareDatetime | None
) -> views.EnergyReport:
    if start is not None and end is not None and start >= end:
        raise Problem(422, "Empty period", f"from ({start.isoformat()}) must be before to ({end.isoformat()})")
    runtime = runtime_of(request)
    async with runtime.db.sessions() as session:
        return await views.energy_report(session, site_id=site_id, start=start, end=end)


@router.get("/energy", response_model=views.EnergyReport, dependencies=[Depends(READ)])
async def energy(request: Request, site_id: SiteFilter = None, from_: From = None, to: To = None) -> views.EnergyReport:
    return await _energy(request, site_id, from_, to)


@router.get(
    "/energy.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "site_id,station_id,energy_wh,from,to"}},
    dependencies=[Depends(READ)],
)
async def energy_csv(request: Request, site_id: SiteFilter = None, from_: From = None, to: To = None) -> Response:
    report = await _energy(request, site_id, from_, to)
    return Response(
        views.energy_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="energy.csv"'},
    )


@router.get("/stations", response_model=list[views.StationView], dependencies=[Depends(STATIONS)])
async def station_report(request: Request, site_id: SiteFilter = None) -> list[views.StationView]:
    runtime = runtime_of(request)
    async with runtime.db.sessions() as session:
        return await views.station_report(session, site_id=site_id)


# --- the reports with filters, each as JSON and as CSV ------------------------------------------

StationFilter = Annotated[str | None, Query(description="A station id")]
VehicleFilter = Annotated[str | None, Query(description="A vehicle id (from billing's CDRs)")]
UserFilter = Annotated[str | None, Query(description="A driver (user) id (from billing's CDRs)")]
TenantFilter = Annotated[str | None, Query(description="A tenant id (from billing's CDRs)")]
Format = Annotated[str, Query(pattern="^(json|csv)$", description="json (default) or csv")]


def _filters(
    from_: From = None,
    to: To = None,
    site_id: SiteFilter = None,
    station_id: StationFilter = None,
    vehicle_id: VehicleFilter = None,
    driver_id: UserFilter = None,
    tenant_id: TenantFilter = None,
) -> reports.Filters:
    if from_ is not None and to is not None and from_ >= to:
        raise Problem(422, "Empty period", f"from ({from_.isoformat()}) must be before to ({to.isoformat()})")
    return reports.Filters(from_, to, site_id, station_id, vehicle_id, driver_id, tenant_id)


FiltersDep = Annotated[reports.Filters, Depends(_filters)]


def _answer(name: str, report: BaseModel, rows: list[Any], model: type[BaseModel], format: str) -> Any:
    if format == "csv":
        return Response(
            reports.rows_csv(rows, model),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return report


async def _run(request: Request, build: Callable[[AsyncSession], Awaitable[BaseModel]]) -> Any:
    async with runtime_of(request).db.sessions() as session:
        try:
            return await build(session)
        except reports.NotApplicable as exc:
            raise Problem(422, "Filter does not apply", str(exc)) from exc


CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "JSON, or CSV rows with ?format=csv"}
}


@router.get("/energy-delivered", response_model=reports.EnergyReport, responses=CSV, dependencies=[Depends(READ)])
async def energy_delivered(request: Request, f: FiltersDep, format: Format = "json") -> Any:
    report = await _run(request, lambda s: reports.energy(s, f))
    return _answer("energy-delivered", report, report.rows, reports.EnergyRow, format)


@router.get("/sessions", response_model=reports.SessionsReport, responses=CSV, dependencies=[Depends(READ)])
async def sessions(request: Request, f: FiltersDep, format: Format = "json") -> Any:
    report = await _run(request, lambda s: reports.sessions(s, f))
    return _answer("sessions", report, report.rows, reports.SessionRow, format)


@router.get("/utilisation", response_model=reports.UtilisationReport, responses=CSV, dependencies=[Depends(READ)])
async def connector_utilisation(request: Request, f: FiltersDep, format: Format = "json") -> Any:
    now = runtime_of(request).clock.now()
    report = await _run(request, lambda s: reports.connector_utilisation(s, f, now))
    return _answer("utilisation", report, report.rows, reports.UtilisationRow, format)


@router.get("/availability", response_model=reports.AvailabilityReport, responses=CSV, dependencies=[Depends(READ)])
async def station_availability(request: Request, f: FiltersDep, format: Format = "json") -> Any:
    now = runtime_of(request).clock.now()
    report = await _run(request, lambda s: reports.station_availability(s, f, now))
    return _answer("availability", report, report.rows, reports.AvailabilityRow, format)


@router.get("/co2", response_model=reports.Co2Report, responses=CSV, dependencies=[Depends(READ)])
async def co2_avoided(
    request: Request,
    f: FiltersDep,
    format: Format = "json",
    reference: Annotated[str, Query(pattern="^(petrol|diesel)$")] = "petrol",
    grid_g_co2_per_kwh: Annotated[float | None, Query(ge=0)] = None,
    reference_g_co2_per_km: Annotated[float | None, Query(ge=0)] = None,
    ev_kwh_per_100km: Annotated[float | None, Query(gt=0)] = None,
) -> Any:
    settings = getattr(runtime_of(request), "settings", None)
    defaults = settings if isinstance(settings, Settings) else Settings.model_construct()
    default_ref = defaults.petrol_g_co2_per_km if reference == "petrol" else defaults.diesel_g_co2_per_km
    p = reports.Co2Parameters(
        grid_g_per_kwh=defaults.grid_g_co2_per_kwh if grid_g_co2_per_kwh is None else grid_g_co2_per_kwh,
        reference_g_per_km=default_ref if reference_g_co2_per_km is None else reference_g_co2_per_km,
        ev_kwh_per_100km=defaults.ev_kwh_per_100km if ev_kwh_per_100km is None else ev_kwh_per_100km,
        reference=reference,
    )
    report = await _run(request, lambda s: reports.co2_avoided(s, f, p))
    return _answer("co2", report, report.rows, reports.Co2Row, format)


@router.get("/green-share", response_model=reports.GreenReport, responses=CSV, dependencies=[Depends(READ)])
async def green_share(request: Request, f: FiltersDep, format: Format = "json") -> Any:
    report = await _run(request, lambda s: reports.green_share(s, f))
    return _answer("green-share", report, report.rows, reports.GreenRow, format)


@router.get("/events", response_model=reports.EventsReport, responses=CSV, dependencies=[Depends(READ)])
async def event_history(
    request: Request, f: FiltersDep, format: Format = "json", limit: Annotated[int, Query(ge=1, le=10_000)] = 1000
) -> Any:
    report = await _run(request, lambda s: reports.events(s, f, limit))
    return _answer("events", report, report.rows, reports.EventRow, format)
