"""The other services' REST APIs, as the back office and the app use them.

Each call names the service it needs; a service that is down, or an endpoint it does not have yet,
raises `Unavailable`, which pages show as "not available" for that part instead of failing whole.
The reservation API authenticates the user; its bearer token is passed on to every other service
(the gateway, scheduler, energy manager, notifier, billing and reporting check it too), so they
know who acts and what their roles allow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from ..config import Settings


class Unavailable(Exception):
    """A service or one of its endpoints cannot be reached (down, or not built yet)."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service}: {reason}")
        self.service = service
        self.reason = reason


class Rejected(Exception):
    """The service refused the request: its problem-details title and detail, to show the user."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail


class SignedOut(Exception):
    """The bearer token is missing, expired or revoked: sign in again."""


@dataclass(frozen=True)
class Token:
    access_token: str
    expires_in: int


class Platform:
    def __init__(self, settings: Settings, client: httpx.AsyncClient, streams: httpx.AsyncClient) -> None:
        self.client = client
        self.streams = streams
        self.urls = {
            "reservation-api": settings.reservations_url,
            "ocpp-gateway": settings.gateway_url,
            "scheduler": settings.scheduler_url,
            "energy-manager": settings.energy_url,
            "notifier": settings.notifier_url,
            "billing": settings.billing_url,
            "reporting": settings.reporting_url,
        }

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        data: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        try:
            response = await self.client.request(
                method,
                self.urls[service] + path,
                json=json,
                data=data,
                params={k: v for k, v in (params or {}).items() if v not in (None, "")},
                headers=sent,
            )
        except httpx.HTTPError as error:
            raise Unavailable(service, f"{type(error).__name__} on {method} {path}") from error
        if response.status_code == 401 and service == "reservation-api":
            raise SignedOut()
        if response.status_code == 401:
            # Another service that cannot check the reservation API's token (no shared key set):
            # that part of the page is not available, the user is still signed in.
            raise Unavailable(service, f"{method} {path} did not accept the sign-in token")
        if response.status_code in (404, 405) and _route_missing(response):
            raise Unavailable(service, f"{method} {path} does not exist there")
        if response.status_code >= 500:
            raise Unavailable(service, f"{method} {path} answered {response.status_code}")
        if response.status_code >= 400:
            raise _rejected(response)
        return response

    async def open_stream(
        self,
        service: str,
        path: str,
        *,
        token: str | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """A GET whose body is read as it comes (Server-Sent Events): no read timeout, since an idle
        stream is only a keep-alive comment now and then. The caller closes it (`aclose`)."""
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        request = self.streams.build_request(
            "GET",
            self.urls[service] + path,
            params={k: v for k, v in (params or {}).items() if v not in (None, "")},
            headers=sent,
            timeout=httpx.Timeout(self.streams.timeout.connect, read=None),
        )
        try:
            response = await self.streams.send(request, stream=True)
        except httpx.HTTPError as error:
            raise Unavailable(service, f"{type(error).__name__} on GET {path}") from error
        if response.status_code >= 400:
            await response.aread()
            await response.aclose()
            if response.status_code == 401 or response.status_code >= 500:
                raise Unavailable(service, f"GET {path} answered {response.status_code}")
            raise _rejected(response)
        return response

    async def json(self, service: str, path: str, **kwargs: Any) -> Any:
        return (await self.call(service, "GET", path, **kwargs)).json()

    async def sign_in(self, username: str, password: str) -> Token:
        try:
            response = await self.call(
                "reservation-api", "POST", "/v1/auth/token", data={"username": username, "password": password}
            )
        except SignedOut:
            raise Rejected(401, "Unauthorized", "Wrong user name or password") from None
        body = response.json()
        return Token(access_token=body["access_token"], expires_in=int(body["expires_in"]))


def _route_missing(response: httpx.Response) -> bool:
    """FastAPI's own 404 for an unknown route says {"detail": "Not Found"}; a service's 404 for a
    missing thing is a problem-details body with a title."""
    try:
        body = response.json()
    except ValueError:
        return True
    return not isinstance(body, dict) or "title" not in body


def _rejected(response: httpx.Response) -> Rejected:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    detail = body.get("detail")
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        detail = "; ".join(f"{e.get('field', '?')}: {e.get('message', '')}" for e in errors if isinstance(e, dict))
    elif not isinstance(detail, str):
        detail = response.text[:300]
    return Rejected(response.status_code, str(body.get("title") or response.reason_phrase), detail)
