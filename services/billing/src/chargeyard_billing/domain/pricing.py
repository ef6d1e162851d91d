"""Pricing one session under one tariff.

Energy is the difference of register readings, never a sum of samples. Where the energy price
changes during the session (a time-of-use boundary in the site's time zone), the register value
at the boundary is the reading taken at that instant if there is one, else the linear
interpolation between the two readings around it, kept to a thousandth of a Wh. Each segment's
energy is the difference of the register values at its ends, so the segments add up exactly to
stop − start.

Rounding (the issue's rule): every line amount is exact (quantity × unit price, no rounding);
the net total is rounded half-up to the cent; VAT = net × rate rounded half-up to the cent;
gross = net + VAT. Time and idle fees count full minutes (a started minute is not charged), so
their lines are exact too.

A session whose readings cannot be trusted is not priced: `check_readings` names what is wrong
(register going backwards, two different values for one instant, a missing start or stop, a
tariff boundary inside a gap too wide to interpolate across) and the CDR is held as flagged.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from .energy import RegisterReading
from .tariffs import Tariff, to_cent

MILLI_WH = Decimal("0.001")
KWH = Decimal(1000)
STOP_TOLERANCE = timedelta(seconds=60)
"""A sampled reading this close to the transaction's end may stand in for a missing meterStop."""


class LineKind(StrEnum):
    SESSION_FEE = "session_fee"
    ENERGY = "energy"
    TIME = "time"
    IDLE = "idle"


@dataclass(frozen=True)
class Line:
    kind: LineKind
    start: datetime
    end: datetime
    quantity: Decimal
    """kWh for energy, full minutes for time and idle, 1 for the session fee."""
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Priced:
    lines: tuple[Line, ...]
    energy_wh: Decimal
    net: Decimal
    vat: Decimal
    gross: Decimal

    def total(self, kind: LineKind) -> Decimal:
        return sum((line.amount for line in self.lines if line.kind is kind), Decimal(0))

    def quantity(self, kind: LineKind) -> Decimal:
        return sum((line.quantity for line in self.lines if line.kind is kind), Decimal(0))


class AnomalyKind(StrEnum):
    BACKWARDS = "register_backwards"
    DUPLICATE = "conflicting_duplicate"
    MISSING_START = "missing_start"
    MISSING_STOP = "missing_stop"
    GAP = "gap"
    NO_TARIFF = "no_tariff"
    NO_TIME_ZONE = "no_time_zone"


@dataclass(frozen=True)
class Anomaly:
    kind: AnomalyKind
    detail: str


@dataclass(frozen=True)
class SessionReadings:
    """What pricing needs to know about a completed session."""

    readings: tuple[RegisterReading, ...]
    """Every distinct register reading of the transaction (any order, duplicates allowed)."""
    start: RegisterReading | None
    stop: RegisterReading | None
    started_at: datetime | None
    stopped_at: datetime | None
    start_from_transaction: bool = False
    stop_from_transaction: bool = False
    full_at: datetime | None = None
    """When the car reported full (OCPP SuspendedEV), for the idle fee."""


def check_readings(s: SessionReadings) -> list[Anomaly]:
    anomalies: list[Anomaly] = []
    by_time: dict[datetime, set[int]] = {}
    for r in s.readings:
        by_time.setdefault(r.at, set()).add(r.wh)
    for at, values in sorted(by_time.items()):
        if len(values) > 1:
            anomalies.append(
                Anomaly(
                    AnomalyKind.DUPLICATE, f"{len(values)} different register values at {_iso(at)}: {sorted(values)}"
                )
            )
    ordered = sorted(by_time.items())
    for (before_at, before), (after_at, after) in itertools.pairwise(ordered):
        if min(after) < max(before):
            anomalies.append(
                Anomaly(
                    AnomalyKind.BACKWARDS,
                    f"register went backwards: {max(before)} Wh at {_iso(before_at)}, "
                    f"{min(after)} Wh at {_iso(after_at)}",
                )
            )
    if s.start is None:
        anomalies.append(Anomaly(AnomalyKind.MISSING_START, "no start register reading"))
    elif not s.start_from_transaction and s.started_at is not None and s.start.at - s.started_at > STOP_TOLERANCE:
        anomalies.append(
            Anomaly(
                AnomalyKind.MISSING_START,
                f"no meterStart; the first reading is {_iso(s.start.at)}, the transaction began {_iso(s.started_at)}",
            )
        )
    if s.stop is None or s.stopped_at is None:
        anomalies.append(Anomaly(AnomalyKind.MISSING_STOP, "no stop register reading"))
    elif not s.stop_from_transaction and s.stopped_at - s.stop.at > STOP_TOLERANCE:
        anomalies.append(
            Anomaly(
                AnomalyKind.MISSING_STOP,
                f"no meterStop; the last reading is {_iso(s.stop.at)}, the transaction ended {_iso(s.stopped_at)}",
            )
        )
    return anomalies


def register_at(readings: Sequence[RegisterReading], at: datetime, max_gap: timedelta) -> Decimal | Anomaly:
    """The register value at `at`: the reading taken then, or interpolated between its neighbours."""
    before = max((r for r in readings if r.at <= at), key=lambda r: r.at, default=None)
    if before is not None and before.at == at:
        return Decimal(before.wh)
    after = min((r for r in readings if r.at > at), key=lambda r: r.at, default=None)
    if before is None or after is None:
        return Anomaly(AnomalyKind.GAP, f"no readings on both sides of the tariff boundary {_iso(at)}")
    span = after.at - before.at
    if span > max_gap:
        return Anomaly(
            AnomalyKind.GAP,
            f"tariff boundary {_iso(at)} lies in a {span} gap between readings (limit {max_gap}); "
            "interpolating across it would be a guess",
        )
    fraction = Decimal((at - before.at) // timedelta(microseconds=1)) / Decimal(span // timedelta(microseconds=1))
    value = Decimal(before.wh) + (after.wh - before.wh) * fraction
    return value.quantize(MILLI_WH, rounding=ROUND_HALF_UP)


def price_boundaries(tariff: Tariff, tz: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """The instants in (start, end) where the energy price changes, in UTC."""
    windows = tariff.windows
    if len({w.price_per_kwh for w in windows}) < 2:
        return []
    changes = [w.starts for i, w in enumerate(windows) if w.price_per_kwh != windows[i - 1].price_per_kwh]
    boundaries = []
    day = start.astimezone(tz).date() - timedelta(days=1)
    last_day = end.astimezone(tz).date() + timedelta(days=1)
    while day <= last_day:
        for starts in changes:
            at = datetime.combine(day, starts, tzinfo=tz).astimezone(UTC)
            if start < at < end:
                boundaries.append(at)
        day += timedelta(days=1)
    return sorted(set(boundaries))


def price(
    s: SessionReadings, tariff: Tariff, tz: ZoneInfo | None, *, max_gap: timedelta = timedelta(minutes=30)
) -> Priced | list[Anomaly]:
    anomalies = check_readings(s)
    if anomalies:
        return anomalies
    if s.start is None or s.stop is None or s.stopped_at is None:  # check_readings reported these
        return [Anomaly(AnomalyKind.MISSING_STOP, "incomplete session")]
    readings = [r for r in s.readings if s.start.at <= r.at <= s.stop.at]
    readings += [s.start, s.stop]
    if tz is None and len({w.price_per_kwh for w in tariff.energy}) > 1:
        return [Anomaly(AnomalyKind.NO_TIME_ZONE, "the station's site and so its time zone is unknown")]
    cuts = price_boundaries(tariff, tz, s.start.at, s.stop.at) if tz is not None else []

    lines: list[Line] = []
    began = s.started_at or s.start.at
    if tariff.session_fee:
        lines.append(
            Line(LineKind.SESSION_FEE, began, s.stopped_at, Decimal(1), tariff.session_fee, tariff.session_fee)
        )

    points: list[tuple[datetime, Decimal]] = [(s.start.at, Decimal(s.start.wh))]
    for cut in cuts:
        value = register_at(readings, cut, max_gap)
        if isinstance(value, Anomaly):
            anomalies.append(value)
        else:
            points.append((cut, value))
    points.append((s.stop.at, Decimal(s.stop.wh)))
    if anomalies:
        return anomalies
    for (t0, wh0), (t1, wh1) in itertools.pairwise(points):
        kwh = (wh1 - wh0) / KWH
        unit = tariff.price_at(t0.astimezone(tz).time()) if tz is not None else tariff.windows[0].price_per_kwh
        if tariff.energy:
            lines.append(Line(LineKind.ENERGY, t0, t1, kwh, unit, kwh * unit))

    if tariff.price_per_minute:
        minutes = Decimal((s.stopped_at - began) // timedelta(minutes=1))
        lines.append(
            Line(
                LineKind.TIME, began, s.stopped_at, minutes, tariff.price_per_minute, minutes * tariff.price_per_minute
            )
        )
    if tariff.idle is not None and s.full_at is not None and s.full_at < s.stopped_at:
        full_minutes = (s.stopped_at - s.full_at) // timedelta(minutes=1)
        billable = Decimal(max(0, full_minutes - tariff.idle.free_minutes))
        idle_from = s.full_at + timedelta(minutes=tariff.idle.free_minutes)
        lines.append(
            Line(
                LineKind.IDLE,
                idle_from,
                s.stopped_at,
                billable,
                tariff.idle.price_per_minute,
                billable * tariff.idle.price_per_minute,
            )
        )

    net = to_cent(sum((line.amount for line in lines), Decimal(0)))
    vat = to_cent(net * tariff.vat_rate)
    return Priced(tuple(lines), Decimal(s.stop.wh - s.start.wh), net, vat, net + vat)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")
