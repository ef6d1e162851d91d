"""Utilisation and availability from status history: each status holds from its timestamp until
the next one of the same connector; time before a connector's first known status is unknown and
left out of the denominator (a report never guesses a state it was not told)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

IN_USE = frozenset({"Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Occupied"})
"""A car is connected (OCPP 1.6 Preparing..Finishing, 2.0.1 Occupied)."""
DOWN = frozenset({"Faulted", "Unavailable", "Offline"})
"""Not usable by a driver: faulted, taken out of service, or not connected to the platform."""


@dataclass(frozen=True)
class Change:
    at: datetime
    status: str


def _spans(changes: Sequence[Change], start: datetime, end: datetime) -> list[tuple[datetime, datetime, str]]:
    ordered = sorted(changes, key=lambda c: c.at)
    spans = []
    for i, change in enumerate(ordered):
        until = ordered[i + 1].at if i + 1 < len(ordered) else end
        lo, hi = max(change.at, start), min(until, end)
        if hi > lo:
            spans.append((lo, hi, change.status))
    return spans


@dataclass(frozen=True)
class Utilisation:
    known_s: float
    in_use_s: float
    charging_s: float

    @property
    def share(self) -> float | None:
        return None if self.known_s == 0 else self.in_use_s / self.known_s


def utilisation(changes: Sequence[Change], start: datetime, end: datetime) -> Utilisation:
    known = in_use = charging = 0.0
    for lo, hi, status in _spans(changes, start, end):
        seconds = (hi - lo).total_seconds()
        known += seconds
        if status in IN_USE:
            in_use += seconds
        if status == "Charging":
            charging += seconds
    return Utilisation(known, in_use, charging)


@dataclass(frozen=True)
class Availability:
    known_s: float
    available_s: float

    @property
    def share(self) -> float | None:
        return None if self.known_s == 0 else self.available_s / self.known_s


def availability(
    station_level: Sequence[Change], connectors: Iterable[Sequence[Change]], start: datetime, end: datetime
) -> Availability:
    """A station is available while it is not down as a whole and at least one connector is not down.
    Known time: where the station or any connector has a known status."""
    timelines = [_spans(c, start, end) for c in connectors]
    station = _spans(station_level, start, end)
    cuts = sorted({start, end, *(t for tl in [station, *timelines] for span in tl for t in span[:2])})
    known = available = 0.0
    for lo, hi in itertools.pairwise(cuts):
        station_status = _status_at(station, lo)
        statuses = [s for s in (_status_at(tl, lo) for tl in timelines) if s is not None]
        if station_status is None and not statuses:
            continue
        seconds = (hi - lo).total_seconds()
        known += seconds
        station_up = station_status is None or station_status not in DOWN
        connector_up = not statuses or any(s not in DOWN for s in statuses)
        if station_up and connector_up:
            available += seconds
    return Availability(known, available)


def _status_at(spans: list[tuple[datetime, datetime, str]], at: datetime) -> str | None:
    for lo, hi, status in spans:
        if lo <= at < hi:
            return status
    return None
