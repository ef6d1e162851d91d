"""The reservation API as the notifier's directory, over real HTTP: a stand-in serving the same
routes and shapes (the e2e test runs it against the real reservation API). Who holds an API key
is libs/platform's ReservationApiKeys, tested there."""

from __future__ import annotations

import pytest
from chargeyard_devstack.stack import free_port
from chargeyard_notifier.adapters.directory import DirectoryUnavailable, ReservationDirectory
from notifier_builders import serving
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

KEY = "cy_service"
DRIVERS = [
    {"id": f"d{i}", "pseudonym": f"drv_{i}", "email": f"d{i}@example.com", "erased_at": None} for i in range(3)
] + [{"id": "d9", "pseudonym": "drv_9", "email": None, "erased_at": "2026-01-01T00:00:00Z"}]


def reservation_api(calls: list[str]) -> Starlette:
    def authorised(request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {KEY}"

    async def drivers(request: Request) -> JSONResponse:
        calls.append(str(request.url.path) + "?" + str(request.url.query))
        if not authorised(request):
            return JSONResponse({"detail": "no"}, status_code=401)
        start = int(request.query_params.get("cursor", "0"))
        page = DRIVERS[start : start + 2]  # two a page: the directory must follow next_cursor
        following = str(start + 2) if start + 2 < len(DRIVERS) else None
        return JSONResponse({"items": page, "next_cursor": following})

    async def user(request: Request) -> JSONResponse:
        if not authorised(request):
            return JSONResponse({"detail": "no"}, status_code=401)
        if request.path_params["user_id"] != "u1":
            return JSONResponse({"detail": "not found"}, status_code=404)
        return JSONResponse({"id": "u1", "driver_id": "d1", "roles": ["driver"]})

    return Starlette(routes=[Route("/v1/drivers", drivers), Route("/v1/users/{user_id}", user)])


@pytest.mark.asyncio
async def test_addresses_and_identities_come_from_the_reservation_api() -> None:
    calls: list[str] = []
    async with serving(reservation_api(calls)) as url:
        directory = ReservationDirectory(url, KEY, ttl_s=300)
        assert await directory.email_of("drv_2") == "d2@example.com"  # on the second page
        assert await directory.email_of("drv_0") == "d0@example.com"
        assert len(calls) == 2  # one refresh, two pages; the second look is cached
        assert await directory.email_of("drv_9") is None  # erased
        assert await directory.email_of("drv_unknown") is None
        assert await directory.pseudonym_of_user("u1") == "drv_1"
        assert await directory.pseudonym_of_user("u404") is None

        with pytest.raises(DirectoryUnavailable, match="refused the notifier's API key"):
            await ReservationDirectory(url, "cy_revoked").email_of("drv_0")
        with pytest.raises(DirectoryUnavailable, match="NOTIFIER_RESERVATIONS_API_KEY"):
            await ReservationDirectory(url, None).email_of("drv_0")
    with pytest.raises(DirectoryUnavailable, match="reservation API at"):
        await ReservationDirectory(f"http://127.0.0.1:{free_port()}", KEY).email_of("drv_0")
