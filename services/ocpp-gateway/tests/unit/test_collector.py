"""The paced garbage collector (entrypoints/collector.py) on its own: young collections every
tick, a full one at its interval, automatic collections off while it runs and back after."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest
from chargeyard_gateway.config import Settings
from chargeyard_gateway.entrypoints.collector import PacedCollector
from prometheus_client import REGISTRY


class _Node:
    def __init__(self) -> None:
        self.me = self


def _pauses(generation: str) -> float:
    return REGISTRY.get_sample_value("chargeyard_gateway_gc_pause_seconds_count", {"generation": generation}) or 0.0


def test_intervals_must_grow() -> None:
    with pytest.raises(ValueError, match="young"):
        PacedCollector(1.0, 0.5)
    with pytest.raises(ValueError, match="young"):
        PacedCollector(0, 10)


@pytest.mark.asyncio
async def test_collects_on_a_clock_and_gives_the_automatic_collector_back() -> None:
    gc.enable()
    young, full = _pauses("1"), _pauses("2")
    task = asyncio.create_task(PacedCollector(0.01, 0.1).run())
    await asyncio.sleep(0.02)
    assert not gc.isenabled()
    cycle = _Node()
    gone = weakref.ref(cycle)
    del cycle
    await asyncio.sleep(0.3)
    assert gone() is None  # freed by the collector, with automatic collections off
    assert _pauses("1") >= young + 5
    assert _pauses("2") >= full + 1  # at least one full collection in 0.3 s at 0.1 s
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert gc.isenabled()


def test_null_in_the_environment_keeps_pythons_own_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(database_url="sqlite+aiosqlite:///:memory:").gc_intervals_s == (0.1, 600.0)
    monkeypatch.setenv("GATEWAY_GC_INTERVALS_S", "null")
    assert Settings(database_url="sqlite+aiosqlite:///:memory:").gc_intervals_s is None
    monkeypatch.setenv("GATEWAY_GC_INTERVALS_S", "[0.5, 0.1]")
    with pytest.raises(ValueError, match="young"):
        Settings(database_url="sqlite+aiosqlite:///:memory:")
