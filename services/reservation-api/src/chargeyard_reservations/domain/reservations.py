"""The reservation life cycle, pure: which status may follow which, when a request is impossible,
what a conflict decision changes, and how times are shown. No I/O and no clock: `now` is passed."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from chargeyard_contracts import ConflictChoice, ReservationStatus

S = ReservationStatus

OPEN = frozenset({S.REQUESTED, S.SCHEDULED, S.WAITLISTED, S.CONFLICT})
"""Promised but the car is not there yet."""
AT_CONNECTOR = frozenset({S.ARRIVED, S.CHARGING})
"""The car is at a connector: a plan does not move it elsewhere."""
ACTIVE = OPEN | AT_CONNECTOR
FINAL = frozenset({S.COMPLETED, S.CANCELLED, S.NO_SHOW, S.REJECTED})

_NEXT: dict[ReservationStatus, frozenset[ReservationStatus]] = {
    S.REQUESTED: frozenset({S.SCHEDULED, S.WAITLISTED, S.CONFLICT, S.ARRIVED, S.CHARGING, S.CANCELLED, S.NO_SHOW}),
    S.SCHEDULED: frozenset({S.SCHEDULED, S.WAITLISTED, S.CONFLICT, S.ARRIVED, S.CHARGING, S.CANCELLED, S.NO_SHOW}),
    S.WAITLISTED: frozenset({S.SCHEDULED, S.CONFLICT, S.ARRIVED, S.CHARGING, S.CANCELLED, S.NO_SHOW}),
    S.CONFLICT: frozenset({S.SCHEDULED, S.WAITLISTED, S.ARRIVED, S.CHARGING, S.CANCELLED, S.NO_SHOW}),
    S.ARRIVED: frozenset({S.CHARGING, S.COMPLETED, S.CANCELLED}),
    S.CHARGING: frozenset({S.CHARGING, S.CONFLICT, S.COMPLETED}),
}


def can_move(current: ReservationStatus, to: ReservationStatus) -> bool:
    return to in _NEXT.get(current, frozenset())


@dataclass(frozen=True)
class Alternative:
    arrival: datetime
    departure: datetime
    energy_wh: int
    note: str


def alternatives_if_impossible(
    arrival: datetime, departure: datetime, energy_wh: int, max_power_w: int
) -> list[Alternative] | None:
    """Physically impossible even on an empty site (the car's own limit over the whole window):
    rejected at once, with the two ways out the driver has. None when it can be planned."""
    hours = (departure - arrival).total_seconds() / 3600
    possible_wh = int(max_power_w * hours)
    if energy_wh <= possible_wh:
        return None
    needed_s = math.ceil(energy_wh / max_power_w * 3600 / 60) * 60
    return [
        Alternative(
            arrival,
            arrival + timedelta(seconds=needed_s),
            energy_wh,
            "all the energy asked for, with a later departure",
        ),
        Alternative(arrival, departure, possible_wh, "the departure asked for, with the energy that fits"),
    ]


def conflict_is_stale(
    conflict_departure: datetime, conflict_requested_wh: int, departure: datetime, energy_wh: int
) -> bool:
    """A conflict computed against terms the reservation no longer has (a decision or a change
    came after it) says nothing about the current promise."""
    return conflict_departure != departure or conflict_requested_wh != energy_wh


def terms_after(
    choice: ConflictChoice,
    departure: datetime,
    energy_wh: int,
    deliverable_wh: int,
    full_charge_finish: datetime | None,
) -> tuple[datetime, int]:
    """(departure, energy) that apply after the choice: "full charge, later" keeps the energy and
    moves the departure to when it can be in the car; "less charge, on time" keeps the departure."""
    if choice is ConflictChoice.FULL_CHARGE_LATER:
        return max(departure, full_charge_finish or departure), energy_wh
    return departure, max(1, min(energy_wh, deliverable_wh))


def no_show_due(status: ReservationStatus, arrival: datetime, grace: timedelta, now: datetime) -> bool:
    return status in OPEN and now >= arrival + grace


def decision_due(status: ReservationStatus, respond_by: datetime | None, now: datetime) -> bool:
    return status is S.CONFLICT and respond_by is not None and now >= respond_by


def local(value: datetime | None, time_zone: str) -> datetime | None:
    """An instant shown in the site's time zone (the offset says summer or winter time)."""
    return None if value is None else value.astimezone(ZoneInfo(time_zone))


def duration_s(arrival: datetime, departure: datetime) -> int:
    """Real elapsed seconds: aware datetimes subtract in UTC, so a night across a
    daylight-saving change is 23 or 25 hours of wall clock, never a lost or extra hour."""
    return int((departure - arrival).total_seconds())


def rated_trip_energy_wh(distance_km: float, consumption_wh_per_100km: int, battery_wh: int) -> int:
    """The energy a trip takes at the vehicle's rated consumption, at most a full battery. The
    estimate the reservation shows until the scheduler plans it with the weather and the state
    of charge."""
    return max(1, min(battery_wh, math.ceil(distance_km * consumption_wh_per_100km / 100)))
