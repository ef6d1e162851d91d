"""Charging-profile translation: unit conversion and fitting a schedule to a station's limits.

W <-> A uses a nominal 230 V line-to-neutral voltage: P[W] = I[A per phase] × 230 V × phases.
That is the convention of OCPP 1.6 §3.13.4 / 2.0.1 K01 ("limit ... in A per phase") and of
IEC 60038 low-voltage networks; the real voltage varies ±10 %, so conversions always round
*down*: a translated limit is never above the one the energy manager asked for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from chargeyard_contracts.base import ChargingRateUnit
from chargeyard_contracts.commands import SchedulePeriod
from chargeyard_contracts.stations import StationCapabilities

NOMINAL_VOLTAGE_V = 230.0


class CannotTranslate(ValueError):
    """The command cannot be expressed for this station (reported as Failed with the reason)."""


@dataclass(frozen=True)
class Period:
    start_offset_s: int
    limit: float
    phases: int | None = None


def watts_to_amps(watts: float, phases: int, voltage_v: float = NOMINAL_VOLTAGE_V) -> float:
    """Per-phase current, rounded down to OCPP's 0.1 A resolution."""
    return math.floor(watts / (voltage_v * phases) * 10 + 1e-9) / 10


def amps_to_watts(amps: float, phases: int, voltage_v: float = NOMINAL_VOLTAGE_V) -> float:
    """Total power, rounded down to whole watts."""
    return float(math.floor(amps * voltage_v * phases + 1e-9))


def convert(
    periods: Sequence[Period], source: ChargingRateUnit, target: ChargingRateUnit, default_phases: int
) -> list[Period]:
    if source == target:
        return list(periods)
    out = []
    for p in periods:
        phases = p.phases or default_phases
        limit = watts_to_amps(p.limit, phases) if target == ChargingRateUnit.AMPERES else amps_to_watts(p.limit, phases)
        out.append(Period(p.start_offset_s, limit, p.phases))
    return out


def fit_periods(periods: Sequence[Period], max_periods: int) -> list[Period]:
    """Merge adjacent periods until at most `max_periods` remain, never raising any limit.

    A merged period starts where the first of the pair started and takes the lower limit (and
    the lower phase count), so the station never draws more than was asked at any moment. The
    pair merged first is the one that gives up the least energy: |limit difference| × duration
    of the higher period (the open-ended last period counts as infinitely long).
    """
    if max_periods < 1:
        raise CannotTranslate("the station accepts no schedule periods")
    merged = list(periods)
    while len(merged) > max_periods:
        best_i, best_cost = 0, math.inf
        for i in range(len(merged) - 1):
            a, b = merged[i], merged[i + 1]
            higher = i if a.limit > b.limit else i + 1
            duration = (
                merged[higher + 1].start_offset_s - merged[higher].start_offset_s
                if higher + 1 < len(merged)
                else math.inf
            )
            diff = abs(a.limit - b.limit)
            cost = 0.0 if diff == 0 else diff * duration
            if cost < best_cost:
                best_i, best_cost = i, cost
        a, b = merged[best_i], merged[best_i + 1]
        merged[best_i : best_i + 2] = [Period(a.start_offset_s, min(a.limit, b.limit), _min_phases(a.phases, b.phases))]
    return merged


def _min_phases(a: int | None, b: int | None) -> int | None:
    known = [p for p in (a, b) if p is not None]
    return min(known) if known else None


@dataclass(frozen=True)
class StationSchedule:
    unit: ChargingRateUnit
    periods: list[Period]
    stack_level: int


def schedule_for_station(
    unit: ChargingRateUnit, periods: Sequence[SchedulePeriod], stack_level: int, caps: StationCapabilities
) -> StationSchedule:
    """The command's schedule as this station can take it: its rate unit, its period count."""
    if stack_level > caps.max_stack_level:
        raise CannotTranslate(f"stack level {stack_level} is above the station's maximum {caps.max_stack_level}")
    target = unit if unit in caps.allowed_rate_units else caps.allowed_rate_units[0]
    plain = [Period(p.start_offset_s, p.limit, p.phases) for p in periods]
    return StationSchedule(
        target, fit_periods(convert(plain, unit, target, caps.phases), caps.max_schedule_periods), stack_level
    )
