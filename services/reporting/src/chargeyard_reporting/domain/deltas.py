"""Energy from consecutive register readings of one EVSE.

A register (OCPP Energy.Active.Import.Register) only grows, so the energy between two readings
is their difference. A reading lower than the one before means the meter was reset or replaced:
the energy across that gap is unknowable and counted as zero, and counting resumes from the new
value. The first reading of an EVSE has nothing to be compared with and counts zero as well.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Reading:
    at: datetime
    wh: int


def register_delta(previous_wh: int | None, current_wh: int) -> int:
    if previous_wh is None or current_wh < previous_wh:
        return 0
    return current_wh - previous_wh


def deltas(readings: Iterable[Reading]) -> list[tuple[Reading, int]]:
    """Each reading with the energy since the reading before it, in time order."""
    result: list[tuple[Reading, int]] = []
    previous: int | None = None
    for reading in sorted(readings, key=lambda r: r.at):
        result.append((reading, register_delta(previous, reading.wh)))
        previous = reading.wh
    return result


def total_power_w(power_w: int | None, phase_powers: Iterable[int | None]) -> int | None:
    """The EVSE's power: the reported total, else the sum of the phases that reported one."""
    if power_w is not None:
        return power_w
    known = [p for p in phase_powers if p is not None]
    return sum(known) if known else None
