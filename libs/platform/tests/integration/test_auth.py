"""Who is calling, as every service checks it: the reservation API's JWTs verified locally, its API
keys asked of a stand-in serving GET /v1/me over real HTTP (the e2e tests ask the real one)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Annotated

import httpx
import jwt
import pytest
from chargeyard_devstack.stack import free_port
from chargeyard_devstack.testing import serving
from chargeyard_platform import auth
from chargeyard_platform.auth import Authenticator, Caller, ReservationApiKeys, ReservationApiUnavailable
from chargeyard_platform.clock import FixedClock
from chargeyard_platform.problems import install_problem_handlers
from chargeyard_platform.tokens import TokenVerifier
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SECRET = "a-key-of-at-least-thirty-two-characters"
ISSUER = "chargeyard-reservation-api"
FLEET_KEY = "cy_fleet"


def a_token(roles: tuple[str, ...], *, expires: datetime = NOW + timedelta(hours=1)) -> str:
    claims = {"iss": ISSUER, "sub": "u-1", "roles": list(roles), "exp": int(expires.timestamp())}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def reservation_api(calls: list[str], *, status: int = 200) -> Starlette:
    async def me(request: Request) -> JSONResponse:
        calls.append(request.headers.get("authorization", ""))
        if status != 200:
            return JSONResponse({"detail": "broken"}, status_code=status)
        if request.headers.get("authorization") != f"Bearer {FLEET_KEY}":
            return JSONResponse({"detail": "no"}, status_code=401)
        return JSONResponse({"id": "key-1", "kind": "api_key", "roles": ["fleet_manager"], "driver_id": None})

    return Starlette(routes=[Route("/v1/me", me)])


@pytest.mark.asyncio
async def test_api_keys_are_asked_of_the_reservation_api_and_cached_briefly() -> None:
    calls: list[str] = []
    async with serving(reservation_api(calls)) as url:
        keys = ReservationApiKeys(url, ttl_s=300)
        fleet = await keys.caller_of_api_key(FLEET_KEY)
        assert fleet == Caller(id="key-1", roles=frozenset({"fleet_manager"}), kind="api_key")
        assert fleet.operator and fleet.label == "api_key:key-1"
        assert await keys.caller_of_api_key(FLEET_KEY) == fleet
        assert len(calls) == 1, "the second look is cached"
        assert await keys.caller_of_api_key("cy_wrong") is None
        assert await keys.caller_of_api_key("cy_wrong") is None
        assert len(calls) == 3, "unknown keys are not cached: a key made a moment ago works at once"

        stale = ReservationApiKeys(url, ttl_s=0.05)
        await stale.caller_of_api_key(FLEET_KEY)
        await asyncio.sleep(0.1)
        await stale.caller_of_api_key(FLEET_KEY)
        assert len(calls) == 5, "after ttl_s the reservation API is asked again (a revoked key stops working)"

    async with serving(reservation_api([], status=500)) as url:
        with pytest.raises(ReservationApiUnavailable, match="HTTP 500"):
            await ReservationApiKeys(url).caller_of_api_key(FLEET_KEY)
    with pytest.raises(ReservationApiUnavailable, match="reservation API at"):
        await ReservationApiKeys(f"http://127.0.0.1:{free_port()}").caller_of_api_key(FLEET_KEY)


Manager = Annotated[Caller, Depends(auth.requires({auth.ADMINISTRATOR, auth.SITE_OPERATOR}, action="change things"))]


def guarded_app(reservations_url: str) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.put("/things")
    async def put_thing(caller: Manager) -> dict[str, str]:
        return {"by": caller.label}

    authenticator = Authenticator(TokenVerifier(SECRET, ISSUER), ReservationApiKeys(reservations_url), "X_JWT_SECRET")
    app.state.runtime = SimpleNamespace(clock=FixedClock(NOW), state={"authenticator": authenticator})
    return app


@pytest.mark.asyncio
async def test_a_guarded_route_answers_401_403_503_with_what_to_do() -> None:
    async with serving(reservation_api([])) as url:
        app = guarded_app(url)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
            r = await client.put("/things")
            assert r.status_code == 401 and "Authorization: Bearer" in r.json()["detail"], r.text
            r = await client.put("/things", headers={"Authorization": f"Bearer {a_token((auth.SITE_OPERATOR,))}"})
            assert r.status_code == 200 and r.json() == {"by": "user:u-1"}, r.text
            expired = a_token((auth.ADMINISTRATOR,), expires=NOW)
            r = await client.put("/things", headers={"Authorization": f"Bearer {expired}"})
            assert r.status_code == 401 and "expired" in r.json()["detail"], r.text
            r = await client.put("/things", headers={"Authorization": f"Bearer {a_token(('driver',))}"})
            assert r.status_code == 403 and "administrator, site_operator" in r.json()["detail"], r.text
            r = await client.put("/things", headers={"Authorization": f"Bearer {FLEET_KEY}"})
            assert r.status_code == 403 and "fleet_manager" in r.json()["detail"], r.text
            r = await client.put("/things", headers={"Authorization": "Bearer cy_unknown"})
            assert r.status_code == 401 and "unknown or revoked" in r.json()["detail"], r.text

    down = guarded_app(f"http://127.0.0.1:{free_port()}")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=down), base_url="http://svc") as client:
        r = await client.put("/things", headers={"Authorization": f"Bearer {FLEET_KEY}"})
        assert r.status_code == 503 and "Cannot check who is calling" in r.json()["detail"], r.text
        r = await client.put("/things", headers={"Authorization": f"Bearer {a_token((auth.ADMINISTRATOR,))}"})
        assert r.status_code == 200, "JWTs need no reservation API"

    no_secret = Authenticator(None, ReservationApiKeys("http://127.0.0.1:1"), "X_JWT_SECRET")
    with pytest.raises(Exception, match="no X_JWT_SECRET"):
        await no_secret.caller(a_token((auth.ADMINISTRATOR,)), now=NOW)
