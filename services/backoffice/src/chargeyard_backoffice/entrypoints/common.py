"""What every page shares: the signed-in user, the language, rendering and error pages."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from ..adapters.platform import Platform, Rejected, SignedOut, Unavailable
from ..config import Settings
from ..i18n import negotiate, translator

SESSION_COOKIE = "cy_session"
LANGUAGE_COOKIE = "cy_lang"
PACKAGE = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class User:
    token: str
    id: str
    tenant_id: str
    roles: frozenset[str]
    permissions: frozenset[str]
    driver_id: str | None

    @property
    def is_driver_only(self) -> bool:
        return self.roles == frozenset({"driver"})

    def can(self, permission: str) -> bool:
        return permission in self.permissions


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def platform_of(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def templates_of(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


def language_of(request: Request) -> str:
    return negotiate(
        request.query_params.get("lang") or request.cookies.get(LANGUAGE_COOKIE),
        request.headers.get("accept-language"),
        settings_of(request).default_language,
    )


async def current_user(request: Request) -> User:
    """The bearer token in the session cookie, checked by the reservation API on every page."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignedOut()
    me = await platform_of(request).json("reservation-api", "/v1/me", token=token)
    return User(
        token=token,
        id=me["id"],
        tenant_id=me["tenant_id"],
        roles=frozenset(me["roles"]),
        permissions=frozenset(me["permissions"]),
        driver_id=me.get("driver_id"),
    )


def when(value: str | None) -> str:
    if not value:
        return "–"
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return value


def kw(watts: float | int | None) -> str:
    return "–" if watts is None else f"{watts / 1000:.1f} kW"


def kwh(watt_hours: float | int | None) -> str:
    return "–" if watt_hours is None else f"{watt_hours / 1000:.1f} kWh"


def per_thousand(amount: object) -> str:
    """Wh as kWh, W as kW, for an input people edit: 64800 -> "64.8" (not "64.8 kWh", not rounded).
    A value the service did not send (or not a number) leaves the input empty, to be filled in."""
    if not isinstance(amount, int) or isinstance(amount, bool):
        return ""
    return format(Decimal(amount) / 1000, "f")


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(PACKAGE / "templates"))
    templates.env.filters.update(
        when=when, kw=kw, kwh=kwh, per_thousand=per_thousand, tojson_attr=lambda v: json.dumps(v)
    )
    return templates


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    language = language_of(request)
    response = templates_of(request).TemplateResponse(
        request,
        template,
        {
            "_": translator(language),
            "lang": language,
            "live_ms": int(settings_of(request).live_interval_s * 1000),
            **context,
        },
        status_code=status_code,
    )
    if request.query_params.get("lang") == language:
        response.set_cookie(LANGUAGE_COOKIE, language, max_age=365 * 86400, samesite="lax")
    return response


async def part(request: Request, label: str, load: Any) -> Any:
    """Load one part of a page; a service that is missing, or that does not serve the user's role
    (403), leaves that part "not available"."""
    try:
        return await load
    except Unavailable as missing:
        request.state.missing = [*getattr(request.state, "missing", []), f"{label} ({missing.service})"]
        return None
    except Rejected as refused:
        if refused.status != 403:
            raise
        request.state.missing = [*getattr(request.state, "missing", []), f"{label} ({refused.detail})"]
        return None


def sign_in_redirect(request: Request) -> Response:
    target = "/login?next=" + quote(request.url.path)
    if request.headers.get("hx-request"):  # htmx follows HX-Redirect instead of swapping a login page in
        return Response(status_code=204, headers={"HX-Redirect": target})
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


async def on_signed_out(request: Request, _: Exception) -> Response:
    return sign_in_redirect(request)


async def on_rejected(request: Request, error: Rejected) -> Response:
    return render(request, "error.html", status_code=error.status, title=error.title, detail=error.detail)


async def on_unavailable(request: Request, error: Unavailable) -> Response:
    return render(request, "error.html", status_code=503, title="Not available", detail=str(error))
