"""Plumbing shared by the OCPP 1.6 and 2.0.1 adapters."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

from ocpp.routing import on as _on

LOG = logging.getLogger("chargeyard_simulator.ocpp")

_Handler = TypeVar("_Handler", bound=Callable[..., Any])


def on(action: str, *, skip_schema_validation: bool = False) -> Callable[[_Handler], _Handler]:
    """``ocpp.routing.on`` with a signature type checkers understand (the library is untyped)."""
    return cast(Callable[[_Handler], _Handler], _on(action, skip_schema_validation=skip_schema_validation))


class OrderedResponses:
    """Mixin for an ``ocpp`` ChargePoint: lets the station hold back its own CALLs while an
    incoming CALL is being handled.

    Why: a handler changes station state (e.g. RemoteStartTransaction starts a transaction) and
    the station then wants to send a CALL about it (StartTransaction). OCPP-J requires the
    response to the central system's CALL to go out first, and the ``ocpp`` library validates
    the response in an executor before sending it, which gives other tasks a chance to run in
    between. The outbox waits on :meth:`wait_inbound_idle` before every CALL.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._inbound_idle = asyncio.Event()
        self._inbound_idle.set()

    async def route_message(self, raw_msg: str) -> None:
        self._inbound_idle.clear()
        try:
            await super().route_message(raw_msg)  # type: ignore[misc]
        finally:
            self._inbound_idle.set()

    async def wait_inbound_idle(self) -> None:
        await self._inbound_idle.wait()


def status_info(code: str, reason: str) -> dict[str, str] | None:
    """OCPP 2.0.1 StatusInfoType (reasonCode max 20 chars, additionalInfo max 512)."""
    if not code:
        return None
    info = {"reason_code": code[:20]}
    if reason:
        info["additional_info"] = reason[:512]
    return info
