"""The OCPP-J websocket endpoint: ws://HOST:PORT/ocpp/{station_id}, one session class per subprotocol."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import sys
import weakref
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

from ocpp import messages as ocpp_messages
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from .. import metrics
from ..adapters.ocpp import casing, schemas, signatures
from ..adapters.ocpp.common import CentralSystemSession
from ..adapters.ocpp.v16 import CentralSystem16
from ..adapters.ocpp.v201 import CentralSystem21, CentralSystem201
from ..adapters.tls import server_context
from ..config import Settings
from ..domain.admission import Credentials, Takeover, Verdict, admit, common_names, needs_password_check, parse_basic
from ..domain.admission import takeover as takeover_rule
from ..service_layer.connections import CLOSE_REPLACED, Connections
from ..service_layer.credentials import StationCredentials
from ..service_layer.journal import Journal
from ..service_layer.stations import KnownStation, Stations
from .collector import PacedCollector

log = logging.getLogger(__name__)

SESSIONS: dict[str, type[CentralSystemSession]] = {
    "ocpp2.0.1": CentralSystem201,
    "ocpp2.1": CentralSystem21,
    "ocpp1.6": CentralSystem16,
}
"""Subprotocol -> session class. Order is the server's preference when a station offers several."""

# The contract's StationId: the last path segment, 1-48 of [A-Za-z0-9._:-].
_PATH = re.compile(r"^/ocpp/(?P<station_id>[A-Za-z0-9._:-]{1,48})/?$")


def station_id_of(path: str) -> str | None:
    match = _PATH.match(unquote(urlsplit(path).path))
    return match.group("station_id") if match else None


async def _nothing() -> None:
    return None


async def _stopped(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def tune_process(settings: Settings) -> None:
    """The process-wide settings the server runs its sessions with (also bench/gateway/session_path.py)."""
    # The ocpp library validates every payload in a thread pool by default; handing each
    # message to a thread and back costs more than validating it (bench/README.md).
    ocpp_messages.ASYNC_VALIDATION = not settings.schema_validation_inline
    if settings.schema_validation_compiled:
        schemas.install()  # the largest cost per message under load was jsonschema (adapters/ocpp/schemas.py)
    casing.install()  # the library's key conversion, each key's result remembered (adapters/ocpp/casing.py)
    signatures.install()  # the library's inspect.signature per Call, remembered (adapters/ocpp/signatures.py)
    if settings.gil_switch_interval_s is not None:
        # Each SQLite statement (aiosqlite's thread) waits for the loop to release the GIL:
        # 5 ms by default, for every statement, when thousands of stations keep the loop busy.
        sys.setswitchinterval(settings.gil_switch_interval_s)


class OcppServer:
    """Two listeners, one fleet: ws:// on `ocpp_port` (profiles 0 and 1) and, when configured,
    wss:// on `ocpp_tls_port` (profiles 2 and 3, and 1 for stations that prefer TLS).

    Every upgrade request is admitted or refused before the websocket exists (domain/admission.py):
    wrong or missing credentials get 401, another station's certificate or a too-weak connection
    403, an unknown station outside dev 404, and a second unauthenticated connection for a station
    whose socket still answers pings 409 (the takeover rule). A refused peer changes nothing: the
    station's existing connection is not touched.
    """

    def __init__(
        self,
        settings: Settings,
        stations: Stations,
        links: Connections,
        journal: Journal | None = None,
        *,
        credentials: StationCredentials,
    ) -> None:
        self.settings = settings
        self.stations = stations
        self.links = links
        self.journal = journal
        self.credentials = credentials
        self.listening = asyncio.Event()
        self._open: dict[str, ServerConnection] = {}
        """The latest websocket per station on this instance, booted or not."""
        self._verdicts: weakref.WeakKeyDictionary[ServerConnection, tuple[Verdict, KnownStation | None]] = (
            weakref.WeakKeyDictionary()
        )
        """Admitted handshakes: the verdict and the station as read then, for the session."""

    async def serve_forever(self) -> None:
        settings = self.settings
        options: dict[str, Any] = {
            "subprotocols": [Subprotocol(p) for p in SESSIONS],
            "select_subprotocol": self._select_subprotocol,
            "ping_interval": settings.ping_interval_s,
            "ping_timeout": settings.ping_timeout_s,
            # Passed on to loop.create_server: asyncio's default of 100 makes a reconnect storm of
            # thousands of stations wait on SYN retries (measured: 5,000 connects 55 s vs 5 s).
            "backlog": settings.listen_backlog,
            # Queued handshakes of a reconnect storm wait their turn rather than being dropped and retried.
            "open_timeout": settings.handshake_timeout_s,
            # OCPP-J frames are small; permessage-deflate keeps a zlib context per socket (~40 KB).
            "compression": "deflate" if settings.websocket_compression else None,
        }
        tune_process(settings)
        async with contextlib.AsyncExitStack() as stack:
            if settings.gc_intervals_s is not None:
                collector = asyncio.create_task(PacedCollector(*settings.gc_intervals_s).run(), name="gc")
                stack.push_async_callback(_stopped, collector)
            await stack.enter_async_context(
                serve(
                    self._session,
                    settings.ocpp_host,
                    settings.ocpp_port,
                    process_request=functools.partial(self._admit, False),
                    **options,
                )
            )
            log.info(
                "OCPP central system on ws://%s:%d/ocpp/{station_id} (%s)",
                settings.ocpp_host,
                settings.ocpp_port,
                ", ".join(SESSIONS),
            )
            if settings.ocpp_tls_port is not None:
                assert settings.tls_cert_file is not None and settings.tls_key_file is not None  # Settings checks
                context = server_context(settings.tls_cert_file, settings.tls_key_file, settings.tls_ca_file)
                await stack.enter_async_context(
                    serve(
                        self._session,
                        settings.ocpp_host,
                        settings.ocpp_tls_port,
                        ssl=context,
                        process_request=functools.partial(self._admit, True),
                        **options,
                    )
                )
                log.info(
                    "OCPP central system on wss://%s:%d/ocpp/{station_id} (client certificates: %s)",
                    settings.ocpp_host,
                    settings.ocpp_tls_port,
                    "yes" if settings.tls_ca_file else "no",
                )
            self.listening.set()
            try:
                await asyncio.Future()
            finally:
                self.listening.clear()
                await self.links.forget_all()

    @staticmethod
    def _check_path(connection: ServerConnection, request: Request) -> Response | None:
        if station_id_of(request.path) is None:
            return Response(
                HTTPStatus.NOT_FOUND,
                "Not Found",
                Headers(),
                b"Connect to /ocpp/{station_id}; ids are 1-48 of A-Z a-z 0-9 . _ : -\n",
            )
        offered = {p.strip() for h in request.headers.get_all("Sec-WebSocket-Protocol") for p in h.split(",")}
        if not offered & SESSIONS.keys():
            # OCPP-J §3.1.2: no common subprotocol -> refuse the upgrade rather than talk blind.
            return Response(
                HTTPStatus.BAD_REQUEST,
                "Bad Request",
                Headers(),
                f"Offer one of the subprotocols {', '.join(SESSIONS)}\n".encode(),
            )
        return None

    async def _admit(self, tls: bool, connection: ServerConnection, request: Request) -> Response | None:
        refused = self._check_path(connection, request)
        if refused is not None:
            return refused
        station_id = station_id_of(request.path)
        assert station_id is not None  # _check_path refused the others
        basic = parse_basic(request.headers.get("Authorization"))
        presented = Credentials(
            tls=tls,
            certificate_names=common_names(connection.transport.get_extra_info("peercert")) if tls else None,
            basic_username=basic[0] if basic else None,
            basic_password=basic[1] if basic else None,
        )
        old = self._open.get(station_id)
        # Reads of a handshake, concurrent (each is batched with other stations' handshakes): the
        # credentials, the station as known here (for the session) and, when no socket of it is
        # here, its connection row (for the takeover rule, which needs it for unauthenticated peers).
        known, station, elsewhere = await asyncio.gather(
            self.credentials.security_of(station_id),
            self.stations.lookup(station_id),
            self.links.held_by_live_instance(station_id) if old is None else _nothing(),
        )
        password_ok = None
        if known is not None and basic is not None and needs_password_check(known, presented, station_id):
            password_ok = await self.credentials.password_matches(known, basic[1])
        verdict = admit(
            station_id,
            known,
            presented,
            auto_register=self.settings.auto_register_unknown,
            minimum_profile=self.settings.minimum_security_profile,
            password_ok=password_ok,
        )
        if not verdict.admitted:
            return self._refuse(connection, station_id, verdict.status, verdict.reason, challenge=verdict.challenge)
        if verdict.authenticated:
            elsewhere = None  # an authenticated peer replaces wherever it is
        decision = takeover_rule(
            verdict.authenticated, held_here=old is not None, held_by_live_instance=elsewhere is not None
        )
        if (
            decision == Takeover.PROBE_THEN_REPLACE
            and old is not None
            and await self.links.probe(station_id, self.settings.takeover_probe_s, old.ping)
        ):
            decision = Takeover.REFUSE
        if decision == Takeover.REFUSE:
            return self._refuse(
                connection,
                station_id,
                HTTPStatus.CONFLICT,
                "this station is connected and its connection is alive; an unauthenticated "
                "connection does not replace it",
            )
        self._verdicts[connection] = (verdict, station)
        return None

    @staticmethod
    def _refuse(
        connection: ServerConnection, station_id: str, status: HTTPStatus, reason: str, *, challenge: bool = False
    ) -> Response:
        metrics.REFUSED_CONNECTIONS.labels(status=str(int(status))).inc()
        log.warning(
            "%s: websocket refused (%d %s) from %s: %s",
            station_id,
            status,
            status.phrase,
            connection.remote_address,
            reason,
        )
        response = connection.respond(status, reason + "\n")
        if challenge:
            # RFC 7617: tells the station which scheme to use (OCPP profiles 1 and 2).
            response.headers["WWW-Authenticate"] = 'Basic realm="OCPP", charset="UTF-8"'
        return response

    @staticmethod
    def _select_subprotocol(connection: ServerConnection, offered: Any) -> Subprotocol | None:
        # OCPP-J §3.1: the server picks one of the station's offers; ours in preference order.
        for protocol in SESSIONS:
            if protocol in offered:
                return Subprotocol(protocol)
        return None  # websockets then refuses the handshake (400): OCPP needs a subprotocol

    async def _session(self, websocket: ServerConnection) -> None:
        station_id = station_id_of(websocket.request.path if websocket.request else "")
        protocol = websocket.subprotocol
        admitted = self._verdicts.pop(websocket, None)
        if station_id is None or protocol is None or admitted is None:
            await websocket.close(1008, "OCPP subprotocol and /ocpp/{station_id} required")
            return
        previous = self._open.get(station_id)
        self._open[station_id] = websocket
        self.links.socket_opened(station_id, websocket.close)
        if previous is not None and previous is not websocket:
            # Admitted past the takeover rule: the older socket is dead or the newcomer proved
            # the station's identity.
            log.info("%s: a new connection replaces the one from %s", station_id, previous.remote_address)
            self.links.close_later(previous.close, CLOSE_REPLACED, "replaced by a newer connection")
        known = admitted[1]
        session = SESSIONS[protocol](
            station_id,
            websocket,
            stations=self.stations,
            settings=self.settings,
            accepted=bool(known and known.accepted),
            capabilities=known.capabilities if known else None,
            on_accepted=self.links.opened,
            journal=self.journal,
        )
        log.info("%s connected (%s)", station_id, protocol)
        try:
            if session.accepted:
                # A known station may resume without booting again (OCPP 1.6 stations often do).
                # Two group commits, independent of each other: waited for together.
                await asyncio.gather(self.links.opened(session), self.stations.seen(station_id))
            await session.start()
        except ConnectionClosed:
            pass
        finally:
            session.cancel_tasks()
            if self._open.get(station_id) is websocket:
                del self._open[station_id]
            self.links.socket_closed(station_id, websocket.close)
            await asyncio.shield(self.links.closed(session))
            log.info("%s disconnected (%s %s)", station_id, websocket.close_code, websocket.close_reason or "")
