"""The back office: pages for fleet managers, site operators and maintainers."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from ..adapters.platform import Rejected
from ..domain import firmware
from ..domain.plan import site_power, timeline
from .common import SESSION_COOKIE, User, current_user, part, platform_of, render, settings_of
from .forms import bad, local_time, optional, scaled, watt_hours

router = APIRouter()
Me = Annotated[User, Depends(current_user)]
SiteQuery = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
LIVE_STATUSES = ("requested", "scheduled", "waitlisted", "conflict", "arrived", "charging")


# --- signing in ------------------------------------------------------------------------------------


@router.get("/login")
async def login_page(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", next=next if next.startswith("/") else "/", error=None)


@router.post("/login")
async def login(
    request: Request,
    username: Annotated[str, Form(min_length=1, max_length=320)],
    password: Annotated[str, Form(min_length=1, max_length=1000)],
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    platform = platform_of(request)
    try:
        token = await platform.sign_in(username, password)
    except Rejected as refused:
        error = "Wrong user name or password" if refused.status == 401 else refused.detail
        return render(request, "login.html", status_code=refused.status, next=next, error=error)
    me = await platform.json("reservation-api", "/v1/me", token=token.access_token)
    target = next if next.startswith("/") and next not in ("/", "/login") else None
    if target is None:
        target = "/app" if set(me["roles"]) == {"driver"} else "/dashboard"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token.access_token,
        max_age=token.expires_in,
        httponly=True,
        samesite="lax",
        secure=settings_of(request).secure_cookies,
    )
    return response


@router.post("/logout")
async def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/")
async def home(user: Me) -> Response:
    return RedirectResponse("/app" if user.is_driver_only else "/dashboard", status_code=303)


# --- dashboard -------------------------------------------------------------------------------------


async def site_ids(request: Request, user: User) -> list[str]:
    sites = await part(request, "sites", platform_of(request).json("energy-manager", "/v1/sites", token=user.token))
    found = [s["site_id"] for s in sites or []]
    default = settings_of(request).default_site_id
    return found or [default]


def current_limit(capacity: dict[str, Any] | None, topology: dict[str, Any] | None) -> int | None:
    if capacity is not None:
        now = datetime.now(UTC)
        for interval in capacity.get("intervals", []):
            start = datetime.fromisoformat(interval["start"].replace("Z", "+00:00"))
            end = datetime.fromisoformat(interval["end"].replace("Z", "+00:00"))
            if start <= now < end:
                return int(interval["limit_w"])
        return int(capacity["default_limit_w"])
    if topology is not None:
        return int(topology["grid_limit_w"])
    return None


async def dashboard_data(request: Request, user: User, site_id: str, group_id: str | None = None) -> dict[str, Any]:
    """A site's dashboard; with a group (EVSEs on any sites, the energy manager's groups), only
    the group's connectors."""
    platform = platform_of(request)
    stations, topology, capacity, plan, booked = await asyncio.gather(
        part(
            request,
            "station status",
            platform.json("reporting", "/v1/reports/stations", params={"site_id": site_id}, token=user.token),
        ),
        part(request, "topology", platform.json("energy-manager", f"/v1/sites/{site_id}", token=user.token)),
        part(request, "capacity", platform.json("energy-manager", f"/v1/sites/{site_id}/capacity", token=user.token)),
        part(request, "plan", platform.json("scheduler", f"/v1/plans/{site_id}", token=user.token)),
        part(
            request,
            "reservations",
            platform.json(
                "reservation-api", "/v1/reservations", token=user.token, params={"site_id": site_id, "limit": 200}
            ),
        ),
        return_exceptions=True,
    )
    # A plan or capacity the service does not have yet (a 404 problem) is simply not there.
    for value in (stations, topology, capacity, plan, booked):
        if isinstance(value, BaseException) and not (isinstance(value, Rejected) and value.status == 404):
            raise value
    stations, topology, capacity, plan, booked = (
        None if isinstance(v, BaseException) else v for v in (stations, topology, capacity, plan, booked)
    )
    connectors = [
        f"{s['station_id']}/{evse}" for s in (topology or {}).get("stations", []) for evse in s.get("evse_ids", [1])
    ]
    group = None
    if group_id:
        groups = await part(request, "groups", platform.json("energy-manager", "/v1/groups", token=user.token))
        group = next((g for g in groups or [] if g["group_id"] == group_id), None)
        if group is None:
            raise Rejected(404, "Unknown group", f"No group {group_id}: pick one of the energy manager's groups")
        members = {f"{e['station_id']}/{e['evse_id']}" for e in group["evses"]}
        everywhere = await part(
            request, "station status", platform.json("reporting", "/v1/reports/stations", token=user.token)
        )
        stations = [
            s | {"connectors": [c for c in s["connectors"] if f"{s['station_id']}/{c['evse_id']}" in members]}
            for s in everywhere or []
            if any(m.startswith(f"{s['station_id']}/") for m in members)
        ]
        connectors = sorted(members)
    power = site_power(stations or [])
    limit = current_limit(capacity, topology)
    sessions = [r for r in (booked or {}).get("items", []) if r["status"] in LIVE_STATUSES]
    sessions.sort(key=lambda r: r["arrival"])
    return {
        "site_id": site_id,
        "group": group,
        "stations": sorted(stations or [], key=lambda s: s["station_id"]),
        "power_w": power,
        "limit_w": limit,
        "share": min(100, round(100 * power / limit)) if limit else None,
        "sessions": sessions,
        "chart": {
            "power_w": power,
            "limit_w": limit,
            "at": datetime.now(UTC).isoformat(),
            "timeline": timeline(plan, connectors),
        },
        "missing": getattr(request.state, "missing", []),
    }


@router.get("/dashboard")
async def dashboard(request: Request, user: Me, site: SiteQuery = None, group: SiteQuery = None) -> Response:
    sites, groups = await asyncio.gather(
        site_ids(request, user),
        part(request, "groups", platform_of(request).json("energy-manager", "/v1/groups", token=user.token)),
    )
    site_id = site or sites[0]
    data = await dashboard_data(request, user, site_id, group)
    return render(request, "dashboard.html", user=user, sites=sites, groups=groups or [], page="dashboard", **data)


@router.get("/dashboard/live")
async def dashboard_live(request: Request, user: Me, site: SiteQuery = None, group: SiteQuery = None) -> Response:
    """The live part of the dashboard, polled by htmx (hx-trigger="every 2s"): no reload."""
    site_id = site or settings_of(request).default_site_id
    return render(request, "dashboard_live.html", user=user, **await dashboard_data(request, user, site_id, group))


# --- stations --------------------------------------------------------------------------------------


@router.get("/stations")
async def stations_page(request: Request, user: Me) -> Response:
    platform = platform_of(request)
    stations, status, sites, rollouts = await asyncio.gather(
        part(request, "stations", platform.json("ocpp-gateway", "/v1/stations", token=user.token)),
        part(request, "station status", platform.json("reporting", "/v1/reports/stations", token=user.token)),
        site_ids(request, user),
        part(request, "firmware roll-outs", platform.json("energy-manager", "/v1/firmware-rollouts", token=user.token)),
    )
    by_id = {s["station_id"]: s for s in status or []}
    tz = await time_zone_of(request, user, sites[0])
    return render(
        request,
        "stations.html",
        user=user,
        page="stations",
        stations=sorted(stations or [], key=lambda s: s["id"]),
        status=by_id,
        sites=sites,
        rollouts=rollouts or [],
        time_zone=tz,
        may_command=may_command(user),
        missing=getattr(request.state, "missing", []),
    )


@router.get("/stations/{station_id}")
async def station_page(request: Request, user: Me, station_id: str, sent: str | None = None) -> Response:
    platform = platform_of(request)
    station, journal, status = await asyncio.gather(
        platform.json("ocpp-gateway", f"/v1/stations/{station_id}", token=user.token),
        part(
            request,
            "event history",
            platform.json("ocpp-gateway", f"/v1/stations/{station_id}/journal", token=user.token),
        ),
        part(request, "station status", platform.json("reporting", "/v1/reports/stations", token=user.token)),
    )
    mine = next((s for s in status or [] if s["station_id"] == station_id), None)
    return render(
        request,
        "station.html",
        user=user,
        page="stations",
        station=station,
        journal=(journal or [])[-100:][::-1],
        status=mine,
        sent=sent,
        may_command=may_command(user),
        missing=getattr(request.state, "missing", []),
    )


def may_command(user: User) -> bool:
    return user.can("sites:manage") or user.can("connectors:read")


def check_may_command(user: User) -> None:
    if not may_command(user):
        raise Rejected(403, "Forbidden", "Your role may not send commands to stations")


COMMANDS = {
    # The energy manager takes OCPP's own words (ResetKind "Soft", "Hard"), capitalised.
    "soft-reset": ("reset", {"kind": "Soft"}),
    "hard-reset": ("reset", {"kind": "Hard"}),
    "inoperative": ("availability", {"operative": False}),
    "operative": ("availability", {"operative": True}),
    "unlock": ("unlock", {"evse_id": 1, "connector_id": 1}),
}


@router.post("/stations/{station_id}/commands")
async def station_command(
    request: Request,
    user: Me,
    station_id: str,
    command: Annotated[str, Form(pattern="^(" + "|".join(COMMANDS) + ")$")],
) -> Response:
    """Operator commands go through the energy manager, which owns the infrastructure."""
    check_may_command(user)
    path, body = COMMANDS[command]
    response = await platform_of(request).call(
        "energy-manager",
        "POST",
        f"/v1/stations/{station_id}/{path}",
        json=body,
        token=user.token,
    )
    command_id = response.json().get("command_id", "")
    return RedirectResponse(f"/stations/{station_id}?sent={command_id}", status_code=303)


@router.post("/stations/{station_id}/stop")
async def remote_stop(
    request: Request,
    user: Me,
    station_id: str,
    transaction_id: Annotated[str, Form(min_length=1, max_length=36)],
) -> Response:
    """Stop a running session: RemoteStop through the energy manager."""
    check_may_command(user)
    response = await platform_of(request).call(
        "energy-manager",
        "POST",
        f"/v1/stations/{station_id}/remote-stop",
        json={"transaction_id": transaction_id},
        token=user.token,
    )
    command_id = response.json().get("command_id", "")
    return RedirectResponse(f"/stations/{station_id}?sent={command_id}", status_code=303)


# --- firmware roll-outs ----------------------------------------------------------------------------


@router.post("/firmware")
async def create_rollout(
    request: Request,
    user: Me,
    location: Annotated[str, Form(min_length=1, max_length=512)],
    target: Annotated[str, Form(pattern="^(site|stations)$")],
    site_id: Annotated[str, Form(max_length=64)] = "",
    station_ids: Annotated[list[str] | None, Form()] = None,
    retrieve_at: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """A firmware update for every station of a site or for the stations ticked, at a retrieve
    time in the site's time zone (none: now). The energy manager checks the rest."""
    check_may_command(user)
    site = optional(site_id) or settings_of(request).default_site_id
    body: dict[str, Any] = {"location": location.strip()}
    if optional(retrieve_at):
        tz = await time_zone_of(request, user, site)
        body["retrieve_at"] = local_time("retrieve_at", retrieve_at, tz).isoformat()
    if target == "site":
        body["site_id"] = site
    else:
        chosen = [s for s in (station_ids or []) if s.strip()]
        if not chosen:
            raise bad("station_ids", "tick at least one station, or choose all stations of a site")
        body["station_ids"] = chosen
    created = await platform_of(request).call(
        "energy-manager", "POST", "/v1/firmware-rollouts", json=body, token=user.token
    )
    return RedirectResponse(f"/firmware/{created.json()['rollout_id']}", status_code=303)


@router.get("/firmware/{rollout_id}")
async def rollout_page(
    request: Request, user: Me, rollout_id: Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
) -> Response:
    """A roll-out's progress per station; its table refreshes in place (htmx) as the stations report."""
    platform = platform_of(request)
    rollout = await platform.json("energy-manager", f"/v1/firmware-rollouts/{rollout_id}", token=user.token)
    report = await part(
        request,
        "firmware status",
        platform.json(
            "reporting", "/v1/reports/events", params={"from": rollout["created_at"], "limit": 10_000}, token=user.token
        ),
    )
    lines = firmware.progress(rollout, (report or {}).get("rows", []))
    template = "rollout_live.html" if request.headers.get("hx-request") else "rollout.html"
    return render(
        request,
        template,
        user=user,
        page="stations",
        rollout=rollout,
        lines=lines,
        counts=firmware.summary(lines),
        missing=getattr(request.state, "missing", []),
    )


# --- reservations ----------------------------------------------------------------------------------


async def time_zone_of(request: Request, user: User, site_id: str) -> str:
    site = await part(
        request, "site", platform_of(request).json("reservation-api", f"/v1/sites/{site_id}", token=user.token)
    )
    return str((site or {}).get("time_zone") or "Europe/Berlin")


@router.get("/reservations")
async def reservations_page(request: Request, user: Me, site: SiteQuery = None) -> Response:
    platform = platform_of(request)
    site_id = site or settings_of(request).default_site_id
    booked, waiting, vehicles, tz = await asyncio.gather(
        platform.json("reservation-api", "/v1/reservations", token=user.token, params={"limit": 200}),
        part(
            request, "waiting list", platform.json("reservation-api", f"/v1/sites/{site_id}/waitlist", token=user.token)
        ),
        part(request, "vehicles", platform.json("reservation-api", "/v1/vehicles", token=user.token)),
        time_zone_of(request, user, site_id),
        return_exceptions=True,
    )
    if isinstance(booked, BaseException):
        raise booked
    now = datetime.now(ZoneInfo(tz if isinstance(tz, str) else "Europe/Berlin")).replace(second=0, microsecond=0)
    return render(
        request,
        "reservations.html",
        user=user,
        page="reservations",
        site_id=site_id,
        reservations=sorted(booked["items"], key=lambda r: r["arrival"], reverse=True),
        waiting=[] if isinstance(waiting, BaseException) else waiting or [],
        vehicles=[] if isinstance(vehicles, BaseException) or vehicles is None else vehicles["items"],
        time_zone=tz,
        default_arrival=now.strftime("%Y-%m-%dT%H:%M"),
        default_departure=(now + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M"),
        missing=getattr(request.state, "missing", []),
    )


@router.post("/reservations")
async def create_reservation(
    request: Request,
    user: Me,
    arrival: Annotated[str, Form(max_length=40)],
    departure: Annotated[str, Form(max_length=40)],
    energy_kwh: Annotated[str, Form(max_length=20)],
    site_id: Annotated[str, Form(max_length=64)] = "",
    station_id: Annotated[str, Form(max_length=48)] = "",
    vehicle_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    site = optional(site_id) or settings_of(request).default_site_id
    tz = await time_zone_of(request, user, site)
    body = {
        "site_id": site,
        "arrival": local_time("arrival", arrival, tz).isoformat(),
        "departure": local_time("departure", departure, tz).isoformat(),
        "energy_wh": watt_hours("energy_kwh", energy_kwh),
        "station_id": optional(station_id),
        "vehicle_id": optional(vehicle_id),
    }
    created = await platform_of(request).call(
        "reservation-api", "POST", "/v1/reservations", token=user.token, json={k: v for k, v in body.items() if v}
    )
    return RedirectResponse(f"/reservations/{created.json()['id']}", status_code=303)


@router.get("/reservations/{reservation_id}")
async def reservation_page(request: Request, user: Me, reservation_id: str) -> Response:
    reservation = await platform_of(request).json(
        "reservation-api", f"/v1/reservations/{reservation_id}", token=user.token
    )
    template = "reservation_live.html" if request.headers.get("hx-request") else "reservation.html"
    return render(request, template, user=user, page="reservations", r=reservation)


@router.post("/reservations/{reservation_id}/start")
async def remote_start(request: Request, user: Me, reservation_id: str) -> Response:
    """Remote start from the back office: the reservation's driver's session on its assigned
    connector (the reservation API sends the RemoteStart with the driver's token)."""
    platform = platform_of(request)
    r = await platform.json("reservation-api", f"/v1/reservations/{reservation_id}", token=user.token)
    if not r.get("assigned_station_id"):
        raise Rejected(409, "No connector yet", "The reservation has no assigned connector to start on")
    await platform.call(
        "reservation-api",
        "POST",
        f"/v1/connectors/{r['assigned_station_id']}/{r['assigned_evse_id']}/start",
        token=user.token,
        json={"reservation_id": reservation_id},
    )
    return RedirectResponse(f"/reservations/{reservation_id}", status_code=303)


@router.post("/reservations/{reservation_id}/cancel")
async def cancel_reservation(request: Request, user: Me, reservation_id: str) -> Response:
    await platform_of(request).call(
        "reservation-api",
        "POST",
        f"/v1/reservations/{reservation_id}/cancel",
        token=user.token,
        json={"reason": "cancelled in the back office"},
    )
    return RedirectResponse(f"/reservations/{reservation_id}", status_code=303)


# --- fleet, topology, tariffs, reports -------------------------------------------------------------


@router.get("/fleet")
async def fleet_page(request: Request, user: Me, created: str | None = None, changed: str | None = None) -> Response:
    platform = platform_of(request)
    vehicles, drivers = await asyncio.gather(
        part(request, "vehicles", platform.json("reservation-api", "/v1/vehicles", token=user.token)),
        part(request, "drivers", platform.json("reservation-api", "/v1/drivers", token=user.token)),
        return_exceptions=True,
    )
    items = [(v or {}).get("items", []) if not isinstance(v, BaseException) else [] for v in (vehicles, drivers)]
    return render(
        request,
        "fleet.html",
        user=user,
        page="fleet",
        vehicles=items[0],
        drivers=items[1],
        may_write=user.can("fleet:write"),
        created=created,
        changed=changed,
        connector_types=CONNECTOR_TYPES,
        # One key per form shown: a form sent twice (a double click, a retry) makes one vehicle.
        form_key=uuid.uuid4().hex,
        missing=getattr(request.state, "missing", []),
    )


CONNECTOR_TYPES = ("Type2", "Type1", "CCS2", "CCS1", "CHAdeMO")
FormKey = Annotated[str, Form(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]


Make = Annotated[str, Form(min_length=1, max_length=100)]
Amount = Annotated[str, Form(max_length=20)]
Phases = Annotated[int, Form(ge=1, le=3)]
ConnectorType = Annotated[str, Form(pattern="^(" + "|".join(CONNECTOR_TYPES) + ")$")]
Priority = Annotated[int, Form(ge=0, le=10)]
ExternalRef = Annotated[str, Form(max_length=100)]
Name = Annotated[str, Form(min_length=1, max_length=200)]
Email = Annotated[str, Form(max_length=320)]
Phone = Annotated[str, Form(max_length=40)]
VehicleIds = Annotated[list[str] | None, Form()]
FleetId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]


def vehicle_body(
    make: Make,
    model: Make,
    battery_kwh: Amount,
    consumption_kwh_per_100km: Amount,
    max_ac_power_kw: Amount,
    phases: Phases = 3,
    connector_type: ConnectorType = "Type2",
    priority: Priority = 0,
    external_ref: ExternalRef = "",
) -> dict[str, Any]:
    """The reservation API's vehicle fields from the form (kWh and kW as people type them); a
    dependency of the routes that create and edit a vehicle."""
    return {
        "make": make.strip(),
        "model": model.strip(),
        "battery_wh": scaled("battery_kwh", battery_kwh, unit="kWh", factor=1000, most=Decimal(500)),
        "consumption_wh_per_100km": scaled(
            "consumption_kwh_per_100km", consumption_kwh_per_100km, unit="kWh/100 km", factor=1000, most=Decimal(100)
        ),
        "max_ac_power_w": scaled("max_ac_power_kw", max_ac_power_kw, unit="kW", factor=1000, most=Decimal(350)),
        "phases": phases,
        "connector_type": connector_type,
        "priority": priority,
        "external_ref": optional(external_ref),
    }


def driver_body(
    name: Name, email: Email = "", phone: Phone = "", vehicle_ids: VehicleIds = None, external_ref: ExternalRef = ""
) -> dict[str, Any]:
    """The reservation API's driver fields from the form; a dependency like vehicle_body."""
    return {
        "name": name.strip(),
        "email": optional(email),
        "phone": optional(phone),
        "vehicle_ids": [v for v in (vehicle_ids or []) if v.strip()],
        "external_ref": optional(external_ref),
    }


VehicleForm = Annotated[dict[str, Any], Depends(vehicle_body)]
DriverForm = Annotated[dict[str, Any], Depends(driver_body)]


async def create_in_fleet(request: Request, user: User, path: str, body: dict[str, Any], key: str) -> Response:
    """POST what the form holds (empty optional fields left out), once per Idempotency-Key."""
    created = await platform_of(request).call(
        "reservation-api",
        "POST",
        path,
        token=user.token,
        json={k: v for k, v in body.items() if v is not None},
        headers={"Idempotency-Key": key},
    )
    return RedirectResponse(f"/fleet?created={created.json()['id']}", status_code=303)


async def save_changes(request: Request, user: User, path: str, body: dict[str, Any]) -> None:
    """PATCH only what the form changed: the audit log then says what was edited, and a field
    nobody touched is not written back over a change made meanwhile elsewhere. An emptied
    optional field (null) clears it."""
    platform = platform_of(request)
    current = await platform.json("reservation-api", path, token=user.token)
    changes = {k: v for k, v in body.items() if current.get(k) != v}
    if changes:
        await platform.call("reservation-api", "PATCH", path, token=user.token, json=changes)


@router.post("/fleet/vehicles")
async def create_vehicle(
    request: Request,
    user: Me,
    idempotency_key: FormKey,
    body: VehicleForm,
) -> Response:
    """A vehicle, through the reservation API (POST /v1/vehicles, fleet:write)."""
    return await create_in_fleet(request, user, "/v1/vehicles", body, idempotency_key)


@router.post("/fleet/vehicles/{vehicle_id}")
async def edit_vehicle(
    request: Request,
    user: Me,
    vehicle_id: FleetId,
    body: VehicleForm,
) -> Response:
    """An existing vehicle, through the reservation API (PATCH /v1/vehicles/{id}, fleet:write)."""
    await save_changes(request, user, f"/v1/vehicles/{vehicle_id}", body)
    return RedirectResponse(f"/fleet?changed={vehicle_id}", status_code=303)


@router.post("/fleet/drivers")
async def create_driver(
    request: Request,
    user: Me,
    idempotency_key: FormKey,
    body: DriverForm,
) -> Response:
    """A driver, through the reservation API (POST /v1/drivers, fleet:write); the driver's app
    sign-in is made by an administrator (POST /v1/users)."""
    return await create_in_fleet(request, user, "/v1/drivers", body, idempotency_key)


@router.post("/fleet/drivers/{driver_id}")
async def edit_driver(
    request: Request,
    user: Me,
    driver_id: FleetId,
    body: DriverForm,
) -> Response:
    """An existing driver, through the reservation API (PATCH /v1/drivers/{id}, fleet:write): the
    vehicles ticked replace the driver's list."""
    await save_changes(request, user, f"/v1/drivers/{driver_id}", body)
    return RedirectResponse(f"/fleet?changed={driver_id}", status_code=303)


@router.get("/topology")
async def topology_page(request: Request, user: Me, site: SiteQuery = None) -> Response:
    platform = platform_of(request)
    sites = await site_ids(request, user)
    site_id = site or sites[0]
    topology, capacity, groups = await asyncio.gather(
        part(request, "topology", platform.json("energy-manager", f"/v1/sites/{site_id}", token=user.token)),
        part(request, "capacity", platform.json("energy-manager", f"/v1/sites/{site_id}/capacity", token=user.token)),
        part(request, "groups", platform.json("energy-manager", "/v1/groups", token=user.token)),
        return_exceptions=True,
    )
    values = [None if isinstance(v, BaseException) else v for v in (topology, capacity, groups)]
    return render(
        request,
        "topology.html",
        user=user,
        page="topology",
        sites=sites,
        site_id=site_id,
        topology=values[0],
        capacity=values[1],
        groups=values[2] or [],
        missing=getattr(request.state, "missing", []),
    )


@router.get("/tariffs")
async def tariffs_page(request: Request, user: Me) -> Response:
    platform = platform_of(request)
    tariffs, sessions = await asyncio.gather(
        part(request, "tariffs", platform.json("billing", "/v1/tariffs", token=user.token)),
        part(request, "charging sessions", platform.json("billing", "/v1/sessions", token=user.token)),
        return_exceptions=True,
    )
    values = [None if isinstance(v, BaseException) else v for v in (tariffs, sessions)]
    return render(
        request,
        "tariffs.html",
        user=user,
        page="tariffs",
        tariffs=values[0] if isinstance(values[0], list) else (values[0] or {}).get("items", []),
        sessions=(values[1] or [])[:100],
        missing=getattr(request.state, "missing", []),
    )


ReportTime = Annotated[str | None, Query(alias="from", max_length=40)]


def report_params(site: str | None, start: str | None, end: str | None) -> dict[str, str]:
    """Filters from the form (date inputs, UTC days) as the reporting API's from/to."""
    params: dict[str, str] = {}
    for name, value in (("from", start), ("to", end)):
        if value:
            day = local_time(name, value + ("T00:00" if "T" not in value else ""), "UTC")
            params[name] = day.isoformat()
    if site:
        params["site_id"] = site
    return params


@router.get("/reports")
async def reports_page(
    request: Request, user: Me, site: SiteQuery = None, start: ReportTime = None, to: str | None = None
) -> Response:
    platform = platform_of(request)
    params = report_params(site, start, to)
    energy = await part(
        request, "energy report", platform.json("reporting", "/v1/reports/energy", params=params, token=user.token)
    )
    stations = [s for site_report in (energy or {}).get("sites", []) for s in site_report["stations"]]
    chart = {
        "labels": [s["station_id"] for s in stations],
        "datasets": [{"label": "kWh", "data": [s["energy_wh"] / 1000 for s in stations], "backgroundColor": "#2563eb"}],
    }
    query = "&".join(f"{k}={v}" for k, v in (("site", site), ("from", start), ("to", to)) if v)
    return render(
        request,
        "reports.html",
        user=user,
        page="reports",
        energy=energy,
        chart=chart,
        site=site or "",
        start=start or "",
        end=to or "",
        csv_url="/reports/energy.csv" + (f"?{query}" if query else ""),
        missing=getattr(request.state, "missing", []),
    )


@router.get("/reports/energy.csv")
async def energy_csv(
    request: Request, user: Me, site: SiteQuery = None, start: ReportTime = None, to: str | None = None
) -> Response:
    upstream = await platform_of(request).call(
        "reporting", "GET", "/v1/reports/energy.csv", params=report_params(site, start, to), token=user.token
    )
    return Response(
        upstream.content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="energy.csv"'},
    )
