"""Who is calling: the reservation API's bearer tokens, checked by chargeyard_platform.auth.

A driver's pseudonym, which their notifications are addressed to, is asked of the reservation
API once and cached (the directory)."""

from __future__ import annotations

from typing import Annotated

from chargeyard_platform.auth import DRIVER, Bearer
from chargeyard_platform.problems import Problem
from chargeyard_platform.runtime import runtime_of
from fastapi import Depends, Query, Request

from ..adapters.directory import Caller, DirectoryUnavailable
from ..wiring import wiring_of


async def authenticate(
    request: Request,
    credentials: Bearer,
    access_token: Annotated[
        str | None, Query(max_length=4000, description="For EventSource clients, which cannot send headers")
    ] = None,
) -> Caller:
    wiring = wiring_of(request)
    caller = await wiring.authenticator.caller(
        credentials.credentials if credentials else access_token, now=runtime_of(request).clock.now()
    )
    driver = None
    if caller.kind == "user" and DRIVER in caller.roles:
        try:
            driver = await wiring.directory.pseudonym_of_user(caller.id)
        except DirectoryUnavailable as exc:
            raise Problem(503, "Reservation API unavailable", f"Cannot check who is calling: {exc}") from exc
    return Caller(id=caller.id, roles=caller.roles, kind=caller.kind, driver=driver)


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
