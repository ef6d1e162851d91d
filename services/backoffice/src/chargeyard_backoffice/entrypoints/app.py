"""The driver app: mobile-first pages under /app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Header, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from ..adapters.platform import Rejected, Unavailable
from ..domain.qr import NotAConnectorCode, connector_of
from .common import User, current_user, part, platform_of, render, settings_of
from .forms import bad, local_time, optional, watt_hours
from .web import LIVE_STATUSES, time_zone_of

router = APIRouter(prefix="/app")
Me = Annotated[User, Depends(current_user)]
DEFAULT_CONSUMPTION_WH_PER_KM = 180
"""An average electric car's 18 kWh/100 km, for a booking in km of a car the app does not know."""


async def my_reservations(request: Request, user: User) -> list[dict[str, Any]]:
    page = await platform_of(request).json(
        "reservation-api", "/v1/reservations", token=user.token, params={"limit": 50}
    )
    mine = [r for r in page["items"] if r["status"] in LIVE_STATUSES]
    return sorted(mine, key=lambda r: r["arrival"])


async def my_notifications(request: Request, user: User) -> list[dict[str, Any]]:
    if user.driver_id is None:
        return []
    try:
        found = await part(
            request,
            "notifications",
            platform_of(request).json("notifier", "/v1/notifications", token=user.token, params={"limit": 10}),
        )
    except Rejected:  # the notifier does not take this account (neither a driver nor an operator)
        return []
    return found or []


async def latest_delivery(request: Request, user: User) -> int | None:
    """Where the push stream starts for a page: after the newest notification the page shows."""
    if user.driver_id is None:
        return None
    try:
        found = await platform_of(request).json(
            "notifier", "/v1/deliveries", token=user.token, params={"channel": "push", "limit": 1}
        )
    except (Rejected, Unavailable):
        return None
    return int(found[0]["id"]) if found else 0


@router.get("/notifications/stream")
async def notification_stream(
    request: Request,
    user: Me,
    after: Annotated[int | None, Query(ge=0)] = None,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> Response:
    """The notifier's push stream of the signed-in driver, relayed: the browser's EventSource
    sends the session cookie here (it cannot send a bearer token, and the token stays out of
    scripts); this passes the token on. Every event is relayed as `event: notification` with the
    notifier's id, so the browser's Last-Event-ID on a reconnect resumes where it stopped
    (WHATWG HTML §9.2). Without either, the stream starts from now."""
    if user.driver_id is None:
        return Response(status_code=204)  # HTML §9.2.3: 204 tells the EventSource not to reconnect
    if last_event_id:
        position: dict[str, Any] = {"headers": {"Last-Event-ID": last_event_id}}
    else:
        start = after if after is not None else await latest_delivery(request, user)
        position = {"params": {"after": start}}
    upstream = await platform_of(request).open_stream("notifier", "/v1/stream", token=user.token, **position)

    async def relay() -> AsyncIterator[str]:
        try:
            async for line in upstream.aiter_lines():
                # The notifier names each event by its kind; one name lets the page listen once.
                yield ("event: notification" if line.startswith("event:") else line) + "\n"
        finally:
            await upstream.aclose()

    return StreamingResponse(
        relay(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("")
async def app_home(request: Request, user: Me) -> Response:
    site_id = settings_of(request).default_site_id
    live = bool(request.headers.get("hx-request"))
    reservations, notifications, tz, after = await asyncio.gather(
        my_reservations(request, user),
        my_notifications(request, user) if not live else asyncio.sleep(0, []),
        time_zone_of(request, user, site_id),
        latest_delivery(request, user) if not live else asyncio.sleep(0, None),
    )
    departure = datetime.now(ZoneInfo(tz)).replace(second=0, microsecond=0) + timedelta(hours=4)
    template = "app/live.html" if live else "app/home.html"
    return render(
        request,
        template,
        user=user,
        reservations=reservations,
        notifications=notifications,
        stream_after=after,
        default_departure=departure.strftime("%Y-%m-%dT%H:%M"),
        time_zone=tz,
    )


@router.post("/reservations")
async def book(
    request: Request,
    user: Me,
    departure: Annotated[str, Form(max_length=40)],
    amount: Annotated[str, Form(max_length=20)],
    unit: Annotated[str, Form(pattern="^(kwh|km)$")] = "kwh",
    vehicle_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """An ad hoc reservation: from now until the departure, the energy in kWh or the km to drive."""
    site_id = settings_of(request).default_site_id
    tz = await time_zone_of(request, user, site_id)
    if unit == "km":
        try:
            km = Decimal(amount.strip().replace(",", "."))
        except InvalidOperation:
            raise bad("amount", f"{amount!r} is not a number of km") from None
        if not km.is_finite() or km <= 0 or km > 1000:
            raise bad("amount", "must be more than 0 and at most 1000 km")
        energy_wh = int(km * DEFAULT_CONSUMPTION_WH_PER_KM)
    else:
        energy_wh = watt_hours("amount", amount)
    body = {
        "site_id": site_id,
        "arrival": datetime.now(UTC).isoformat(),
        "departure": local_time("departure", departure, tz).isoformat(),
        "energy_wh": energy_wh,
        "vehicle_id": optional(vehicle_id),
    }
    created = await platform_of(request).call(
        "reservation-api", "POST", "/v1/reservations", token=user.token, json={k: v for k, v in body.items() if v}
    )
    return RedirectResponse(f"/app/sessions/{created.json()['id']}", status_code=303)


@router.post("/reservations/{reservation_id}/decision")
async def decide(
    request: Request,
    user: Me,
    reservation_id: str,
    choice: Annotated[str, Form(pattern="^(full_charge_later|less_charge_on_time)$")],
) -> Response:
    await platform_of(request).call(
        "reservation-api",
        "POST",
        f"/v1/reservations/{reservation_id}/decision",
        token=user.token,
        json={"choice": choice},
    )
    return RedirectResponse(f"/app/sessions/{reservation_id}", status_code=303)


@router.get("/scan")
async def scan_page(request: Request, user: Me) -> Response:
    return render(request, "app/scan.html", user=user, error=None)


@router.post("/scan")
async def scan(request: Request, user: Me, code: Annotated[str, Form(min_length=1, max_length=500)]) -> Response:
    """What the QR code said (decoded in the browser by jsQR, or typed): start there."""
    try:
        connector = connector_of(code)
    except NotAConnectorCode as wrong:
        return render(request, "app/scan.html", status_code=422, user=user, error=str(wrong))
    try:
        started = await platform_of(request).call(
            "reservation-api",
            "POST",
            f"/v1/connectors/{connector.station_id}/{connector.evse_id}/start",
            token=user.token,
            json={},
        )
    except Rejected as refused:
        return render(request, "app/scan.html", status_code=refused.status, user=user, error=refused.detail)
    return RedirectResponse(f"/app/sessions/{started.json()['reservation']['id']}", status_code=303)


@router.get("/sessions/{reservation_id}")
async def session_page(request: Request, user: Me, reservation_id: str) -> Response:
    """One reservation as the driver watches it: connector, power, energy, expected finish."""
    platform = platform_of(request)
    r = await platform.json("reservation-api", f"/v1/reservations/{reservation_id}", token=user.token)
    power_w = None
    energy_wh = r.get("delivered_wh")
    if r.get("assigned_station_id") and r["status"] in ("arrived", "charging"):
        stations, sessions = await asyncio.gather(
            part(request, "power", platform.json("reporting", "/v1/reports/stations", token=user.token)),
            part(request, "energy", platform.json("billing", "/v1/sessions", token=user.token)),
        )
        station = next((s for s in stations or [] if s["station_id"] == r["assigned_station_id"]), None)
        power_w = station.get("power_w") if station else None
        running = [s for s in sessions or [] if s.get("station_id") == r["assigned_station_id"]]
        if running and energy_wh is None:
            energy_wh = max(running, key=lambda s: str(s.get("started_at") or "")).get("energy_wh")
    template = "app/session_live.html" if request.headers.get("hx-request") else "app/session.html"
    return render(request, template, user=user, r=r, power_w=power_w, energy_wh=energy_wh)
