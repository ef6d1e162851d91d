"""Plans become charging profiles: pure functions, no I/O.

Every EVSE of a planned site gets a profile, also those with no car in the plan (limit 0 W), so
the sum of all profile limits never exceeds what the plan allowed the site. The profile sits on
the "plan" layer (TxDefaultProfile, stack level 2, see contracts PROFILE_LAYERS): a TxDefault
profile applies to the next transaction too, so a car plugging in later obeys it from its first
second (OCPP 1.6 §3.13.2). After the last planned slot the limit is 0 W until the next plan.
Transitions are made safe by domain.transitions: increases wait, decreases do not.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from chargeyard_contracts import PROFILE_LAYERS, SchedulePeriod, ScheduleUpdated, SetChargingProfile
from chargeyard_contracts.base import ChargingRateUnit

from .transitions import Step, StepFunction, safe_transition


@dataclass(frozen=True, order=True)
class Evse:
    station_id: str
    evse_id: int


def plan_profile_id(evse_id: int) -> int:
    """One id per EVSE for the plan layer: a new plan replaces the old profile in place
    (OCPP 1.6 §5.16.2: a profile with the same id replaces the installed one)."""
    return 1000 + evse_id


def steps_from_slots(slots: Iterable[tuple[datetime, datetime, int]]) -> StepFunction:
    """Slots to a step function: gaps between slots and the time after the last one are 0 W."""
    steps: list[Step] = []
    for start, end, power in sorted(slots):
        steps.append(Step(start, power))
        steps.append(Step(end, 0))
    merged: dict[datetime, int] = {}
    for step in steps:  # a slot starting where the previous ended overrides that end's 0 W
        if step.limit or step.at not in merged:
            merged[step.at] = step.limit
    return StepFunction([Step(at, limit) for at, limit in merged.items()], before=0)


def periods_from_steps(start: datetime, steps: Iterable[Step]) -> tuple[SchedulePeriod, ...]:
    """Periods on whole seconds from `start` (OCPP offsets are integers) that never allow more than
    the steps do: each period holds the lowest limit in force at any moment of it, so an increase
    moves to the next whole second and a decrease to the one before. A step a fraction of a second
    after another is kept, not merged away. Before the first step the limit is 0."""
    ordered = sorted(steps, key=lambda s: s.at)
    at = [(s.at - start).total_seconds() for s in ordered]

    def in_force(x: float) -> float:
        limit = 0.0
        for t, step in zip(at, ordered, strict=True):
            if t > x:
                break
            limit = step.limit
        return limit

    offsets = sorted({0} | {max(0, math.floor(t)) for t in at} | {max(0, math.ceil(t)) for t in at})
    periods: list[SchedulePeriod] = []
    for i, offset in enumerate(offsets):
        end = offsets[i + 1] if i + 1 < len(offsets) else math.inf
        limit = min([in_force(offset)] + [s.limit for t, s in zip(at, ordered, strict=True) if offset < t < end])
        if not periods or periods[-1].limit != limit:
            periods.append(SchedulePeriod(start_offset_s=offset, limit=limit))
    return tuple(periods)


@dataclass(frozen=True)
class PlannedProfile:
    profile: SetChargingProfile
    steps: list[Step]
    """What the EVSE will hold from now on: the `old` of the next transition."""


def profiles_for_plan(
    plan: ScheduleUpdated,
    evses: Iterable[Evse],
    now: datetime,
    previous: Mapping[Evse, StepFunction],
    increase_delay: timedelta,
) -> list[PlannedProfile]:
    purpose, stack_level = PROFILE_LAYERS["plan"]
    start = max(now, plan.horizon_start)
    # Several cars may follow each other on one EVSE within a plan: their slots share one profile.
    slots_by_evse: dict[Evse, list[tuple[datetime, datetime, int]]] = {}
    for charge in plan.charges:
        slots_by_evse.setdefault(Evse(charge.station_id, charge.evse_id), []).extend(
            (s.start, s.end, s.power_w) for s in charge.slots
        )
    planned = []
    for evse in sorted(set(evses) | set(slots_by_evse)):
        steps = safe_transition(
            steps_from_slots(slots_by_evse.get(evse, [])), previous.get(evse), start, increase_delay
        )
        planned.append(
            PlannedProfile(
                profile=SetChargingProfile(
                    station_id=evse.station_id,
                    evse_id=evse.evse_id,
                    profile_id=plan_profile_id(evse.evse_id),
                    purpose=purpose,
                    stack_level=stack_level,
                    unit=ChargingRateUnit.WATTS,
                    start=start,
                    periods=periods_from_steps(start, steps),
                ),
                steps=steps,
            )
        )
    return planned
