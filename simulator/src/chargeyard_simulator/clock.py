"""Simulated time.

Everything a station *does* (charging, meter sampling, late profiles, offline periods, reservation
expiry) runs on a :class:`Clock`, so a scaled clock makes a day of charging pass in minutes while
energy still accrues per simulated second. Network timers (heartbeat, boot retry, reconnect backoff)
deliberately stay on real time: the central system measures them with its own wall clock.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Source of simulated time for a station or a whole site."""

    @property
    def speed(self) -> float:
        """Simulated seconds per real second (1 for a real clock)."""
        ...

    def now(self) -> datetime:
        """The simulated time, timezone-aware UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Sleep for *seconds* of simulated time."""
        ...


class RealClock:
    """Wall-clock time."""

    @property
    def speed(self) -> float:
        return 1.0

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ScaledClock:
    """Time that runs *speed* times faster than the wall clock, from *start* (default: now).

    speed=60 means one simulated minute per real second. A monotonic counter drives it, so wall-clock
    jumps (NTP) do not make simulated time go backwards.
    """

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"clock speed must be > 0, got {speed}")
        self._speed = float(speed)
        begin = start if start is not None else datetime.now(UTC)
        if begin.tzinfo is None:
            raise ValueError("ScaledClock start must be timezone-aware")
        self._start = begin.astimezone(UTC)
        self._t0 = time.monotonic()

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> datetime:
        elapsed_real = time.monotonic() - self._t0
        return self._start + timedelta(seconds=elapsed_real * self._speed)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self._speed)


class ManualClock:
    """A clock that only moves when :meth:`advance` is called; for deterministic tests.

    Sleepers wake up once the clock has been advanced past their deadline.
    """

    def __init__(self, start: datetime | None = None) -> None:
        begin = start if start is not None else datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
        if begin.tzinfo is None:
            raise ValueError("ManualClock start must be timezone-aware")
        self._now = begin.astimezone(UTC)
        self._changed = asyncio.Condition()

    @property
    def speed(self) -> float:
        # Used only to size simulation ticks; a manual clock has no real-time relation.
        return 1.0

    def now(self) -> datetime:
        return self._now

    async def advance(self, seconds: float) -> None:
        """Move time forward and let every sleeper whose deadline passed run."""
        self._now += timedelta(seconds=seconds)
        async with self._changed:
            self._changed.notify_all()
        # Give woken tasks a chance to run before the caller continues.
        for _ in range(5):
            await asyncio.sleep(0)

    async def sleep(self, seconds: float) -> None:
        deadline = self._now + timedelta(seconds=max(0.0, seconds))
        async with self._changed:
            await self._changed.wait_for(lambda: self._now >= deadline)


def format_ocpp_time(value: datetime) -> str:
    """RFC 3339 UTC with milliseconds and 'Z', as OCPP-J dateTime fields expect."""
    if value.tzinfo is None:
        raise ValueError("OCPP timestamps must be timezone-aware")
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_ocpp_time(value: str) -> datetime:
    """Parse an OCPP dateTime; a value without offset is taken as UTC (OCPP requires UTC)."""
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
