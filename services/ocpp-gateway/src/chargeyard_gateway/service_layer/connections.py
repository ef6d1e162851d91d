"""Live connections: which stations this instance holds, shared through the database.

Gateway instances share the fleet (DESIGN.md: every service scales out). A command consumed by
one instance may be for a station whose websocket another instance holds, so each instance
records its stations in `connections` and renews the rows; the dispatcher of the holding
instance delivers, and a station with no fresh row anywhere is offline.

Connection life (all on the wall clock: liveness is about real sockets, not the business day a
simulated clock may be replaying):
- the websocket library pings every `ping_interval_s` and closes a socket without a pong within
  `ping_timeout_s` (half-open TCP: the station vanished without a FIN);
- `watch()` closes a station that sent no OCPP message for `silence_timeout` (its OCPP stack
  hangs while its TCP stack still answers pings);
- whoever ends a station's last connection row publishes StationStatusChanged Offline for EVSE 0:
  this instance when the socket closes, or a surviving instance sweeping the rows of a dead
  instance. A station that reconnected elsewhere first has a new row, so it is never reported
  offline by the instance that lost it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from chargeyard_contracts.base import OcppVersion
from chargeyard_contracts.commands import CommandOutcome, StationCommand
from chargeyard_contracts.stations import ConnectorStatus, StationStatusChanged
from chargeyard_platform.batching import GroupCommit
from chargeyard_platform.bus import Outbox
from chargeyard_platform.clock import Clock
from chargeyard_platform.db import Database
from sqlalchemy.ext.asyncio import AsyncSession

from .. import metrics
from ..adapters.notify import CONNECTED, Signals
from ..adapters.orm import connections
from .group_read import GroupRead
from .stations import aware

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Change:
    station_id: str
    version: str | None
    """The OCPP version of a connection opened here; None = closed."""


# RFC 6455 §7.4.2: 4000-4999 are for applications.
CLOSE_REPLACED = 4000
CLOSE_SILENT = 4001


class StationLink(Protocol):
    """A connected station as the dispatcher sees it (implemented by the OCPP adapters)."""

    @property
    def station_id(self) -> str: ...

    @property
    def version(self) -> OcppVersion: ...

    async def execute(
        self, command: StationCommand, command_id: str | None = None
    ) -> tuple[CommandOutcome, str | None]: ...

    async def close(self) -> None: ...


@dataclass(eq=False)
class Held:
    """A link this instance holds, with what the dispatcher and the watchdog need to know."""

    link: StationLink
    close_socket: Callable[[int, str], object]
    """Closes the websocket with a code and reason (the OCPP server provides it)."""
    since: float = field(default_factory=time.monotonic)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    ready: bool = False
    """Re-sync after (re)connecting done: commands may be delivered."""


class Connections:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        clock: Clock,
        wall: Clock,
        instance_id: str,
        *,
        refresh_s: float,
        silence_timeout_s: float,
        signals: Signals,
        published: Callable[[], None],
        group_commit_window_s: float = 0.002,
    ) -> None:
        """`clock` stamps events (the business clock); `wall` is real time even when the services
        run on a simulated clock: liveness and delivery timeouts are about real sockets."""
        self.db = db
        self.outbox = outbox
        self.clock = clock
        self.wall = wall
        self.instance_id = instance_id
        self.refresh_s = refresh_s
        self.silence_timeout_s = silence_timeout_s
        self.signals = signals
        self._published = published
        self._held: dict[str, Held] = {}
        self._sockets: dict[str, Callable[[int, str], object]] = {}
        self._stopping = False
        self._closing: set[asyncio.Future[None]] = set()
        self.on_opened: Callable[[StationLink], None] = lambda link: None
        """Set by the dispatcher: re-sync the station, then deliver its commands."""
        # Opens and closes of many stations in one transaction (a reconnect storm is thousands of
        # each at once); each caller returns once its change is committed, as before.
        self._changes: GroupCommit[_Change] = GroupCommit(
            self._write_changes, window_s=group_commit_window_s, name="connections-group-commit"
        )
        self._rows: GroupRead[str, sa.Row[Any]] = GroupRead(
            self._read_rows, window_s=group_commit_window_s, max_items=1000, name="connections-read"
        )

    # --- what this instance holds --------------------------------------------------------------

    def get(self, station_id: str) -> StationLink | None:
        held = self._held.get(station_id)
        return held.link if held else None

    def held(self, station_id: str) -> Held | None:
        return self._held.get(station_id)

    def local_ids(self) -> list[str]:
        return list(self._held)

    def ready_ids(self) -> list[str]:
        return [station_id for station_id, held in self._held.items() if held.ready]

    def mark_ready(self, link: StationLink) -> None:
        held = self._held.get(link.station_id)
        if held is not None and held.link is link:
            held.ready = True

    def stale_before(self) -> datetime:
        stale: datetime = self.wall.now() - timedelta(seconds=3 * self.refresh_s)
        return stale

    def socket_opened(self, station_id: str, close_socket: Callable[[int, str], object]) -> None:
        """Every websocket the OCPP server accepted, booted or not (for the close of a replaced one)."""
        self._sockets[station_id] = close_socket

    def socket_closed(self, station_id: str, close_socket: Callable[[int, str], object]) -> None:
        if self._sockets.get(station_id) == close_socket:  # bound methods: equal, not identical
            del self._sockets[station_id]

    # --- open / close ---------------------------------------------------------------------------

    async def opened(self, link: StationLink) -> None:
        """The station is accepted on this instance: it can receive commands here."""
        previous = self._held.get(link.station_id)
        if previous is not None and previous.link is link:
            return  # a second BootNotification on the same connection
        close_socket = self._sockets.get(link.station_id) or (lambda code, reason: link.close())
        self._held[link.station_id] = Held(link, close_socket)
        if previous is not None:
            log.info("%s reconnected; closing its previous websocket", link.station_id)
            previous.closed.set()
            # Not awaited: a half-open peer never answers the closing handshake.
            self.close_later(previous.close_socket, CLOSE_REPLACED, "replaced by a newer connection")
        await self._changes.submit(_Change(link.station_id, link.version.value))
        if previous is not None:
            metrics.CONNECTED_STATIONS.labels(ocpp_version=previous.link.version.value).dec()
        metrics.CONNECTED_STATIONS.labels(ocpp_version=link.version.value).inc()
        self.on_opened(link)

    async def closed(self, link: StationLink) -> None:
        held = self._held.get(link.station_id)
        if held is None or held.link is not link:
            return  # never opened, or replaced by a newer connection
        del self._held[link.station_id]
        held.closed.set()
        metrics.CONNECTED_STATIONS.labels(ocpp_version=link.version.value).dec()
        if self._stopping:
            return  # the row stays for a surviving instance to sweep (see forget_all)
        await self._changes.submit(_Change(link.station_id, None))

    async def _write_changes(self, changes: list[_Change]) -> None:
        """One transaction for a batch of opens and closes, in the order they happened here: per
        station only the last counts. A station closed and reopened within the batch is not
        reported offline (it reconnected); one that ends closed loses its row and, if the row was
        still ours, is reported offline."""
        last = {change.station_id: change for change in changes}
        opened = [c for c in last.values() if c.version is not None]
        closed = sorted(c.station_id for c in last.values() if c.version is None)
        now = self.wall.now()
        async with self.db.transaction() as session:
            if opened:
                ids = [c.station_id for c in opened]
                await session.execute(connections.delete().where(connections.c.station_id.in_(ids)))
                await session.execute(
                    connections.insert(),
                    [
                        {
                            "station_id": c.station_id,
                            "instance_id": self.instance_id,
                            "ocpp_version": c.version,
                            "connected_at": now,
                            "refreshed_at": now,
                        }
                        for c in opened
                    ],
                )
                # Any instance still holding an older socket of these stations closes it on commit.
                for station_id in ids:
                    await self.signals.notify(session, CONNECTED, station_id)
            if closed:
                gone = await session.execute(
                    connections.delete()
                    .where(connections.c.station_id.in_(closed), connections.c.instance_id == self.instance_id)
                    .returning(connections.c.station_id)
                )
                offline = sorted(gone.scalars())
                await self.outbox.add_many(session, [self._offline_event(station_id) for station_id in offline])
                for station_id in offline:
                    log.info("%s is offline", station_id)
        if closed:
            self._published()

    async def close(self) -> None:
        """Writes the opens and closes callers still wait for; at shutdown, before the database closes."""
        await self._changes.aclose()
        await self._rows.aclose()

    async def _offline(self, session: AsyncSession, station_id: str) -> None:
        await self.outbox.add(session, self._offline_event(station_id))
        log.info("%s is offline", station_id)

    def _offline_event(self, station_id: str) -> StationStatusChanged:
        return StationStatusChanged(
            station_id=station_id,
            evse_id=0,
            connector_id=0,
            status=ConnectorStatus.OFFLINE,
            received_at=self.clock.now(),
        )

    def on_signal(self, kind: str, instance_id: str, station_id: str) -> None:
        """Another instance accepted a station we still hold: our socket is the stale one."""
        if kind != CONNECTED or instance_id == self.instance_id:
            return
        held = self._held.get(station_id)
        if held is not None:
            log.info("%s connected at instance %s; closing the socket held here", station_id, instance_id)
            self.close_later(held.close_socket, CLOSE_REPLACED, "connected at another gateway instance")

    def close_later(self, close_socket: Callable[[int, str], object], code: int, reason: str) -> None:
        """Close without waiting for the closing handshake (from callbacks and the handshake path)."""
        task = asyncio.ensure_future(_close(close_socket, code, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def probe(self, station_id: str, timeout_s: float, ping: Callable[[], object] | None) -> bool:
        """True when this instance holds a socket of the station that answers a ping in time."""
        if ping is None:
            return False
        try:
            waiter = await ping()  # type: ignore[misc]
            await asyncio.wait_for(waiter, timeout_s)
            return True
        except (TimeoutError, ConnectionError, asyncio.CancelledError):
            return False
        except Exception as exc:  # a closed or closing websocket raises ConnectionClosed
            log.info("%s: liveness probe failed: %r", station_id, exc)
            return False

    async def _read_rows(self, station_ids: list[str]) -> dict[str, sa.Row[Any]]:
        async with self.db.sessions() as session:
            rows = (
                await session.execute(sa.select(connections).where(connections.c.station_id.in_(station_ids)))
            ).all()
        return {row.station_id: row for row in rows}

    async def held_by_live_instance(self, station_id: str) -> str | None:
        """The other instance holding the station's socket, when it is alive."""
        row = await self._rows.get(station_id)
        if row is None or row.instance_id == self.instance_id:
            return None
        live = await self.signals.live_instances()
        if live is not None:
            return str(row.instance_id) if row.instance_id in live else None
        refreshed = aware(row.refreshed_at)
        return str(row.instance_id) if refreshed is not None and refreshed >= self.stale_before() else None

    # --- the watchdog -----------------------------------------------------------------------------

    async def watch(self) -> None:
        """Renew our rows, close silent stations, sweep the rows of dead instances."""
        loop = asyncio.get_running_loop()
        next_refresh = 0.0
        tick = max(0.2, min(1.0, self.silence_timeout_s / 4))
        while True:
            try:
                if loop.time() >= next_refresh:
                    await self.refresh()
                    await self.sweep()
                    next_refresh = loop.time() + self.refresh_s
                await self.close_silent()
            except Exception:
                # Logged, never silent; the next tick retries (the database may be restarting).
                log.exception("connection watchdog pass failed; retrying")
            await asyncio.sleep(tick)

    async def close_silent(self) -> None:
        limit = time.monotonic() - self.silence_timeout_s
        for station_id, held in list(self._held.items()):
            # The OCPP session stamps `last_heard` on every frame it receives (time.monotonic()).
            if getattr(held.link, "last_heard", held.since) < limit:
                log.warning("%s sent nothing for %.0f s; closing its websocket", station_id, self.silence_timeout_s)
                await _close(held.close_socket, CLOSE_SILENT, f"no OCPP message in {self.silence_timeout_s:g} s")

    async def refresh(self) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                connections.update()
                .where(connections.c.instance_id == self.instance_id)
                .values(refreshed_at=self.wall.now())
            )
            mine = set(
                (
                    await session.execute(
                        sa.select(connections.c.station_id).where(connections.c.instance_id == self.instance_id)
                    )
                ).scalars()
            )
        # A row another instance overwrote while its signal was lost: our socket is the stale one.
        settled = time.monotonic() - self.refresh_s
        for station_id, held in list(self._held.items()):
            if station_id not in mine and held.since < settled:
                log.info("%s is held by another instance now; closing the socket held here", station_id)
                await _close(held.close_socket, CLOSE_REPLACED, "connected at another gateway instance")

    async def sweep(self) -> int:
        """Rows of instances that died (or stopped refreshing): the station is offline unless it
        has reconnected somewhere, which would have replaced the row. Each row is deleted by one
        instance only (row locks, skip locked), so Offline is published once."""
        live = await self.signals.live_instances()
        dead = sa.or_(
            connections.c.refreshed_at < self.stale_before(),
            connections.c.instance_id.not_in(live) if live is not None else sa.false(),
        )
        ended = 0
        async with self.db.transaction() as session:
            query = sa.select(connections.c.station_id, connections.c.instance_id).where(
                connections.c.instance_id != self.instance_id, dead
            )
            if self.db.is_postgres:
                query = query.with_for_update(skip_locked=True)
            for row in (await session.execute(query)).all():
                await session.execute(
                    connections.delete().where(
                        connections.c.station_id == row.station_id, connections.c.instance_id == row.instance_id
                    )
                )
                await self._offline(session, row.station_id)
                log.info("%s: gateway instance %s is gone", row.station_id, row.instance_id)
                ended += 1
        if ended:
            self._published()
        return ended

    async def forget_all(self) -> None:
        """At shutdown: close the sockets so the stations reconnect to another instance. The rows
        stay: a surviving instance sweeps them (and reports Offline) unless the station has
        reconnected by then, and a restarted instance sweeps them itself. Nothing is published
        here: the relay stops with us, and an Offline left in the outbox would go out after the
        station had long reconnected elsewhere."""
        self._stopping = True
        await asyncio.gather(
            *(_close(held.close_socket, 1001, "gateway instance shutting down") for held in list(self._held.values())),
            return_exceptions=True,
        )


async def _close(close_socket: Callable[[int, str], object], code: int, reason: str) -> None:
    result = close_socket(code, reason)
    if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
        try:
            await asyncio.wait_for(result, 5)
        except (TimeoutError, ConnectionError) as exc:
            log.info("closing a websocket: %r", exc)
