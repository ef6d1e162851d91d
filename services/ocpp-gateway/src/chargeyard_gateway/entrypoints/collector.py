"""The garbage collector on a clock instead of on allocation counts.

Python starts a collection of generation 0 when allocations minus deallocations pass a
threshold. A gateway's objects are middle-aged: every connected station keeps a chain of
coroutines, futures and timers waiting for its next frame (about 20 objects), and each frame
replaces that chain. New chains are allocated while old ones are freed, so the count hardly
moves while the young generations fill up with every station's current chain. With 10,000
stations a collection of generation 0 then went over 100,000-200,000 live objects and stopped
the event loop for 50-120 ms, one of generation 1 for 170-290 ms (measured with gc.callbacks,
bench/README.md, sixth round), long enough on their own to break a p99 of 100 ms.

Collected on a clock, each young collection only meets what was allocated since the last tick
(mostly 5-15 ms every 100 ms with 10,000 stations at ~1,000 msg/s, a few of 20-50 ms and,
while thousands of stations connect, single ones of 340-435 ms). What outlives a tick goes to the
oldest generation, which only a full collection walks (1.0-1.2 s with 10,000 stations connected):
that runs at its own long interval, and is logged with its length. Objects there that die are
freed by their reference counts as always; only garbage in reference cycles waits for it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

from ..metrics import GC_PAUSE_SECONDS

log = logging.getLogger(__name__)


class PacedCollector:
    """Collects the young generations (0 and 1) every `young_s` and everything every `full_s`,
    with Python's automatic collections off while it runs (and back on after)."""

    def __init__(self, young_s: float, full_s: float) -> None:
        if not 0 < young_s <= full_s:
            raise ValueError(f"collector intervals: 0 < young ({young_s} s) <= full ({full_s} s)")
        self.young_s = young_s
        self.full_s = full_s

    async def run(self) -> None:
        # What start-up built (modules, schemas, metadata: ~100,000-175,000 objects) lives as long
        # as the process: frozen out of every later collection (gc.freeze, as the gc docs advise).
        gc.collect()
        gc.freeze()
        was_enabled = gc.isenabled()
        gc.disable()
        loop = asyncio.get_running_loop()
        next_full = loop.time() + self.full_s
        try:
            while True:
                await asyncio.sleep(self.young_s)
                if loop.time() < next_full:
                    # Generation 1 with 0: what outlives one tick goes straight to the oldest
                    # generation, so each object is walked once, not once per young generation.
                    collect(1)
                    continue
                next_full = loop.time() + self.full_s
                seconds, found = collect(2)
                log.info("full garbage collection: %.0f ms, %d unreachable objects freed", seconds * 1000, found)
        finally:
            if was_enabled:
                gc.enable()


def collect(generation: int) -> tuple[float, int]:
    start = time.perf_counter()
    found = gc.collect(generation)
    seconds = time.perf_counter() - start
    GC_PAUSE_SECONDS.labels(generation=str(generation)).observe(seconds)
    return seconds, found
