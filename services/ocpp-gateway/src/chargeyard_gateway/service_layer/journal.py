"""The per-station journal of every OCPP frame in both directions (the back office's event
history, GET /v1/stations/{id}/journal).

Recording must not slow the receive loop down (MeterValues is the hot path), so frames are queued
in memory and written in batches by a background task; a crash loses at most one batch of
history, never a station's data (that travels on Kafka through the outbox).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from chargeyard_platform.clock import Clock
from chargeyard_platform.db import Database

from ..adapters.orm import journal
from ..domain.journal import Entry

log = logging.getLogger(__name__)


class Journal:
    def __init__(
        self,
        db: Database,
        wall: Clock,
        *,
        flush_interval_s: float,
        retention_days: float,
        max_queue: int = 100_000,
        slice_rows: int = 200,
    ) -> None:
        self.db = db
        self.wall = wall
        self.flush_interval_s = flush_interval_s
        self.retention = timedelta(days=retention_days)
        self.max_queue = max_queue
        self.slice_rows = slice_rows
        self._queue: list[dict[str, Any]] = []
        self._flushed = asyncio.Event()
        self.dropped = 0

    def record(self, item: Entry) -> None:
        if len(self._queue) >= self.max_queue:
            # The database is slower than the stations: history is dropped (and counted) rather
            # than letting memory grow without bound.
            self.dropped += 1
            return
        self._queue.append(
            {
                "station_id": item.station_id[:48],
                "at": self.wall.now(),
                "direction": item.direction,
                "message_type": item.message_type,
                "unique_id": item.unique_id,
                "action": item.action,
                "frame": item.frame,
                "error_code": item.error_code,
                "vendor_error_code": item.vendor_error_code,
            }
        )

    async def flush(self) -> int:
        batch, self._queue = self._queue, []
        # In slices, each its own transaction: the outbox group commits take turns with the
        # journal on the database's writer (Database.write_batch), so one slice is the longest a
        # MeterValues commit waits for history. Half a second of 2,000 calls/s in one INSERT held
        # the writer for 30-100 ms and was the p99 (bench/README.md).
        for start in range(0, len(batch), self.slice_rows):
            await self.db.write_batch(journal.insert(), batch[start : start + self.slice_rows])
        return len(batch)

    async def prune(self) -> None:
        async with self.db.transaction() as session:
            await session.execute(journal.delete().where(journal.c.at < self.wall.now() - self.retention))

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_prune = loop.time()
        try:
            while True:
                await asyncio.sleep(self.flush_interval_s)
                try:
                    await self.flush()
                    if loop.time() >= next_prune:
                        await self.prune()
                        next_prune = loop.time() + 3600
                except Exception:
                    log.exception("journal flush failed; %d frames lost from the history", len(self._queue))
                if self.dropped:
                    log.warning("journal queue full: %d frames not recorded", self.dropped)
                    self.dropped = 0
        finally:
            await self.flush()

    async def history(
        self, station_id: str, *, limit: int, before: int | None = None, action: str | None = None
    ) -> list[Any]:
        """Newest first; `before` pages back by row id."""
        query = sa.select(journal).where(journal.c.station_id == station_id)
        if before is not None:
            query = query.where(journal.c.id < before)
        if action is not None:
            query = query.where(journal.c.action == action)
        async with self.db.sessions() as session:
            return list((await session.execute(query.order_by(journal.c.id.desc()).limit(limit))).all())
