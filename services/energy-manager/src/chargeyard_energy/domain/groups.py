"""Smart charging groups (the GreenFlux model): capacity and setpoint profiles set by third
parties, their validation, and what a group can offer traders (flexibility). Pure code."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from chargeyard_contracts import ScheduleUpdated

from .profiles import Evse
from .transitions import StepFunction

MIN_INTERVAL = timedelta(minutes=1)
"""GreenFlux: the smallest interval is one minute; stations and cars cope badly with less."""
MAX_LIMIT_W = 100_000_000


def hash_key(api_key: str) -> str:
    """API keys are random 32-byte tokens, so one SHA-256 is enough (no password stretching);
    only the hash is stored."""
    return hashlib.sha256(api_key.encode()).hexdigest()


class InvalidProfile(ValueError):
    def __init__(self, index: int, message: str) -> None:
        super().__init__(f"intervals[{index}]: {message}")
        self.index = index


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime
    value: float


def to_watts(value: float, unit: str, voltage_v: float) -> float:
    """A are per phase on a three-phase connection (GreenFlux capacities are given in A)."""
    if unit == "A":
        return value * voltage_v * 3
    if unit == "kW":
        return value * 1000
    return value


def validate(intervals: Sequence[Interval], *, kind: str, unit: str, voltage_v: float, group_max_w: float) -> None:
    """Intervals of at least a minute, in order, without overlaps or gaps, values in range.
    Raises InvalidProfile naming the first interval that breaks a rule."""
    for i, interval in enumerate(intervals):
        if interval.end <= interval.start:
            raise InvalidProfile(i, f"end {interval.end.isoformat()} is not after start {interval.start.isoformat()}")
        if interval.end - interval.start < MIN_INTERVAL:
            raise InvalidProfile(
                i,
                f"lasts {(interval.end - interval.start).total_seconds():g} s; "
                "each interval must last at least 1 minute",
            )
        if i > 0:
            previous = intervals[i - 1]
            if interval.start < previous.end:
                raise InvalidProfile(
                    i,
                    f"starts at {interval.start.isoformat()}, before intervals[{i - 1}] ends "
                    f"({previous.end.isoformat()}): intervals overlap",
                )
            if interval.start > previous.end:
                raise InvalidProfile(
                    i,
                    f"starts at {interval.start.isoformat()}, after intervals[{i - 1}] ended "
                    f"({previous.end.isoformat()}): a gap; cover it with its own interval",
                )
        if not math.isfinite(interval.value) or interval.value < 0:
            raise InvalidProfile(i, f"value {interval.value} must be 0 or more")
        watts = to_watts(interval.value, unit, voltage_v)
        upper = group_max_w if kind == "setpoint" else MAX_LIMIT_W
        if watts > upper:
            what = "the group's maximum power" if kind == "setpoint" else "the largest accepted limit"
            raise InvalidProfile(i, f"value {interval.value} {unit} ({watts:.0f} W) is above {what} ({upper:.0f} W)")


# --- flexibility -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flex:
    start: datetime
    end: datetime
    allocated_w: int
    up_w: int
    down_w: int


def flexibility(
    plans: Iterable[ScheduleUpdated],
    members: frozenset[Evse],
    limits: Mapping[Evse, StepFunction],
    max_w: Mapping[Evse, int],
    group_limit_at: callable,
    now: datetime,
) -> list[Flex]:  # type: ignore[valid-type]
    """Per plan slot: what the group's EVSEs are given, how much more they could take (EVSEs
    with a car, up to their maximum and the group's profile), and how much less without breaking
    a promise: a car's slot power may drop as long as full power in its later slots until its
    planned finish still delivers its planned energy."""
    plans = list(plans)
    if not plans:
        return []
    slot = timedelta(seconds=min(p.slot_seconds for p in plans))
    end = max(p.horizon_end for p in plans)
    charges = [c for p in plans for c in p.charges if Evse(c.station_id, c.evse_id) in members]
    out = []
    t = now
    while t < end and len(out) < 96:
        t_end = t + slot
        allocated = sum(fn.at(t) for e, fn in limits.items() if e in members)
        present = {
            Evse(c.station_id, c.evse_id)
            for c in charges
            if c.planned_start is not None and c.planned_finish is not None and c.planned_start <= t < c.planned_finish
        }
        ceiling = sum(max_w.get(e, 0) for e in present)
        group_limit = group_limit_at(t)
        if group_limit is not None:
            ceiling = min(ceiling, group_limit)
        must = 0.0
        hours = slot.total_seconds() / 3600
        for c in charges:
            if c.planned_finish is None or not c.slots:
                continue
            planned_now = sum(s.power_w for s in c.slots if s.start <= t < s.end)
            remaining_wh = sum(
                s.power_w * max(0.0, (s.end - max(s.start, t)).total_seconds()) / 3600 for s in c.slots if s.end > t
            )
            later_h = max(0.0, (c.planned_finish - t_end).total_seconds() / 3600)
            can_later = max_w.get(Evse(c.station_id, c.evse_id), 0) * later_h
            must += min(planned_now, max(0.0, remaining_wh - can_later) / hours)
        out.append(Flex(t, t_end, int(allocated), int(max(0, ceiling - allocated)), int(max(0, allocated - must))))
        t = t_end
    return out
