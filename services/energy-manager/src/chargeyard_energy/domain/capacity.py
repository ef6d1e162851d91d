"""Capacity: what a site may draw for EV charging, per phase and in total, and how limits are
scaled into it. Pure functions, no I/O, no clock.

Constraints (all at one instant):
- the grid connection: per phase, limit − building load − safety margin; in total the same in W;
- every circuit or board: its limit (A per phase and/or W) over the EVSEs below it;
- every group with a capacity or setpoint profile (GreenFlux smart charging groups): the site's
  share of the group's value (shared between the group's sites by their EVSEs' maximum power).

EVSEs that do not obey (they reject profiles, or draw more than their limit) are fixed loads:
counted at their measured or maximum draw and subtracted from every constraint they belong to.

A limit in W says nothing about the phases a car loads: a single-phase car puts it all on the
station's L1, which the station's phase rotation maps onto one grid phase (OCPP 2.0.1
PhaseRotation: "RST" = L1 on R, "STR" = L1 on S ...). Meter values with per-phase currents tell
which phases an EVSE's car uses; until the first one arrives the car is counted balanced over the
station's phases. Counting it worst case (all on L1) instead would stall a site whose stations
share one rotation: every car scaled under 6 A pauses and never shows its phases. The exposure is
one meter interval, which the safety margin covers; the fail-safe maximum (in A, binding every
phase) does not rely on the assumption.

Scaling keeps proportions: each constraint over its limit gets a factor available / load, each
EVSE takes the smallest factor of the constraints (and phases) it loads, so every constraint
ends within its limit. IEC 61851-1: a car pauses below 6 A, so a limit under 6 A becomes 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from .profiles import Evse
from .transitions import Step, StepFunction

MIN_CURRENT_A = 6.0
"""IEC 61851-1: below 6 A offered the car pauses."""
GRID_PHASES = "RST"
Vector = tuple[float, float, float]
ZERO: Vector = (0.0, 0.0, 0.0)


def grid_phases_of(rotation: str) -> tuple[int, int, int] | None:
    """Grid phase index of the station's L1, L2, L3; None when the rotation is unknown."""
    if len(rotation) != 3 or set(rotation) != set(GRID_PHASES):
        return None
    return (GRID_PHASES.index(rotation[0]), GRID_PHASES.index(rotation[1]), GRID_PHASES.index(rotation[2]))


@dataclass(frozen=True)
class EvseSpec:
    evse: Evse
    max_w: int
    station_phases: int = 3
    rotation: str = "RST"
    car_phases: tuple[int, ...] | None = None
    """Station-side phases (0 = L1) the car is seen loading; None = not known yet."""
    groups: frozenset[str] = frozenset()
    circuits: tuple[str, ...] = ()
    """The station's circuit and every board above it."""
    counted_w: int | None = None
    """Set for an EVSE that does not obey: its draw is a fixed load."""
    counted_phase_a: Vector | None = None
    """Its measured current per station-side phase, when metered per phase."""

    @property
    def min_w_factor(self) -> int:
        return len(self.car_phases) if self.car_phases else self.station_phases


def _spread(amps_per_station_phase: Mapping[int, float], rotation: str) -> Vector:
    mapping = grid_phases_of(rotation)
    out = [0.0, 0.0, 0.0]
    if mapping is None:  # unknown wiring: any station phase may be any grid phase
        worst = max(amps_per_station_phase.values(), default=0.0)
        return (worst, worst, worst) if worst > 0 else ZERO
    for i, amps in amps_per_station_phase.items():
        out[mapping[i]] += amps
    return (out[0], out[1], out[2])


def phase_load(spec: EvseSpec, watts: float, voltage_v: float) -> Vector:
    """Grid-phase current an EVSE causes at `watts` (balanced while its car's phases are unknown)."""
    if watts <= 0:
        return ZERO
    used = spec.car_phases or tuple(range(spec.station_phases))
    per = watts / (voltage_v * len(used))
    return _spread({i: per for i in used}, spec.rotation)


def counted_load(spec: EvseSpec, voltage_v: float) -> Vector:
    if spec.counted_w is None:
        return ZERO
    if spec.counted_phase_a is not None and any(spec.counted_phase_a):
        return _spread(dict(enumerate(spec.counted_phase_a)), spec.rotation)
    return phase_load(spec, spec.counted_w, voltage_v)


@dataclass(frozen=True)
class Constraint:
    name: str
    members: frozenset[Evse] | None
    """None: every EVSE of the site."""
    total_w: float | None = None
    phase_a: Vector | None = None

    def covers(self, evse: Evse) -> bool:
        return self.members is None or evse in self.members


def allocate(
    limits: Mapping[Evse, float], specs: Mapping[Evse, EvseSpec], constraints: Iterable[Constraint], voltage_v: float
) -> dict[Evse, int]:
    """Scale `limits` (W) down until every constraint holds; under 6 A becomes 0."""
    factor = dict.fromkeys(limits, 1.0)
    for c in constraints:
        members = [e for e in specs if c.covers(e)]
        counted = [specs[e] for e in members if specs[e].counted_w is not None]
        active = [e for e in members if e in limits and specs[e].counted_w is None and limits[e] > 0]
        if c.total_w is not None:
            load = sum(limits[e] for e in active)
            available = c.total_w - sum(s.counted_w or 0 for s in counted)
            if load > 0 and load > available:
                f = max(0.0, available) / load
                for e in active:
                    factor[e] = min(factor[e], f)
        if c.phase_a is not None:
            fixed = [sum(counted_load(s, voltage_v)[p] for s in counted) for p in range(3)]
            vectors = {e: phase_load(specs[e], limits[e], voltage_v) for e in active}
            for p in range(3):
                load = sum(v[p] for v in vectors.values())
                available = c.phase_a[p] - fixed[p]
                if load > 0 and load > available + 1e-9:
                    f = max(0.0, available) / load
                    for e, v in vectors.items():
                        if v[p] > 0:
                            factor[e] = min(factor[e], f)
    out = {}
    for e, limit in limits.items():
        watts = limit * factor[e]
        spec = specs.get(e)
        minimum = MIN_CURRENT_A * voltage_v * (spec.min_w_factor if spec else 1)
        out[e] = 0 if watts < minimum - 1e-6 else math.floor(watts + 1e-9)
    return out


# --- the site's capacity at an instant -------------------------------------------------------------


@dataclass(frozen=True)
class SiteLimits:
    grid_limit_w: int
    voltage_v: float = 230.0
    grid_limit_a: float | None = None
    safety_margin_w: int = 0
    building_timeout_s: int | None = None
    """Set when the site has a building meter (dynamic load management)."""
    building_fallback_w: int | None = None
    """The building load assumed while its meter is silent past the time-out."""

    @property
    def phase_limit_a(self) -> float:
        by_power = self.grid_limit_w / (3 * self.voltage_v)
        return by_power if self.grid_limit_a is None else min(self.grid_limit_a, by_power)

    @property
    def dynamic(self) -> bool:
        return self.building_timeout_s is not None


@dataclass(frozen=True)
class BuildingReading:
    measured_at: datetime
    total_w: int | None = None
    phase_a: Vector | None = None


@dataclass(frozen=True)
class BuildingLoad:
    total_w: float
    phase_a: Vector
    stale: bool


def building_load(site: SiteLimits, reading: BuildingReading | None, at: datetime) -> BuildingLoad:
    """The building's load at `at`. A silent meter is never read as "no load": past its time-out
    (or before its first reading) the fallback applies, and without one the whole connection."""
    if not site.dynamic:
        return BuildingLoad(0.0, ZERO, False)
    assert site.building_timeout_s is not None
    fresh = reading is not None and (at - reading.measured_at).total_seconds() <= site.building_timeout_s
    if not fresh or reading is None:
        fallback = site.building_fallback_w if site.building_fallback_w is not None else site.grid_limit_w
        per = fallback / (3 * site.voltage_v)
        return BuildingLoad(float(fallback), (per, per, per), True)
    if reading.phase_a is not None:
        phase = reading.phase_a
        total = float(reading.total_w) if reading.total_w is not None else sum(phase) * site.voltage_v
    else:
        total = float(reading.total_w or 0)
        per = total / (3 * site.voltage_v)
        phase = (per, per, per)
    return BuildingLoad(total, phase, False)


def grid_constraint(site: SiteLimits, building: BuildingLoad) -> Constraint:
    margin_a = site.safety_margin_w / (3 * site.voltage_v)
    limit = site.phase_limit_a
    return Constraint(
        name="grid",
        members=None,
        total_w=site.grid_limit_w - site.safety_margin_w - building.total_w,
        phase_a=(
            limit - margin_a - building.phase_a[0],
            limit - margin_a - building.phase_a[1],
            limit - margin_a - building.phase_a[2],
        ),
    )


@dataclass(frozen=True)
class Circuit:
    circuit_id: str
    parent_id: str | None
    limit_a: float | None = None
    limit_w: int | None = None


def circuit_paths(circuits: Iterable[Circuit]) -> dict[str, tuple[str, ...]]:
    """Each circuit and every board above it (the tree is validated acyclic when stored)."""
    by_id = {c.circuit_id: c for c in circuits}
    paths: dict[str, tuple[str, ...]] = {}
    for cid in by_id:
        path, current = [], by_id.get(cid)
        while current is not None and current.circuit_id not in path:
            path.append(current.circuit_id)
            current = by_id.get(current.parent_id) if current.parent_id else None
        paths[cid] = tuple(path)
    return paths


def circuit_constraints(circuits: Iterable[Circuit], specs: Iterable[EvseSpec]) -> list[Constraint]:
    specs = list(specs)
    out = []
    for c in circuits:
        if c.limit_a is None and c.limit_w is None:
            continue
        members = frozenset(s.evse for s in specs if c.circuit_id in s.circuits)
        out.append(
            Constraint(
                name=f"circuit:{c.circuit_id}",
                members=members,
                total_w=c.limit_w,
                phase_a=None if c.limit_a is None else (c.limit_a, c.limit_a, c.limit_a),
            )
        )
    return out


@dataclass(frozen=True)
class GroupProfile:
    """A group's capacity or setpoint profile in W, and this site's share of it."""

    group_id: str
    intervals: tuple[tuple[datetime, datetime, float], ...]
    share: float = 1.0
    members: frozenset[Evse] = field(default_factory=frozenset)

    def value_at(self, at: datetime) -> float | None:
        for start, end, value in self.intervals:
            if start <= at < end:
                return value
        return None

    def breakpoints(self) -> list[datetime]:
        return sorted({t for start, end, _ in self.intervals for t in (start, end)})


def group_constraints(profiles: Iterable[GroupProfile], at: datetime) -> list[Constraint]:
    out = []
    for g in profiles:
        value = g.value_at(at)
        if value is not None:
            out.append(Constraint(name=f"group:{g.group_id}", members=g.members, total_w=value * g.share))
    return out


@dataclass(frozen=True)
class SiteModel:
    """Everything needed to turn a site's limits into constraints at any instant."""

    limits: SiteLimits
    specs: Mapping[Evse, EvseSpec]
    circuits: tuple[Circuit, ...] = ()
    groups: tuple[GroupProfile, ...] = ()
    building: BuildingReading | None = None

    def constraints_at(self, at: datetime, *, building_at: datetime | None = None) -> list[Constraint]:
        """`building_at`: the instant whose building reading applies (plans assume the present one lasts)."""
        load = building_load(self.limits, self.building, building_at or at)
        return [
            grid_constraint(self.limits, load),
            *circuit_constraints(self.circuits, self.specs.values()),
            *group_constraints(self.groups, at),
        ]

    def breakpoints(self) -> list[datetime]:
        return sorted({t for g in self.groups for t in g.breakpoints()})


def clamp(steps: Mapping[Evse, StepFunction], model: SiteModel, now: datetime) -> dict[Evse, list[Step]]:
    """Every EVSE's limits from `now` on, scaled into the site's constraints at every breakpoint
    (limit changes and capacity changes). Only ever lowers a limit: safe to send at once."""
    times = {now}
    for fn in steps.values():
        times.update(t for t in fn.times() if t > now)
    times.update(t for t in model.breakpoints() if t > now)
    out: dict[Evse, list[Step]] = {e: [] for e in steps}
    for t in sorted(times):
        limits = {e: float(fn.at(t)) for e, fn in steps.items()}
        allowed = allocate(limits, model.specs, model.constraints_at(t, building_at=now), model.limits.voltage_v)
        for e, value in allowed.items():
            value = min(value, int(limits[e]))
            if not out[e] or out[e][-1].limit != value:
                out[e].append(Step(t, value))
    return out


def same_from(new: list[Step], old: StepFunction | None, now: datetime) -> bool:
    """True when `new` (from now on) equals what the EVSE already holds."""
    if old is None:
        return False
    fn = StepFunction(new, before=new[0].limit if new else 0)
    times = {now} | {s.at for s in new if s.at >= now} | {t for t in old.times() if t >= now}
    return all(fn.at(t) == old.at(t) for t in times)


def planning_capacity(
    model: SiteModel, now: datetime, horizon: datetime
) -> tuple[list[tuple[datetime, datetime, int]], int]:
    """The site's capacity in W for the planner, which knows no phases or circuits: the grid's
    total and per-phase headroom (three balanced phases) and each group's share, less counted
    EVSEs. Circuits and unbalanced phases are enforced by clamping the plan's profiles."""
    counted = [s for s in model.specs.values() if s.counted_w is not None]
    counted_w = sum(s.counted_w or 0 for s in counted)
    counted_phase = [sum(counted_load(s, model.limits.voltage_v)[p] for s in counted) for p in range(3)]
    max_w = {e: s.max_w for e, s in model.specs.items() if s.counted_w is None}

    def at(t: datetime) -> int:
        grid = grid_constraint(model.limits, building_load(model.limits, model.building, now))
        assert grid.total_w is not None and grid.phase_a is not None
        value = min(
            grid.total_w - counted_w,
            3 * model.limits.voltage_v * min(grid.phase_a[p] - counted_phase[p] for p in range(3)),
        )
        for g in model.groups:
            v = g.value_at(t)
            if v is None:
                continue
            outside = sum(w for e, w in max_w.items() if e not in g.members)
            inside_counted = sum(s.counted_w or 0 for s in counted if s.evse in g.members)
            value = min(value, v * g.share - inside_counted + outside)
        return max(0, int(value))

    times = sorted({now} | {t for t in model.breakpoints() if now < t < horizon})
    intervals = []
    for i, t in enumerate(times):
        end = times[i + 1] if i + 1 < len(times) else horizon
        intervals.append((t, end, at(t)))
    return intervals, at(horizon)


# --- the fail-safe station maximum ---------------------------------------------------------------


@dataclass(frozen=True)
class StationSpec:
    station_id: str
    max_w: int
    phases: int = 3
    rotation: str = "RST"
    circuits: tuple[str, ...] = ()
    counted: bool = False
    """Does not obey: counted at its maximum, its own maximum profile is not relied on."""

    def grid_phases(self) -> tuple[int, ...]:
        mapping = grid_phases_of(self.rotation)
        if mapping is None:
            return (0, 1, 2)
        return mapping[: self.phases]

    def max_a(self, voltage_v: float) -> float:
        return self.max_w / (voltage_v * self.phases)


def failsafe_currents(
    stations: Iterable[StationSpec],
    need_a: Mapping[str, float],
    site: SiteLimits,
    building: BuildingLoad,
    circuits: Iterable[Circuit],
) -> dict[str, float]:
    """Station maxima (A per phase) whose sum holds every limit whatever the cars do: a maximum in
    A binds each phase (a single-phase car too), so per grid phase the sum of the maxima of the
    stations wired to it stays within the phase's headroom, and in W within the total.

    Each station first gets what its plan needs now (`need_a`), then a share of what is left in
    proportion to its own maximum; counted (non-obeying) stations are fixed loads at their maximum."""
    stations = list(stations)
    v = site.voltage_v
    grid = grid_constraint(site, building)
    assert grid.phase_a is not None and grid.total_w is not None
    scopes: list[tuple[list[StationSpec], Vector | None, float | None]] = [(stations, grid.phase_a, grid.total_w)]
    for c in circuits:
        if c.limit_a is None and c.limit_w is None:
            continue
        below = [s for s in stations if c.circuit_id in s.circuits]
        limit_a = None if c.limit_a is None else (c.limit_a, c.limit_a, c.limit_a)
        scopes.append((below, limit_a, None if c.limit_w is None else float(c.limit_w)))

    obeying = [s for s in stations if not s.counted]
    base = {s.station_id: min(max(0.0, need_a.get(s.station_id, 0.0)), s.max_a(v)) for s in obeying}

    def fixed(members: list[StationSpec]) -> tuple[list[float], float]:
        per = [0.0, 0.0, 0.0]
        total = 0.0
        for s in members:
            if s.counted:
                for p in s.grid_phases():
                    per[p] += s.max_a(v)
                total += s.max_w
        return per, total

    # 1. what the plans need, scaled into every scope
    factor = dict.fromkeys(base, 1.0)
    for members, phase_a, total_w in scopes:
        fixed_a, fixed_w = fixed(members)
        active = [s for s in members if not s.counted]
        if phase_a is not None:
            for p in range(3):
                on_p = [s for s in active if p in s.grid_phases()]
                load = sum(base[s.station_id] for s in on_p)
                available = max(0.0, phase_a[p] - fixed_a[p])
                if load > available:
                    for s in on_p:
                        factor[s.station_id] = min(factor[s.station_id], available / load)
        if total_w is not None:
            load = sum(base[s.station_id] * v * s.phases for s in active)
            available = max(0.0, total_w - fixed_w)
            if load > available:
                for s in active:
                    factor[s.station_id] = min(factor[s.station_id], available / load)
    base = {k: b * factor[k] for k, b in base.items()}

    # 2. what is left, shared in proportion to each station's maximum
    extra = {s.station_id: s.max_a(v) - base[s.station_id] for s in obeying}
    for members, phase_a, total_w in scopes:
        fixed_a, fixed_w = fixed(members)
        active = [s for s in members if not s.counted]
        if phase_a is not None:
            for p in range(3):
                on_p = [s for s in active if p in s.grid_phases()]
                left = max(0.0, phase_a[p] - fixed_a[p] - sum(base[s.station_id] for s in on_p))
                weight = sum(s.max_a(v) for s in on_p)
                for s in on_p:
                    extra[s.station_id] = min(extra[s.station_id], left * s.max_a(v) / weight if weight else 0.0)
        if total_w is not None:
            left = max(0.0, total_w - fixed_w - sum(base[s.station_id] * v * s.phases for s in active))
            weight = sum(s.max_w for s in active)
            for s in active:
                share_w = left * s.max_w / weight if weight else 0.0
                extra[s.station_id] = min(extra[s.station_id], share_w / (v * s.phases))
    # OCPP limits in A have one decimal: round down so the sum never creeps over. IEC 61851-1 lets a
    # station offer no current between 0 and 6 A: such a share is no share (0 A pauses the car).
    maxima = {k: math.floor((base[k] + max(0.0, extra[k])) * 10 + 1e-9) / 10 for k in base}
    return {k: a if a >= MIN_CURRENT_A else 0.0 for k, a in maxima.items()}


def need_a(specs: Iterable[EvseSpec], limits_w: Callable[[Evse], float], voltage_v: float) -> dict[str, float]:
    """Per station: the current per phase its EVSEs' plan limits may cause on its busiest phase."""
    out: dict[str, float] = {}
    for spec in specs:
        if spec.counted_w is not None:
            continue
        watts = limits_w(spec.evse)
        phases = len(spec.car_phases) if spec.car_phases else spec.station_phases
        out[spec.evse.station_id] = out.get(spec.evse.station_id, 0.0) + watts / (voltage_v * phases)
    return out
