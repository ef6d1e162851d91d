"""Promises: what a plan tells each reservation, and when a new plan breaks what was told.

Pure: no I/O, no clock. A promise is kept when the plan delivers the reservation's need by its
departure (within 1 % or 100 Wh: meter rounding and the minimum-current rule). A broken promise
offers the driver the two ways out the issue names, both computed by the planner, not guessed:

* less energy on time: what this plan delivers by the reserved departure;
* the full energy, later: the finish of the same car in a second plan in which its departure
  is moved out (``what_if_demands``), every other car unchanged.

A car the plan gives no connector goes on the waiting list with alternatives read off the plan's
connector occupancy (``alternatives``): the same stay at the earliest time a connector is free,
or the longest free gap inside the reserved window with the energy that fits in it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from .planner import ChargePlan, Connector, Demand, Plan

KEPT_TOLERANCE_WH = 100
KEPT_TOLERANCE_SHARE = 0.01


class Broken(StrEnum):
    SHORT = "short"
    NO_CONNECTOR = "no_connector"


@dataclass(frozen=True, slots=True)
class Promise:
    """What the scheduler holds of one reservation when it plans."""

    reservation_id: str
    arrival: datetime
    departure: datetime
    need_wh: int
    """Energy the car needs in total (demand model), delivered energy included."""
    delivered_wh: int
    max_power_w: int


@dataclass(frozen=True, slots=True)
class BrokenPromise:
    reservation_id: str
    kind: Broken
    need_wh: int
    deliverable_wh: int
    """Delivered so far plus what this plan adds by the reserved departure."""


@dataclass(frozen=True, slots=True)
class Alternative:
    arrival: datetime
    departure: datetime
    energy_wh: int
    station_id: str
    evse_id: int
    note: str


def is_kept(need_wh: int, deliverable_wh: int) -> bool:
    return need_wh - deliverable_wh <= max(KEPT_TOLERANCE_WH, int(need_wh * KEPT_TOLERANCE_SHARE))


def broken_promises(promises: Iterable[Promise], plan: Plan) -> list[BrokenPromise]:
    charges = {c.reservation_id: c for c in plan.charges}
    found = []
    for promise in promises:
        charge = charges.get(promise.reservation_id)
        planned = charge.energy_wh if charge is not None else 0
        deliverable = promise.delivered_wh + planned
        if charge is None or charge.station_id is None:
            if promise.need_wh > promise.delivered_wh:
                found.append(BrokenPromise(promise.reservation_id, Broken.NO_CONNECTOR, promise.need_wh, deliverable))
        elif not is_kept(promise.need_wh, deliverable):
            found.append(BrokenPromise(promise.reservation_id, Broken.SHORT, promise.need_wh, deliverable))
    return found


def what_if_demands(demands: Sequence[Demand], later: Iterable[str], extension: timedelta) -> list[Demand]:
    """The same demands with the named reservations' departures moved out by `extension`."""
    moved = set(later)
    return [replace(d, departure=d.departure + extension) if d.reservation_id in moved else d for d in demands]


def full_charge_finish(broken: BrokenPromise, what_if: Plan | None, promise: Promise, now: datetime) -> datetime | None:
    """When the full need could be in the car: from the what-if plan when it delivers the need
    there, else an estimate at the car's own maximum power after the reserved departure."""
    if what_if is not None:
        try:
            charge: ChargePlan | None = what_if.charge(broken.reservation_id)
        except KeyError:
            charge = None
        if (
            charge is not None
            and charge.station_id is not None
            and charge.planned_finish is not None
            and is_kept(promise.need_wh, promise.delivered_wh + charge.energy_wh)
        ):
            return max(charge.planned_finish, promise.departure)
    missing = max(0, promise.need_wh - broken.deliverable_wh)
    if promise.max_power_w <= 0:
        return None
    seconds = math.ceil(missing / promise.max_power_w * 3600 / 60) * 60
    return max(now, promise.departure) + timedelta(seconds=seconds)


def alternatives(
    promise: Promise,
    plan: Plan,
    demands: Mapping[str, Demand],
    connectors: Sequence[Connector],
    *,
    min_stay: timedelta = timedelta(minutes=15),
    search: timedelta = timedelta(hours=24),
) -> list[Alternative]:
    """Stays the plan's connectors could still hold for a car that got none.

    Occupancy is each assigned car's [arrival, departure); the site limit is not re-checked here
    (the next plan decides), so these are offers to re-book, not promises."""
    busy: dict[tuple[str, int], list[tuple[datetime, datetime]]] = {c.key: [] for c in connectors}
    for charge in plan.charges:
        if charge.station_id is None or charge.evse_id is None or charge.reservation_id == promise.reservation_id:
            continue
        demand = demands.get(charge.reservation_id)
        if demand is not None and (charge.station_id, charge.evse_id) in busy:
            busy[(charge.station_id, charge.evse_id)].append((demand.arrival, demand.departure))
    stay = promise.departure - promise.arrival
    need = max(0, promise.need_wh - promise.delivered_wh)
    later: Alternative | None = None
    shorter: Alternative | None = None
    for connector in connectors:
        intervals = sorted(busy[connector.key])
        power = min(promise.max_power_w, connector.max_power_w)
        if power <= 0:
            continue
        # Earliest start >= arrival where the whole stay fits.
        for start in sorted({promise.arrival, *(end for _, end in intervals if end > promise.arrival)}):
            if start - promise.arrival > search:
                break
            if all(not (s < start + stay and start < e) for s, e in intervals):
                if later is None or start < later.arrival:
                    later = Alternative(
                        start,
                        start + stay,
                        need,
                        connector.station_id,
                        connector.evse_id,
                        "the same stay, later" if start > promise.arrival else "the same stay",
                    )
                break
        # Longest free gap inside the reserved window.
        cursor = promise.arrival
        for s, e in [*intervals, (promise.departure, promise.departure)]:
            gap_end = min(s, promise.departure)
            if gap_end - cursor >= min_stay and (
                shorter is None or gap_end - cursor > shorter.departure - shorter.arrival
            ):
                energy = int(min(need, power * (gap_end - cursor).total_seconds() / 3600))
                shorter = Alternative(
                    cursor, gap_end, energy, connector.station_id, connector.evse_id, "a shorter stay, less energy"
                )
            cursor = max(cursor, e)
    found = [a for a in (later, shorter) if a is not None]
    if later is not None and later.arrival == promise.arrival:
        return [later]  # the plan left a connector free after all: the next plan takes it
    return found
