"""The one wiring: settings -> a Runtime running the consumer, the OCPP server and the dispatcher."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaProducer
from chargeyard_contracts.commands import StationCommandIssued
from chargeyard_contracts.registry import GATEWAY
from chargeyard_platform.auth import ApiKeys, authenticator_for
from chargeyard_platform.clock import Clock, SystemClock
from chargeyard_platform.db import Database
from chargeyard_platform.runtime import Runtime, ServiceSpec, build_runtime
from sqlalchemy.ext.asyncio import AsyncSession

from .adapters.notify import COMMAND, NullSignals, PgSignals, Signals
from .adapters.passwords import PasswordChecker
from .config import Settings
from .entrypoints.api import router
from .entrypoints.ocpp_server import OcppServer
from .handlers import make_handlers
from .service_layer.connections import Connections
from .service_layer.credentials import StationCredentials
from .service_layer.dispatcher import Dispatcher
from .service_layer.journal import Journal
from .service_layer.stations import Stations

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class Gateway:
    """The parts the OCPP server, the dispatcher and the handlers share (runtime.state["gateway"])."""

    stations: Stations
    links: Connections
    dispatcher: Dispatcher
    server: OcppServer
    journal: Journal


class _Wiring:
    """Holds the Gateway for the handlers (built before the runtime exists) and the background tasks."""

    def __init__(self) -> None:
        self.gateway: Gateway | None = None

    def wake_dispatcher(self) -> None:
        if self.gateway is not None:
            self.gateway.dispatcher.wake()

    async def ocpp_central_system(self, runtime: Runtime) -> None:
        try:
            await gateway_of(runtime).server.serve_forever()
        finally:
            gateway = gateway_of(runtime)
            # Group commits and group reads drained before the database closes.
            await gateway.stations.close()
            await gateway.links.close()
            await gateway.server.credentials.close()

    async def command_dispatcher(self, runtime: Runtime) -> None:
        await gateway_of(runtime).dispatcher.run()

    async def journal_writer(self, runtime: Runtime) -> None:
        await gateway_of(runtime).journal.run()

    async def connection_watchdog(self, runtime: Runtime) -> None:
        await gateway_of(runtime).links.watch()

    async def instance_signals(self, runtime: Runtime) -> None:
        gateway = gateway_of(runtime)
        await gateway.links.signals.run(self.on_signal)

    def on_signal(self, kind: str, instance_id: str, station_id: str) -> None:
        """A NOTIFY from any instance (this one included)."""
        if self.gateway is None:
            return
        self.gateway.links.on_signal(kind, instance_id, station_id)
        if kind == COMMAND and self.gateway.links.held(station_id) is not None:
            self.gateway.dispatcher.wake()

    async def command_recorded(self, session: AsyncSession, command: StationCommandIssued) -> None:
        if self.gateway is not None:
            await self.gateway.links.signals.notify(session, COMMAND, command.station_id)


def gateway_of(runtime: Runtime) -> Gateway:
    gateway: Gateway = runtime.state["gateway"]
    return gateway


def bootstrap(
    settings: Settings,
    *,
    clock: Clock | None = None,
    db: Database | None = None,
    producer: AIOKafkaProducer | None = None,
    api_keys: ApiKeys | None = None,
) -> Runtime:
    wiring = _Wiring()
    # 57 characters at most: it names the instance's PostgreSQL session (application_name, 63).
    instance_id = settings.instance_id or f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    spec = ServiceSpec(
        name=GATEWAY,
        title="Chargeyard OCPP gateway",
        migrations=MIGRATIONS,
        handlers=make_handlers(
            wiring.wake_dispatcher, command_recorded=wiring.command_recorded, instance_id=instance_id
        ),
        routers=[router],
        background=[
            wiring.ocpp_central_system,
            wiring.command_dispatcher,
            wiring.journal_writer,
            wiring.connection_watchdog,
            wiring.instance_signals,
        ],
    )
    runtime = build_runtime(spec, settings, clock=clock, db=db, producer=producer)
    # The REST API (/v1/stations) takes the reservation API's credentials; the OCPP websocket
    # server does not: stations authenticate with their own security profiles.
    runtime.state["authenticator"] = authenticator_for(settings, api_keys)
    signals: Signals = (
        PgSignals(settings.database_url, instance_id) if runtime.db.is_postgres else NullSignals(instance_id)
    )
    links = Connections(
        runtime.db,
        runtime.outbox,
        runtime.clock,
        SystemClock(),
        instance_id,
        refresh_s=settings.connection_refresh_s,
        silence_timeout_s=settings.silence_timeout,
        signals=signals,
        published=runtime.wake_relay,
        group_commit_window_s=settings.group_commit_window_s,
    )
    stations = Stations(runtime.db, runtime.outbox, runtime.clock, settings, runtime.wake_relay)
    dispatcher = Dispatcher(
        runtime.db,
        runtime.outbox,
        runtime.clock,
        links,
        timeout_s=settings.command_timeout_s,
        poll_interval_s=settings.command_poll_interval_s,
        offline_grace_s=settings.offline_grace_s,
        resync=settings.resync_on_reconnect,
        published=runtime.wake_relay,
    )
    credentials = StationCredentials(
        runtime.db,
        PasswordChecker(),
        window_s=settings.group_commit_window_s,
        max_items=settings.group_commit_max_items,
    )
    journal = Journal(
        runtime.db,
        SystemClock(),
        flush_interval_s=settings.journal_flush_interval_s,
        retention_days=settings.journal_retention_days,
    )
    server = OcppServer(settings, stations, links, journal, credentials=credentials)
    wiring.gateway = Gateway(stations, links, dispatcher, server, journal)
    runtime.state["gateway"] = wiring.gateway
    return runtime
