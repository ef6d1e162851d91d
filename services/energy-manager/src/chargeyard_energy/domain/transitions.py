"""Safe transitions between limits: decreases at once, increases only after a delay.

Stations receive their profiles at slightly different moments, their clocks differ, and a car
takes seconds to follow a new limit (IEC 61851-1 gives an EV up to 5 s to follow a PWM change).
If one EVSE went up before another went down, the site would briefly draw more than its limit.
So every increase waits `delay` and every decrease happens on time:

    safe(t) = min(new(t), new(t - delay))                 within the new plan, and
    safe(t) = min(new(t), old(t))  for t < now + delay     while the old plan may still be in force.

Within the delay window after a re-plan, each EVSE is held at or below what the old plan allowed
it, so the site's sum stays under the old plan's sum; afterwards under the new plan's sum. Both
plans respect the site limit, so the sum of limits does at every instant.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Step:
    at: datetime
    limit: int


class StepFunction:
    """A limit over time: each step holds until the next; before the first step, `before` holds."""

    def __init__(self, steps: Sequence[Step], before: int = 0) -> None:
        self.steps = sorted(steps, key=lambda s: s.at)
        self.before = before
        self._times = [s.at for s in self.steps]

    def at(self, t: datetime) -> int:
        i = bisect_right(self._times, t) - 1
        return self.before if i < 0 else self.steps[i].limit

    def times(self) -> list[datetime]:
        return list(self._times)


def safe_transition(new: StepFunction, old: StepFunction | None, now: datetime, delay: timedelta) -> list[Step]:
    """The steps to send from `now` on. `old` is what the EVSE holds now (None: unknown, taken
    as 0 W, the safe assumption for a station whose state we do not know)."""
    previous = old if old is not None else StepFunction([], before=0)
    horizon_end = now + delay
    breakpoints = {now, horizon_end}
    for t in new.times():
        breakpoints.update({t, t + delay})
    breakpoints.update(t for t in previous.times() if now < t < horizon_end)

    def safe(t: datetime) -> int:
        if t < horizon_end:
            return min(new.at(t), previous.at(t))  # the old plan stands in for new(t - delay)
        return min(new.at(t), new.at(t - delay))

    steps: list[Step] = []
    for t in sorted(b for b in breakpoints if b >= now):
        value = safe(t)
        if not steps or steps[-1].limit != value:
            steps.append(Step(t, value))
    return steps
