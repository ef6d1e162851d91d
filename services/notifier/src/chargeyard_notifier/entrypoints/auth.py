"""Who is calling: the reservation API's bearer tokens, checked here.

JWTs (the app, the back office) are verified locally with the reservation API's HS256 key; a
driver's pseudonym, which their notifications are addressed to, is asked of the reservation API
once and cached. API keys (fleet systems, the administrator token) are hashed in the reservation
API's database only, so it is asked (GET /v1/me)."""

from __future__ import annotations

from typing import Annotated

from chargeyard_platform.problems import Problem
from chargeyard_platform.runtime import runtime_of
from chargeyard_platform.tokens import looks_like_jwt
from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..adapters.directory import Caller, DirectoryUnavailable
from ..wiring import wiring_of

_bearer = HTTPBearer(
    auto_error=False, description="A JWT from the reservation API's POST /v1/auth/token, or an API key"
)


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail, type_="https://chargeyard.dev/problems/unauthorized")


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    access_token: Annotated[
        str | None, Query(max_length=4000, description="For EventSource clients, which cannot send headers")
    ] = None,
) -> Caller:
    token = credentials.credentials if credentials else access_token
    if not token:
        raise _unauthorized("Send Authorization: Bearer <token> (the reservation API's POST /v1/auth/token)")
    wiring = wiring_of(request)
    try:
        if looks_like_jwt(token):
            if wiring.verifier is None:
                raise _unauthorized("This notifier has no NOTIFIER_JWT_SECRET: use an API key, or configure the key")
            claims = wiring.verifier.verify(token, now=runtime_of(request).clock.now())
            if claims is None:
                raise _unauthorized("The token is invalid or expired: sign in again")
            roles = frozenset(str(r) for r in claims.get("roles", []))
            driver = await wiring.directory.pseudonym_of_user(claims["sub"]) if "driver" in roles else None
            return Caller(id=str(claims["sub"]), roles=roles, driver=driver)
        caller = await wiring.directory.caller_of_api_key(token)
    except DirectoryUnavailable as exc:
        raise Problem(503, "Reservation API unavailable", f"Cannot check who is calling: {exc}") from exc
    if caller is None:
        raise _unauthorized("The API key is unknown or revoked")
    return caller


Authenticated = Annotated[Caller, Depends(authenticate)]


def recipient_for(caller: Caller, recipient: str | None) -> str:
    """A driver acts for themself; an operator for anyone (default: the operators' feed)."""
    if recipient is None or recipient == caller.driver:
        if caller.driver is not None:
            return caller.driver
        if caller.operator:
            return "operator"
        raise Problem(403, "Forbidden", "This account is neither a driver nor an operator")
    if not caller.operator:
        raise Problem(403, "Forbidden", "Only operators see other recipients; leave recipient out")
    return recipient
