"""Prompt signals between gateway instances over PostgreSQL LISTEN/NOTIFY, and instance liveness.

Instances share the fleet through PostgreSQL (DESIGN.md, scale out). Two things must travel
between them faster than a poll:
- "a command for station X is recorded": the instance holding X's socket claims it now;
- "station X connected here": an instance still holding an older socket of X closes it.
NOTIFY issued inside a transaction is delivered on commit only, so a listener never sees a
command before its row is visible. The payload is "<kind>:<instance>:<station_id>".

Liveness: the listening connection carries application_name "cy-gw:<instance_id>". When an
instance dies (even by SIGKILL), the kernel closes its sockets and PostgreSQL ends that backend
at once, so `pg_stat_activity` tells which instances are alive without waiting for their
connection rows to go stale.

On SQLite (one instance, embedded mode) there is nobody to tell: `NullSignals`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

import asyncpg
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)

CHANNEL = "chargeyard_gateway"
APP_PREFIX = "cy-gw:"
COMMAND, CONNECTED = "command", "connected"
_LIVE_TTL_S = 1.0

Listener = Callable[[str, str, str], None]
"""(kind, instance_id, station_id)"""


class Signals(Protocol):
    async def notify(self, session: AsyncSession, kind: str, station_id: str) -> None: ...

    async def live_instances(self) -> set[str] | None:
        """Ids of running instances; None = unknown (fall back on connection-row freshness)."""

    async def run(self, on_signal: Listener) -> None: ...


class NullSignals:
    def __init__(self, instance_id: str) -> None:
        self.instance_id = instance_id

    async def notify(self, session: AsyncSession, kind: str, station_id: str) -> None:
        return None

    async def live_instances(self) -> set[str] | None:
        # Embedded mode runs one instance: rows of any other are left over from a previous run.
        return {self.instance_id}

    async def run(self, on_signal: Listener) -> None:
        await asyncio.Future()


class PgSignals:
    def __init__(self, database_url: str, instance_id: str, *, retry_s: float = 1.0) -> None:
        url = make_url(database_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self.instance_id = instance_id
        self._retry_s = retry_s
        self._conn: asyncpg.Connection | None = None
        self._query = asyncio.Lock()  # one operation at a time on an asyncpg connection
        self._live: tuple[float, set[str]] | None = None
        self.listening = asyncio.Event()

    async def notify(self, session: AsyncSession, kind: str, station_id: str) -> None:
        """Inside the caller's transaction: delivered when it commits, dropped if it rolls back."""
        await session.execute(sa.select(sa.func.pg_notify(CHANNEL, f"{kind}:{self.instance_id}:{station_id}")))

    async def live_instances(self) -> set[str] | None:
        """Cached for `_LIVE_TTL_S`: a reconnect storm asks once per handshake."""
        conn = self._conn
        if conn is None or conn.is_closed():
            return None
        now = time.monotonic()
        if self._live is not None and now - self._live[0] < _LIVE_TTL_S:
            return self._live[1]
        try:
            async with self._query:
                rows = await conn.fetch(
                    "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE $1", APP_PREFIX + "%"
                )
        except (asyncpg.PostgresError, OSError) as exc:
            log.warning("instance liveness unknown: %r", exc)
            return None
        live = {r["application_name"][len(APP_PREFIX) :] for r in rows}
        self._live = (now, live)
        return live

    async def run(self, on_signal: Listener) -> None:
        """Listen until cancelled; reconnects (the dispatcher's poll covers the gap)."""

        def received(_conn: object, _pid: int, _channel: str, payload: str) -> None:
            kind, _, rest = payload.partition(":")
            instance, _, station_id = rest.partition(":")
            on_signal(kind, instance, station_id)

        while True:
            try:
                # application_name is at most 63 bytes (NAMEDATALEN - 1): Settings caps instance_id.
                self._conn = await asyncpg.connect(
                    self._dsn, server_settings={"application_name": APP_PREFIX + self.instance_id}
                )
                await self._conn.add_listener(CHANNEL, received)
                self.listening.set()
                lost = asyncio.Event()
                self._conn.add_termination_listener(lambda _c, lost=lost: lost.set())  # type: ignore[misc]
                await lost.wait()
                log.warning("LISTEN connection lost; reconnecting")
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("LISTEN %s failed (%r); commands fall back on polling until it is back", CHANNEL, exc)
            finally:
                self.listening.clear()
                if self._conn is not None and not self._conn.is_closed():
                    await asyncio.shield(self._conn.close(timeout=2))
                self._conn = None
            await asyncio.sleep(self._retry_s)
