"""Charging profiles: storage, stacking and evaluation. Pure domain code, no I/O, no OCPP library.

The rules implemented here (OCPP 1.6 §3.13 "Smart Charging", OCPP 2.0.1 K01/K08):
- A profile belongs to an EVSE (connector in 1.6); EVSE 0 means the whole station.
- Installing a profile with the same id, or the same purpose + stack level on the same EVSE,
  replaces the existing one (1.6 §5.16 SetChargingProfile, 2.0.1 K01 SetChargingProfile).
- Per purpose the valid profile with the highest stack level whose schedule covers the instant
  wins; a TxProfile of the running transaction overrules TxDefaultProfiles, and an EVSE-specific
  TxDefaultProfile overrules one on EVSE 0 (1.6 §3.13.2).
- The effective limit is the minimum of the ChargingStationMaxProfile (and external constraints)
  and the winning Tx/TxDefault profile.
- Limits in A are per phase; they become W as A x 230 V x phases in use.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from .car import VOLTAGE_V, amps_for


class ProfilePurpose(StrEnum):
    STATION_MAX = "ChargingStationMaxProfile"
    STATION_EXTERNAL = "ChargingStationExternalConstraints"
    TX_DEFAULT = "TxDefaultProfile"
    TX = "TxProfile"

    @classmethod
    def from_ocpp(cls, value: str) -> ProfilePurpose:
        # OCPP 1.6 calls the station-wide maximum "ChargePointMaxProfile".
        if value == "ChargePointMaxProfile":
            return cls.STATION_MAX
        return cls(value)

    def to_ocpp16(self) -> str:
        return "ChargePointMaxProfile" if self is ProfilePurpose.STATION_MAX else self.value


class ProfileKind(StrEnum):
    ABSOLUTE = "Absolute"
    RECURRING = "Recurring"
    RELATIVE = "Relative"


class RecurrencyKind(StrEnum):
    DAILY = "Daily"
    WEEKLY = "Weekly"

    @property
    def period(self) -> timedelta:
        return timedelta(days=1) if self is RecurrencyKind.DAILY else timedelta(days=7)


class RateUnit(StrEnum):
    AMPERES = "A"
    WATTS = "W"


@dataclass(frozen=True)
class SchedulePeriod:
    start_period_s: int
    limit: float
    number_phases: int | None = None


@dataclass(frozen=True)
class ChargingProfile:
    """A charging profile as the station stores it (protocol-neutral)."""

    id: int
    stack_level: int
    purpose: ProfilePurpose
    kind: ProfileKind
    rate_unit: RateUnit
    periods: tuple[SchedulePeriod, ...]
    start_schedule: datetime | None = None
    duration_s: int | None = None
    recurrency: RecurrencyKind | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = None
    """Station-local transaction id a TxProfile is bound to."""
    min_charging_rate: float | None = None
    installed_at: datetime | None = None
    """Set by the store; the fallback start of an Absolute/Recurring profile without startSchedule."""


@dataclass(frozen=True)
class Limit:
    """An effective limit: watts, the phase count a period imposes, and which profile set it."""

    watts: float
    number_phases: int | None = None
    profile_id: int | None = None
    purpose: ProfilePurpose | None = None


@dataclass(frozen=True)
class TxContext:
    """The transaction running on an EVSE, as profile evaluation needs it."""

    transaction_id: str
    started_at: datetime


def validate_profile_shape(profile: ChargingProfile) -> str | None:
    """Structural checks independent of station state; returns why it is invalid, or None."""
    if not profile.periods:
        return "schedule has no periods"
    if profile.periods[0].start_period_s != 0:
        # OCPP: "The startPeriod of the first ChargingSchedulePeriod SHALL always be 0."
        return "first period must start at 0"
    starts = [p.start_period_s for p in profile.periods]
    if any(b <= a for a, b in itertools.pairwise(starts)):
        return "period start times must increase"
    if any(p.limit < 0 for p in profile.periods):
        return "negative limit"
    if profile.kind is ProfileKind.RECURRING and profile.recurrency is None:
        return "Recurring profile without recurrencyKind"
    return None


def schedule_start(profile: ChargingProfile, at: datetime, relative_start: datetime) -> datetime | None:
    """When the schedule that covers *at* began; None when it has not begun yet.

    Relative profiles start at *relative_start* (the transaction start, OCPP "Relative" kind).
    Recurring profiles restart every day/week from startSchedule.
    """
    if profile.kind is ProfileKind.RELATIVE:
        return relative_start
    base = profile.start_schedule or profile.installed_at
    if base is None:
        return None
    if profile.kind is ProfileKind.ABSOLUTE:
        return base
    assert profile.recurrency is not None
    period = profile.recurrency.period
    cycles = math.floor((at - base) / period)
    return base + cycles * period


def active_period(profile: ChargingProfile, at: datetime, relative_start: datetime) -> SchedulePeriod | None:
    """The schedule period in force at *at*, or None when the profile does not apply then."""
    if profile.valid_from is not None and at < profile.valid_from:
        return None
    if profile.valid_to is not None and at >= profile.valid_to:
        return None
    start = schedule_start(profile, at, relative_start)
    if start is None:
        return None
    offset = (at - start).total_seconds()
    if offset < 0:
        return None
    duration = profile.duration_s
    if profile.kind is ProfileKind.RECURRING and profile.recurrency is not None:
        cycle_s = profile.recurrency.period.total_seconds()
        duration = int(cycle_s) if duration is None else min(duration, int(cycle_s))
    if duration is not None and offset >= duration:
        return None
    current: SchedulePeriod | None = None
    for period in profile.periods:
        if period.start_period_s <= offset:
            current = period
        else:
            break
    return current


def period_watts(period: SchedulePeriod, unit: RateUnit, phases_available: int) -> tuple[float, int | None]:
    """A period's limit in W, and the phase count it allows.

    A limits are per phase: W = A x 230 V x min(numberPhases (default 3), phases available).
    """
    if unit is RateUnit.WATTS:
        return period.limit, period.number_phases
    phases = min(period.number_phases or 3, phases_available)
    return period.limit * VOLTAGE_V * phases, period.number_phases


class ProfileStore:
    """Installed profiles per EVSE (0 = station-wide)."""

    def __init__(self) -> None:
        self._by_evse: dict[int, list[ChargingProfile]] = {}

    # -- mutation ---------------------------------------------------------------------------

    def install(self, evse_id: int, profile: ChargingProfile, now: datetime) -> list[ChargingProfile]:
        """Store *profile* on *evse_id*; returns the profiles it replaced."""
        stored = profile if profile.installed_at is not None else replace(profile, installed_at=now)
        replaced: list[ChargingProfile] = []
        for other_evse, profiles in self._by_evse.items():
            keep: list[ChargingProfile] = []
            for existing in profiles:
                same_id = existing.id == stored.id
                same_slot = (
                    other_evse == evse_id
                    and existing.purpose is stored.purpose
                    and existing.stack_level == stored.stack_level
                )
                (replaced if same_id or same_slot else keep).append(existing)
            profiles[:] = keep
        self._by_evse.setdefault(evse_id, []).append(stored)
        return replaced

    def clear(
        self,
        *,
        profile_id: int | None = None,
        evse_id: int | None = None,
        purpose: ProfilePurpose | None = None,
        stack_level: int | None = None,
    ) -> list[ChargingProfile]:
        """Remove matching profiles; with no criteria at all every profile goes.

        An id selects that profile only; otherwise evse/purpose/stackLevel are ANDed
        (1.6 §5.5 ClearChargingProfile, 2.0.1 K10).
        """
        removed: list[ChargingProfile] = []
        for evse, profiles in self._by_evse.items():
            keep: list[ChargingProfile] = []
            for p in profiles:
                if profile_id is not None:
                    match = p.id == profile_id
                else:
                    match = (
                        (evse_id is None or evse == evse_id)
                        and (purpose is None or p.purpose is purpose)
                        and (stack_level is None or p.stack_level == stack_level)
                    )
                (removed if match else keep).append(p)
            profiles[:] = keep
        return removed

    def remove_tx_profiles(self, evse_id: int) -> list[ChargingProfile]:
        """Drop the TxProfiles of an EVSE; they end with their transaction (1.6 §3.13.1, 2.0.1 K01)."""
        return self.clear(evse_id=evse_id, purpose=ProfilePurpose.TX)

    # -- queries ----------------------------------------------------------------------------

    def profiles(self, evse_id: int) -> list[ChargingProfile]:
        """Profiles installed on exactly this EVSE (0 = station-wide ones)."""
        return list(self._by_evse.get(evse_id, []))

    def count(self) -> int:
        return sum(len(p) for p in self._by_evse.values())

    def _winner(
        self,
        evse_id: int,
        purpose: ProfilePurpose,
        at: datetime,
        relative_start: datetime,
        transaction_id: str | None = None,
    ) -> tuple[ChargingProfile, SchedulePeriod] | None:
        candidates = [p for p in self._by_evse.get(evse_id, []) if p.purpose is purpose]
        if purpose is ProfilePurpose.TX:
            candidates = [p for p in candidates if p.transaction_id is None or p.transaction_id == transaction_id]
        for profile in sorted(candidates, key=lambda p: p.stack_level, reverse=True):
            period = active_period(profile, at, relative_start)
            if period is not None:
                return profile, period
        return None

    def limit_at(
        self,
        evse_id: int,
        at: datetime,
        phases_available: int,
        tx: TxContext | None = None,
    ) -> Limit | None:
        """The effective profile limit of an EVSE at *at*; None when no profile applies.

        For EVSE 0 only the station-wide profiles count.
        """
        relative_start = tx.started_at if tx is not None else at
        winners: list[tuple[ChargingProfile, SchedulePeriod]] = []
        for purpose in (ProfilePurpose.STATION_MAX, ProfilePurpose.STATION_EXTERNAL):
            found = self._winner(0, purpose, at, relative_start)
            if found is not None:
                winners.append(found)
        if evse_id != 0:
            tx_winner = None
            if tx is not None:
                tx_winner = self._winner(evse_id, ProfilePurpose.TX, at, relative_start, tx.transaction_id)
            if tx_winner is None:
                tx_winner = self._winner(evse_id, ProfilePurpose.TX_DEFAULT, at, relative_start)
            if tx_winner is None:
                tx_winner = self._winner(0, ProfilePurpose.TX_DEFAULT, at, relative_start)
            if tx_winner is not None:
                winners.append(tx_winner)
        best: Limit | None = None
        for profile, period in winners:
            watts, number_phases = period_watts(period, profile.rate_unit, phases_available)
            if best is None or watts < best.watts:
                best = Limit(watts, number_phases, profile.id, profile.purpose)
        return best

    def _relevant(self, evse_id: int) -> list[ChargingProfile]:
        relevant = list(self._by_evse.get(0, []))
        if evse_id != 0:
            relevant += self._by_evse.get(evse_id, [])
        return relevant

    def breakpoints(self, evse_id: int, start: datetime, duration_s: int, relative_start: datetime) -> list[int]:
        """Offsets (s from *start*) where the limit of *evse_id* may change within the window."""
        end = start + timedelta(seconds=duration_s)
        points: set[int] = {0}

        def add(moment: datetime | None) -> None:
            if moment is not None and start < moment < end:
                points.add(math.ceil((moment - start).total_seconds()))

        for profile in self._relevant(evse_id):
            add(profile.valid_from)
            add(profile.valid_to)
            origins: list[datetime] = []
            if profile.kind is ProfileKind.RECURRING and profile.recurrency is not None:
                first = schedule_start(profile, start, relative_start)
                if first is not None:
                    cycle = profile.recurrency.period
                    origin = first
                    while origin < end:
                        origins.append(origin)
                        origin += cycle
            else:
                origin_opt = schedule_start(profile, start, relative_start)
                if origin_opt is not None:
                    origins.append(origin_opt)
            for origin in origins:
                for period in profile.periods:
                    add(origin + timedelta(seconds=period.start_period_s))
                if profile.duration_s is not None:
                    add(origin + timedelta(seconds=profile.duration_s))
        return sorted(points)


@dataclass(frozen=True)
class CompositePeriod:
    start_period_s: int
    limit: float
    number_phases: int | None = None


def composite_schedule(
    store: ProfileStore,
    evse_id: int,
    start: datetime,
    duration_s: int,
    unit: RateUnit,
    phases_available: int,
    hardware_max_w: float,
    tx: TxContext | None = None,
) -> list[CompositePeriod]:
    """The limit an EVSE will apply over [start, start+duration), merged into periods
    (1.6 §5.7 GetCompositeSchedule, 2.0.1 K08). The EVSE's own rating caps every period, so
    a window without any profile reports the hardware maximum.
    """
    relative_start = tx.started_at if tx is not None else start
    periods: list[CompositePeriod] = []
    for offset in store.breakpoints(evse_id, start, duration_s, relative_start):
        at = start + timedelta(seconds=offset)
        limit = store.limit_at(evse_id, at, phases_available, tx)
        watts = hardware_max_w if limit is None else min(limit.watts, hardware_max_w)
        number_phases = limit.number_phases if limit is not None else None
        phases = min(number_phases or phases_available, phases_available)
        if unit is RateUnit.AMPERES:
            value = round(amps_for(watts, phases), 1)
        else:
            value = round(watts, 1)
        if periods and periods[-1].limit == value and periods[-1].number_phases == number_phases:
            continue
        periods.append(CompositePeriod(offset, value, number_phases))
    return periods


def describe(profiles: Iterable[ChargingProfile]) -> str:
    """Short human form for log lines, e.g. '#7 TxProfile@2 [0s:16A]'."""
    parts = []
    for p in profiles:
        periods = ",".join(f"{q.start_period_s}s:{q.limit:g}{p.rate_unit.value}" for q in p.periods[:4])
        more = "..." if len(p.periods) > 4 else ""
        parts.append(f"#{p.id} {p.purpose.value}@{p.stack_level} [{periods}{more}]")
    return "; ".join(parts) or "none"
