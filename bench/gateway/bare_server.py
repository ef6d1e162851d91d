"""The baseline: a bare `ocpp` + `websockets` central system that does no work.

Every call a station makes is answered by the `ocpp` library with its defaults: schema validation
of request and response in the library's thread pool (ocpp.messages.ASYNC_VALIDATION = True), and
websockets' defaults (permessage-deflate on, asyncio's listen backlog of 100). No database, no
broker, no metrics: what the library alone costs per call, for the gateway to be compared with.

    python bare_server.py PORT
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.server import ServerConnection, serve


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class BareCentralSystem(ChargePoint):
    @on(Action.boot_notification)
    async def on_boot_notification(self, **kwargs: Any) -> call_result.BootNotification:
        return call_result.BootNotification(current_time=_now(), interval=30, status="Accepted")

    @on(Action.heartbeat)
    async def on_heartbeat(self) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=_now())

    @on(Action.meter_values)
    async def on_meter_values(self, **kwargs: Any) -> call_result.MeterValues:
        return call_result.MeterValues()

    @on(Action.status_notification)
    async def on_status_notification(self, **kwargs: Any) -> call_result.StatusNotification:
        return call_result.StatusNotification()


async def _session(websocket: ServerConnection) -> None:
    path = websocket.request.path if websocket.request else "/unknown"
    station = BareCentralSystem(path.rstrip("/").rsplit("/", 1)[-1], websocket)
    try:
        await station.start()
    except Exception:
        return


async def main(port: int) -> None:
    async with serve(_session, "127.0.0.1", port, subprotocols=["ocpp1.6"]):  # type: ignore[list-item]
        await asyncio.Future()


if __name__ == "__main__":
    try:
        import uvloop  # the gateway runs on uvloop (uvicorn picks it when installed): same loop here

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(int(sys.argv[1])))
