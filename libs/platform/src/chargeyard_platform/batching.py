"""Group commit: many callers' writes in one transaction, each caller answered after it commits.

A gateway receives thousands of small messages a second, each causing one outbox row. One
transaction per message spends the database's time on BEGIN/COMMIT (and, on SQLite, on one
fsync each) rather than on rows. `GroupCommit` collects the items that callers submit while the
previous flush is running, or for at most `window_s` after the first one arrives, and hands them
to `flush` in one call; `submit` returns only once the flush holding its item has completed and
raises that flush's exception if it failed. So the rule "answer only what is durable" holds per
item, exactly as with a transaction per item: a caller never hears "done" for an item whose
transaction did not commit.

Latency: an idle system flushes a lone item after `window_s` (a few ms); a busy one flushes as
fast as the database commits, with batches growing with the load (the classic group-commit
behaviour of database logs, e.g. PostgreSQL's commit_delay / commit_siblings).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class GroupCommit(Generic[T]):
    def __init__(
        self,
        flush: Callable[[list[T]], Awaitable[None]],
        *,
        window_s: float = 0.002,
        max_items: int = 1000,
        name: str = "group-commit",
    ) -> None:
        if window_s < 0 or max_items < 1:
            raise ValueError("window_s must be >= 0 and max_items >= 1")
        self._flush = flush
        self.window_s = window_s
        self.max_items = max_items
        self.name = name
        self._items: list[T] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._arrived = asyncio.Event()
        self._full = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last: asyncio.Future[None] | None = None
        self.flushes = 0
        self.flushed_items = 0

    async def submit(self, item: T) -> None:
        await self.submit_many((item,))

    async def submit_many(self, items: Sequence[T]) -> None:
        """Returns once every item is flushed; raises the flush's exception otherwise. Items of
        one call always land in the same flush (a message's events commit together)."""
        if not items:
            return
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._items.extend(items)
        self._waiters.append(done)
        self._last = done
        self._arrived.set()
        if len(self._items) >= self.max_items:
            self._full.set()
        # shield: a caller that goes away (its station disconnected) does not cancel the flush,
        # which still commits its item; the station, unanswered, retries (at-least-once).
        await asyncio.shield(done)

    async def _run(self) -> None:
        while True:
            await self._arrived.wait()
            if self.window_s and len(self._items) < self.max_items:
                try:
                    await asyncio.wait_for(self._full.wait(), self.window_s)
                except TimeoutError:
                    pass
            items, waiters = self._items, self._waiters
            self._items, self._waiters = [], []
            self._arrived.clear()
            self._full.clear()
            try:
                await self._flush(items)
            except asyncio.CancelledError:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(RuntimeError(f"{self.name} stopped before this item was written"))
                raise
            except Exception as exc:
                # Not swallowed: every caller of this batch gets the exception (and so does the
                # station, as a CallError); the next batch is tried afresh.
                log.warning("%s: flush of %d items failed: %r", self.name, len(items), exc)
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
                continue
            self.flushes += 1
            self.flushed_items += len(items)
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def aclose(self) -> None:
        """Flush what was submitted, then stop (flushes run in order: the last waiter is the last)."""
        if self._last is not None and self._task is not None and not self._task.done():
            await asyncio.wait([self._last])
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
