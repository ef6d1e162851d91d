"""Reads of many stations' rows in one query: the DataLoader pattern on top of GroupCommit.

A reconnect storm is thousands of handshakes at once, each reading its station's credentials and
identity. One SELECT per handshake spends the database's (and, on SQLite, aiosqlite's thread
hand-off's) time on round trips; `GroupRead` collects the keys asked for while the previous read
runs, or for at most `window_s`, and reads them with one `WHERE key IN (...)`. Each caller gets its
own row (or None). Batching comes from `chargeyard_platform.batching.GroupCommit`, so the
window, the batch bound and the failure rule (every caller of a failed read gets the exception)
are the same as for the group commits of writes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from chargeyard_platform.batching import GroupCommit

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(eq=False)
class _Request(Generic[K, V]):
    key: K
    value: V | None = None


class GroupRead(Generic[K, V]):
    def __init__(
        self,
        fetch: Callable[[list[K]], Awaitable[Mapping[K, V]]],
        *,
        window_s: float,
        max_items: int,
        name: str,
    ) -> None:
        """`fetch(keys)` returns the rows found, by key (distinct keys, in the order first asked)."""
        self._fetch = fetch
        self._group: GroupCommit[_Request[K, V]] = GroupCommit(
            self._read, window_s=window_s, max_items=max_items, name=name
        )

    async def get(self, key: K) -> V | None:
        request: _Request[K, V] = _Request(key)
        await self._group.submit(request)
        return request.value

    async def _read(self, requests: list[_Request[K, V]]) -> None:
        found = await self._fetch(list(dict.fromkeys(r.key for r in requests)))
        for request in requests:
            request.value = found.get(request.key)

    async def aclose(self) -> None:
        await self._group.aclose()
