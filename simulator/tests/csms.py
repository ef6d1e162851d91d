"""A tiny central system for the tests, built on the ``ocpp`` library (OCPP 1.6 and 2.0.1)."""

# The ocpp library has no type hints; its ChargePoint base and @on decorator are Any to mypy.
# mypy: disable-error-code="untyped-decorator,misc"

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint as CP16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import ChargePoint as CP201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

WAIT_S = 5.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Received:
    action: str
    payload: dict[str, Any]


@dataclass
class Inbox:
    """Everything one station sent, with a way to wait for a message."""

    messages: list[Received] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, action: str, payload: dict[str, Any]) -> None:
        self.messages.append(Received(action, payload))
        self.changed.set()

    def of(self, action: str) -> list[dict[str, Any]]:
        return [m.payload for m in self.messages if m.action == action]

    async def wait_for(self, predicate: Callable[[Received], bool], *, after: int = 0) -> Received:
        """First message at index >= after that matches; waits up to WAIT_S real seconds."""

        async def scan() -> Received:
            while True:
                for m in self.messages[after:]:
                    if predicate(m):
                        return m
                self.changed.clear()
                await self.changed.wait()

        return await asyncio.wait_for(scan(), WAIT_S)


_tx_ids = itertools.count(100)


class CentralSystem16(CP16):
    def __init__(self, station_id: str, connection: ServerConnection, inbox: Inbox) -> None:
        super().__init__(station_id, connection)
        self.inbox = inbox

    @on(Action16.boot_notification)
    def on_boot_notification(self, **payload: Any) -> result16.BootNotification:
        self.inbox.add("BootNotification", payload)
        return result16.BootNotification(current_time=_now(), interval=300, status="Accepted")

    @on(Action16.heartbeat)
    def on_heartbeat(self, **payload: Any) -> result16.Heartbeat:
        self.inbox.add("Heartbeat", payload)
        return result16.Heartbeat(current_time=_now())

    @on(Action16.status_notification)
    def on_status_notification(self, **payload: Any) -> result16.StatusNotification:
        self.inbox.add("StatusNotification", payload)
        return result16.StatusNotification()

    @on(Action16.start_transaction)
    def on_start_transaction(self, **payload: Any) -> result16.StartTransaction:
        tx_id = next(_tx_ids)
        self.inbox.add("StartTransaction", {**payload, "assigned_transaction_id": tx_id})
        return result16.StartTransaction(transaction_id=tx_id, id_tag_info={"status": "Accepted"})

    @on(Action16.stop_transaction)
    def on_stop_transaction(self, **payload: Any) -> result16.StopTransaction:
        self.inbox.add("StopTransaction", payload)
        return result16.StopTransaction(id_tag_info={"status": "Accepted"})

    @on(Action16.meter_values)
    def on_meter_values(self, **payload: Any) -> result16.MeterValues:
        self.inbox.add("MeterValues", payload)
        return result16.MeterValues()

    @on(Action16.firmware_status_notification)
    def on_firmware_status_notification(self, **payload: Any) -> result16.FirmwareStatusNotification:
        self.inbox.add("FirmwareStatusNotification", payload)
        return result16.FirmwareStatusNotification()


class CentralSystem201(CP201):
    def __init__(self, station_id: str, connection: ServerConnection, inbox: Inbox) -> None:
        super().__init__(station_id, connection)
        self.inbox = inbox

    @on(Action201.boot_notification)
    def on_boot_notification(self, **payload: Any) -> result201.BootNotification:
        self.inbox.add("BootNotification", payload)
        return result201.BootNotification(current_time=_now(), interval=300, status="Accepted")

    @on(Action201.heartbeat)
    def on_heartbeat(self, **payload: Any) -> result201.Heartbeat:
        self.inbox.add("Heartbeat", payload)
        return result201.Heartbeat(current_time=_now())

    @on(Action201.status_notification)
    def on_status_notification(self, **payload: Any) -> result201.StatusNotification:
        self.inbox.add("StatusNotification", payload)
        return result201.StatusNotification()

    @on(Action201.transaction_event)
    def on_transaction_event(self, **payload: Any) -> result201.TransactionEvent:
        self.inbox.add("TransactionEvent", payload)
        return result201.TransactionEvent(id_token_info={"status": "Accepted"})

    @on(Action201.meter_values)
    def on_meter_values(self, **payload: Any) -> result201.MeterValues:
        self.inbox.add("MeterValues", payload)
        return result201.MeterValues()

    @on(Action201.firmware_status_notification)
    def on_firmware_status_notification(self, **payload: Any) -> result201.FirmwareStatusNotification:
        self.inbox.add("FirmwareStatusNotification", payload)
        return result201.FirmwareStatusNotification()


class TestCentralSystem:
    """Websocket server on a free 127.0.0.1 port; one ChargePoint object per connected station."""

    __test__ = False  # not a pytest test class

    def __init__(self, port: int = 0) -> None:
        self.inboxes: dict[str, Inbox] = {}
        self.charge_points: dict[str, CP16 | CP201] = {}
        self.connected: dict[str, asyncio.Event] = {}
        self.connections: dict[str, ServerConnection] = {}
        self._server: Server | None = None
        self.port = port

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    def inbox(self, station_id: str) -> Inbox:
        return self.inboxes.setdefault(station_id, Inbox())

    def connected_event(self, station_id: str) -> asyncio.Event:
        return self.connected.setdefault(station_id, asyncio.Event())

    async def __aenter__(self) -> TestCentralSystem:
        self._server = await serve(
            self._handle, "127.0.0.1", self.port, subprotocols=[Subprotocol("ocpp1.6"), Subprotocol("ocpp2.0.1")]
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        station_id = connection.request.path.rstrip("/").rsplit("/", 1)[-1]
        inbox = self.inbox(station_id)
        cp: CP16 | CP201
        if connection.subprotocol == "ocpp1.6":
            cp = CentralSystem16(station_id, connection, inbox)
        else:
            cp = CentralSystem201(station_id, connection, inbox)
        self.charge_points[station_id] = cp
        self.connections[station_id] = connection
        self.connected_event(station_id).set()
        try:
            await cp.start()
        except ConnectionClosed:
            pass  # the station went away (stop, go_offline); tests assert on what arrived
        finally:
            self.connected_event(station_id).clear()
