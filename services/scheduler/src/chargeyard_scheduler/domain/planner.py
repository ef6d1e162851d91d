"""Pure planning domain of the scheduler: a mixed-integer charging plan for one site.

No I/O, no wall clock (``now`` comes in with the request; ``time.perf_counter`` only
measures the solve for ``Plan.solve_ms``), no framework. Inputs and outputs are frozen
dataclasses; :func:`plan` builds a PuLP model, solves it with HiGHS (CBC as fallback)
and returns a :class:`Plan`.

Horizon
-------
Slot 0 starts exactly at ``now`` (no flooring); slot ``t`` covers
``[now + t*S, now + (t+1)*S)`` with ``S = slot_seconds``. The horizon runs to the latest
departure of the planned demands, capped at ``max_slots`` (default 192 = 2 x 96).
A car present for part of a slot only gets an availability fraction
``a[c,t] = overlap / S`` in ``(0, 1]``; variables exist only for slots with ``a > 0``.
Dropped: ``energy_wh <= 0``, ``departure <= now``, arrival at/after the horizon end.

Units in the model are kW and kWh (better scaled than W); outputs are W and Wh.
``h = S / 3600`` is the slot length in hours.

Connector groups
----------------
Connectors with the same ``(station if some demand pins it else None, max_power_w,
phases)`` are interchangeable, so the model assigns cars to *groups* ``g`` of ``m_g``
connectors instead of to single connectors - this removes the symmetry that made the
per-connector model slow. Physical connectors are chosen after the solve by greedy
interval colouring (cars by presence start; the clique constraints below guarantee a
free connector), preferring the car's connector in ``existing_assignment``.

Per car ``c`` and group ``g`` (``ph = min(car.phases, group.phases)``):
``pmin[c,g] = min_current_a * voltage_v * ph`` (IEC 61851: 6 A per phase) and
``pmax[c,g] = min(car.max_power_w * ph / car.phases, group.max_power_w * ph / group.phases)``
(limits are per phase: a 1-phase car on a 22 kW 3-phase point gets 7.33 kW at most).
The pair is compatible if ``pmin <= pmax`` and the station pin (``Demand.station_id``,
hard) matches. ``pmin_hi[c]``, ``pmax_hi[c]``: maxima over the compatible groups.

Variables
---------
* ``p[c,t] >= 0``  power (kW) offered to car ``c`` while present in slot ``t``.
* ``on[c,t]``      binary: car ``c`` charges in slot ``t``.
* ``y[c,g]``       binary: car ``c`` sits on a connector of group ``g``.
* ``s[c] >= 0``    shortfall (kWh).
* ``o[c] in [0, pmin_hi[c] * h]``  overshoot (kWh): the minimum current can force an
                   offer above a small remaining need (0.4 kWh left, minimum 4.14 kW x
                   0.25 h); the car simply stops when full. Penalised.
* ``d[c,t] >= |p[c,t] - p[c,t-1]|``  power change between consecutive present slots.

Constraints
-----------
* Assignment: ``sum_g y[c,g] <= 1``. A car may stay *unassigned* (more cars than
  connectors, or none compatible): it cannot charge, its shortfall is the full demand,
  and it is reported with ``station_id=None``.
* One car per connector at a time: with ``[start_c, end_c)`` = presence clipped to the
  horizon, for every group ``g`` and every arrival instant ``tau``,
  ``sum_{c present at tau} y[c,g] <= m_g``. The cars present at an arrival instant are
  the maximal cliques of the interval graph, so for single connectors this is the
  pairwise rule ``x[c1,k] + x[c2,k] <= 1`` for overlapping cars, with fewer, tighter rows.
* Power only when assigned and charging: ``on[c,t] <= sum_g y[c,g]``,
  ``p[c,t] <= pmax_hi[c] * on[c,t]``, ``p[c,t] <= sum_g pmax[c,g] * y[c,g]``.
* Minimum current: ``p[c,t] >= pmin_hi[c] * on[c,t] - sum_g (pmin_hi[c] - pmin[c,g]) * y[c,g]``
  (exactly ``p >= pmin[c,g]`` when ``on = 1`` on group ``g``; void when off).
* Energy: ``E[c] = sum_t p[c,t] * h * a[c,t]``. With ``R[c] = min(requested,
  pmax_hi * h * sum_t a)`` (the part the car could take alone; the rest is a constant
  shortfall kept out of the objective): ``E[c] + s[c] >= R[c]`` and
  ``E[c] - o[c] <= sum_g min(requested, pmax[c,g] * h * sum_t a) * y[c,g]``. The latter is
  "delivered <= requested" and "nothing without a connector" in one row, and the cut
  that stops the LP relaxation from time-sharing a connector between overlapping cars
  (it took 20 cars / 12 connectors from >30 s to <1 s).
* Site limit: ``sum_c p[c,t] <= site_limit[t]`` per slot (``site_limit_w`` may be a per-slot
  profile, its last value repeating). A partially present car counts with its full
  power - the limit is instantaneous.

Objective (minimise; lexicographic through weights)
----------------------------------------------------
1. ``W_SHORTFALL * (1 + priority[c]) * tie[c] * s[c]``, ``W_SHORTFALL = 1e4`` per kWh,
   ``tie[c]`` in ``[1, 1.01]`` falling with the first-come rank (arrival, created_at,
   reservation_id): among equal priorities the earlier reservation is served first.
   Then ``W_STICKY = 50`` per car moved off its ``existing_assignment`` group and
   ``W_UNASSIGNED = 10`` per car without connector.
2. Strategy cost ``cost[c,t] in [0, 1]`` per kWh delivered (``p * h * a``), plus
   ``W_OVERSHOOT = 2`` per kWh of overshoot:

   * ``fcfs``: ``w[c] * (t + 1) / T`` with ``w[c] = 1 - 0.5 * rank[c] / n``: everybody as
     early as possible; when they compete, the earlier reservation gets the earlier
     slots (swapping energy between A and B costs ``(w_A - w_B) * (t2 - t1)``).
   * ``economic``: price normalised to ``[0, 1]`` over the horizon (an affine transform
     of ``sum price * energy``) plus ``0.001 * (t + 1) / T`` so ties go early.
   * ``green``: ``1 - green_share[t]`` plus the same early tie-break.

   Prices / green shares: a per-slot list aligned with the horizon (last value repeats)
   or a mapping ``start -> value`` read as a step function and time-averaged per slot.
   Without data the strategy degrades to "as early as possible".
3. ``W_RAMP = 1e-6`` per kW of ``d[c,t]``: smoother profiles among otherwise equal plans.

Tier 2 is at most ~3 per kWh against 1e4 per kWh for tier 1, and the smallest tier-2
difference that matters (~``0.5 / (n T)`` per kWh) is far above tier-3 costs. Weighted
"lexicographic" optimisation is approximate at the scale of the MIP gap
(``MIP_REL_GAP = 1e-4``, ``MIP_ABS_GAP = 0.1``): when there is shortfall, tier 2 is only
optimised to about 1e-4 of the tier-1 value. With linear priority weights, the
minimum current can make it worth giving a high-priority car a few Wh less so a
lower-priority one can take a whole slot (>= 1 kWh) more.

Solving
-------
A. ``on`` relaxed to [0, 1] and the ramp tier left out (it stays below the gap
   tolerance and doubles the LP): an assignment MILP + LP, fast, and a lower bound.
B. ``on`` binary again, the assignment of A fixed and ``on = 1`` wherever A already
   offered at least the minimum; the rest free: a small MILP giving a good incumbent.
   If B is within the gap tolerances of A's bound the plan is ``optimal`` here.
C. Otherwise the full model, warm-started from B, for the rest of ``time_limit_s``;
   B's plan is kept if C does not improve on it (status ``feasible``).
Statuses: ``optimal`` (within tolerances), ``feasible`` (time limit hit, incumbent
used), ``no_solution`` (nothing found: all charges empty), ``empty`` (nothing to plan).

The model cannot be infeasible (shortfall and unassignment absorb every conflict).
Output: powers rounded *down* to whole watts; a guard re-checks per slot the site limit
and the minimum current; a top-up pass gives back the few Wh lost to rounding where
the limits leave room. ``energy_wh`` is what the rounded profile delivers, capped at the
request; ``planned_finish`` is when the car is full (inside its last slot) or leaves.
"""

from __future__ import annotations

import math
import time
import warnings
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, Literal

import pulp

__all__ = [
    "PHASE_ROTATIONS",
    "Board",
    "ChargePlan",
    "Connector",
    "Demand",
    "Plan",
    "PlanRequest",
    "SolverName",
    "Strategy",
    "available_solvers",
    "plan",
]

PHASE_ROTATIONS: tuple[str, ...] = ("RST", "RTS", "SRT", "STR", "TRS", "TSR")
"""OCPP 1.6 ConnectorPhaseRotation: the grid phases (R=L1, S=L2, T=L3) wired to the
connector's L1, L2, L3. A single-phase car draws on the connector's L1 only, so on the grid
phase named by the first letter."""

Strategy = Literal["fcfs", "economic", "green"]
SolverName = Literal["highs", "highs_cmd", "cbc"]
SlotValues = Sequence[float] | Mapping[datetime, float]

STRATEGIES: tuple[str, ...] = ("fcfs", "economic", "green")

W_SHORTFALL = 1e4  # per kWh, times (1 + priority) x tie
TIE_SPREAD = 0.01  # max relative boost of the first-come car's shortfall weight
W_STICKY = 50.0  # per car moved away from its existing connector
W_UNASSIGNED = 10.0  # per car without connector
W_OVERSHOOT = 2.0  # per kWh offered beyond the request (min-current rule)
W_EARLY_TIEBREAK = 1e-3  # per kWh, economic/green: earlier among equal costs
W_RAMP = 1e-6  # per kW of power change between consecutive slots
MIP_REL_GAP = 1e-4
SEED_TIME_SHARE = 0.4  # of time_limit_s, cap for each of the two seeding solves
MIN_STAGE_TIME_S = 1.0
MIP_ABS_GAP = 0.1  # objective units: 0.1 normalised-cost kWh, or 10 Wh of shortfall

_EPS_AVAIL = 1e-9


def _board_chains(boards: Sequence[Board]) -> dict[str, tuple[str, ...]]:
    """board_id -> the board and all boards feeding it, innermost first."""
    parent = {b.board_id: b.parent_id for b in boards}
    out: dict[str, tuple[str, ...]] = {}
    for b in boards:
        chain: list[str] = []
        cur: str | None = b.board_id
        while cur is not None:
            if cur in chain:
                raise ValueError(f"boards form a cycle through {cur!r}")
            chain.append(cur)
            cur = parent[cur]
        out[b.board_id] = tuple(chain)
    return out


def _require_aware(name: str, value: datetime) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class Demand:
    """One reservation to be planned (a car that is or will be on site)."""

    reservation_id: str
    arrival: datetime
    departure: datetime
    energy_wh: int
    max_power_w: int
    phases: int = 3
    priority: int = 0
    created_at: datetime | None = None
    """Tie-break after arrival for first-come ordering; ``None`` means ``arrival``."""
    station_id: str | None = None
    """Set when the driver asked for a particular station (hard constraint)."""

    def __post_init__(self) -> None:
        _require_aware("arrival", self.arrival)
        _require_aware("departure", self.departure)
        if self.created_at is not None:
            _require_aware("created_at", self.created_at)
        if self.departure <= self.arrival:
            raise ValueError(f"{self.reservation_id}: departure must be after arrival")
        if self.phases not in (1, 3):
            raise ValueError(f"{self.reservation_id}: phases must be 1 or 3")
        if self.max_power_w <= 0:
            raise ValueError(f"{self.reservation_id}: max_power_w must be > 0")
        if self.priority < 0:
            raise ValueError(f"{self.reservation_id}: priority must be >= 0")

    @property
    def order_key(self) -> tuple[datetime, datetime, str]:
        return (self.arrival, self.created_at or self.arrival, self.reservation_id)


@dataclass(frozen=True, slots=True)
class Connector:
    """A charging point (station + EVSE) the planner may assign cars to."""

    station_id: str
    evse_id: int
    max_power_w: int
    phases: int = 3
    board_id: str | None = None
    """The innermost board (or circuit) feeding this connector; ``None``: the grid connection only."""
    phase_rotation: str = "RST"
    """See :data:`PHASE_ROTATIONS`; decides which grid phase a single-phase car loads."""

    def __post_init__(self) -> None:
        if self.phases not in (1, 3):
            raise ValueError(f"{self.station_id}/{self.evse_id}: phases must be 1 or 3")
        if self.max_power_w < 0:
            raise ValueError(f"{self.station_id}/{self.evse_id}: max_power_w must be >= 0")
        if self.phase_rotation not in PHASE_ROTATIONS:
            raise ValueError(f"{self.station_id}/{self.evse_id}: phase_rotation must be one of {PHASE_ROTATIONS}")

    @property
    def key(self) -> tuple[str, int]:
        return (self.station_id, self.evse_id)


@dataclass(frozen=True, slots=True)
class Board:
    """A distribution board or circuit with a current limit per phase (fuse rating)."""

    board_id: str
    max_current_a: float
    parent_id: str | None = None
    """The board feeding this one; its limit counts this board's load too."""

    def __post_init__(self) -> None:
        if self.max_current_a < 0:
            raise ValueError(f"board {self.board_id}: max_current_a must be >= 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanRequest:
    now: datetime
    site_limit_w: int | Sequence[int]
    """Grid/site limit in W; a sequence is a per-slot profile (last value repeats)."""
    demands: Sequence[Demand]
    connectors: Sequence[Connector]
    strategy: Strategy = "fcfs"
    slot_seconds: int = 900
    prices: SlotValues | None = None
    """Per-slot list aligned with the horizon, or mapping start -> price (step function)."""
    green_share: SlotValues | None = None
    """Renewable share in [0, 1]; same shapes as ``prices``."""
    min_current_a: float = 6.0
    voltage_v: float = 230.0
    existing_assignment: Mapping[str, tuple[str, int]] | None = None
    """reservation_id -> (station_id, evse_id) of the previous plan, kept when possible."""
    time_limit_s: float = 10.0
    max_slots: int = 192
    boards: Sequence[Board] = ()
    """Boards with per-phase current limits; connectors name theirs in ``board_id``."""

    def __post_init__(self) -> None:
        _require_aware("now", self.now)
        if self.slot_seconds < 60:
            raise ValueError("slot_seconds must be >= 60")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}")
        if self.max_slots < 1:
            raise ValueError("max_slots must be >= 1")
        if self.time_limit_s <= 0:
            raise ValueError("time_limit_s must be > 0")
        if self.min_current_a < 0 or self.voltage_v <= 0:
            raise ValueError("min_current_a must be >= 0 and voltage_v > 0")
        object.__setattr__(self, "demands", tuple(self.demands))
        object.__setattr__(self, "connectors", tuple(self.connectors))
        if isinstance(self.site_limit_w, (int, float)):
            if self.site_limit_w < 0:
                raise ValueError("site_limit_w must be >= 0")
        else:
            profile = tuple(int(v) for v in self.site_limit_w)
            if not profile or min(profile) < 0:
                raise ValueError("site_limit_w profile must be non-empty and >= 0")
            object.__setattr__(self, "site_limit_w", profile)
        ids = [d.reservation_id for d in self.demands]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate reservation_id in demands")
        keys = [c.key for c in self.connectors]
        if len(set(keys)) != len(keys):
            raise ValueError("duplicate (station_id, evse_id) in connectors")
        object.__setattr__(self, "boards", tuple(self.boards))
        board_ids = {b.board_id for b in self.boards}
        if len(board_ids) != len(self.boards):
            raise ValueError("duplicate board_id in boards")
        for b in self.boards:
            if b.parent_id is not None and b.parent_id not in board_ids:
                raise ValueError(f"board {b.board_id}: unknown parent_id {b.parent_id!r}")
        for c in self.connectors:
            if c.board_id is not None and c.board_id not in board_ids:
                raise ValueError(f"connector {c.station_id}/{c.evse_id}: unknown board_id {c.board_id!r}")
        _board_chains(self.boards)  # refuses cycles
        for name in ("prices", "green_share"):
            values = getattr(self, name)
            if isinstance(values, Mapping):
                for k in values:
                    _require_aware(f"{name} key", k)


# -------------------------------------------------------------------------- outputs


@dataclass(frozen=True, slots=True)
class ChargePlan:
    reservation_id: str
    station_id: str | None
    """``None`` when the car got no connector (unassigned: shortfall = full demand)."""
    evse_id: int | None
    power_w: tuple[int, ...]
    """Power limit per horizon slot in W (0 outside the car's presence)."""
    energy_wh: int
    requested_wh: int
    planned_start: datetime | None
    planned_finish: datetime | None

    @property
    def shortfall_wh(self) -> int:
        return self.requested_wh - self.energy_wh


@dataclass(frozen=True, slots=True)
class Plan:
    status: str
    """``optimal`` | ``feasible`` (time limit, incumbent) | ``no_solution`` | ``empty``."""
    solver: str
    solve_ms: int
    slots: tuple[datetime, ...]
    slot_seconds: int
    charges: tuple[ChargePlan, ...] = field(default_factory=tuple)
    method: str = "milp"
    """``milp`` (one PuLP model), ``decomposed`` (LP + minimum-current repair) or ``heuristic``."""
    solver_status: str = ""
    """The solver's own model status of the final solve (e.g. HiGHS ``Time limit reached``)."""
    gap: float | None = None
    """Relative gap of the final MIP as the solver reports it (``None``: not a MIP / unknown)."""
    objective: float | None = None
    bound: float | None = None
    """Lower bound on the objective (the LP relaxation) when known."""
    build_ms: int = 0
    binaries: int = 0
    """Integer or semi-continuous variables in the final solve."""

    @property
    def horizon_end(self) -> datetime | None:
        if not self.slots:
            return None
        return self.slots[-1] + timedelta(seconds=self.slot_seconds)

    @property
    def bound_gap(self) -> float | None:
        """``(objective - bound) / objective``: how far the plan may be from the optimum."""
        if self.objective is None or self.bound is None:
            return None
        return max(self.objective - self.bound, 0.0) / max(abs(self.objective), 1e-9)

    def site_power_w(self) -> list[int]:
        """Total planned power per slot."""
        return [sum(c.power_w[t] for c in self.charges) for t in range(len(self.slots))]

    def charge(self, reservation_id: str) -> ChargePlan:
        for c in self.charges:
            if c.reservation_id == reservation_id:
                return c
        raise KeyError(reservation_id)


# --------------------------------------------------------------------------- solver


def _cbc(**options: Any) -> pulp.LpSolver:
    with warnings.catch_warnings():  # PuLP 3.3 deprecates the bundled CBC for 4.0
        warnings.simplefilter("ignore", DeprecationWarning)
        return pulp.PULP_CBC_CMD(**options)


def available_solvers() -> list[str]:
    out: list[str] = []
    if pulp.HiGHS().available():
        out.append("highs")
    if pulp.HiGHS_CMD().available():
        out.append("highs_cmd")
    if _cbc().available():
        out.append("cbc")
    return out


class _HiGHSWarm(pulp.HiGHS):  # type: ignore[misc]
    """pulp's in-process HiGHS plus a MIP start taken from the variables' current values."""

    warm_start = False

    def callSolver(self, lp: pulp.LpProblem) -> None:
        if self.warm_start:
            import numpy as np

            cols, vals = [], []
            for var in lp.variables():
                if var.varValue is None:
                    continue
                value = float(var.varValue)
                if var.cat == pulp.LpInteger:
                    value = float(round(value))
                cols.append(var.index)
                vals.append(value)
            if cols:
                lp.solverModel.setSolution(
                    len(cols), np.asarray(cols, dtype=np.int32), np.asarray(vals, dtype=np.float64)
                )
        super().callSolver(lp)


def _make_solver(name: str | None, time_limit_s: float, *, warm_start: bool = False) -> tuple[pulp.LpSolver, str]:
    candidates = [name] if name else ["highs", "highs_cmd", "cbc"]
    common = {"msg": False, "timeLimit": time_limit_s, "gapRel": MIP_REL_GAP, "gapAbs": MIP_ABS_GAP}
    for cand in candidates:
        if cand == "highs":
            s = _HiGHSWarm(**common)
            if s.available():
                s.warm_start = warm_start
                return s, "HiGHS"
        elif cand == "highs_cmd":
            s = pulp.HiGHS_CMD(warmStart=warm_start, **common)
            if s.available():
                return s, "HiGHS_CMD"
        elif cand == "cbc":
            s = _cbc(warmStart=warm_start, **common)
            if s.available():
                return s, "CBC"
        else:
            raise ValueError(f"unknown solver {cand!r}")
    raise RuntimeError(f"no MILP solver available (asked for {candidates})")


def _sol_status(prob: pulp.LpProblem) -> str:
    if prob.sol_status == pulp.LpSolutionOptimal:
        return "optimal"
    if prob.sol_status == pulp.LpSolutionIntegerFeasible:
        return "feasible"
    return "no_solution"


Fixing = tuple[pulp.LpVariable, float | None, float | None]


def _solve(
    prob: pulp.LpProblem,
    relaxed_objective: pulp.LpAffineExpression,
    objective: pulp.LpAffineExpression,
    semi_binaries: list[pulp.LpVariable],
    propose_fixings: Callable[[], list[Fixing]],
    solver: str | None,
    time_limit_s: float,
) -> tuple[str, str]:
    """Relax-and-fix seeding, then the full MILP from that MIP start.

    A. ``semi_binaries`` (the on[c,t]) relaxed to [0, 1], ``relaxed_objective`` (the
       objective without the ramp tier, which is below the gap tolerance anyway and
       doubles the LP): assignment + LP, fast, and a lower bound.
    B. restore them, apply ``propose_fixings()`` (derived from A) and solve the
       restricted MILP - few free binaries left, gives a good incumbent quickly.
    C. undo the fixings and solve the full model with B's solution as MIP start.
    C's answer is kept unless it has none; then B's (status ``feasible``).
    """
    t0 = time.perf_counter()

    def left(share: float | None = None) -> float:
        rest = time_limit_s - (time.perf_counter() - t0)
        if share is not None:
            rest = min(rest, time_limit_s * share)
        return max(rest, MIN_STAGE_TIME_S)

    seed_values: dict[str, float | None] | None = None
    seed_obj = math.inf
    prob.setObjective(relaxed_objective)
    for v in semi_binaries:
        v.cat = pulp.LpContinuous
    lp_solver, label = _make_solver(solver, left(SEED_TIME_SHARE))
    prob.solve(lp_solver)
    for v in semi_binaries:
        v.cat = pulp.LpInteger
    relaxed_status = _sol_status(prob)
    relaxed_obj = pulp.value(prob.objective) if relaxed_status == "optimal" else None
    prob.setObjective(objective)
    if relaxed_status != "no_solution":
        fixings = propose_fixings()
        saved = [(v, v.lowBound, v.upBound) for v, _, _ in fixings]
        for v, lo, hi in fixings:
            v.lowBound, v.upBound = lo, hi
        lp_solver, label = _make_solver(solver, left(SEED_TIME_SHARE))
        prob.solve(lp_solver)
        for v, lo, hi in saved:
            v.lowBound, v.upBound = lo, hi
        if _sol_status(prob) != "no_solution":
            seed_values = {v.name: v.varValue for v in prob.variables()}
            seed_obj = pulp.value(prob.objective)
            # A is a relaxation: its optimum bounds the full model from below. When the
            # seed is already within the gap tolerances of it, C cannot pay off.
            if relaxed_obj is not None and seed_obj - relaxed_obj <= max(MIP_ABS_GAP, MIP_REL_GAP * abs(relaxed_obj)):
                return "optimal", label

    if seed_values is not None and time_limit_s - (time.perf_counter() - t0) < MIN_STAGE_TIME_S:
        return "feasible", label  # no time left worth a full solve: keep the seed
    lp_solver, label = _make_solver(solver, left(), warm_start=seed_values is not None)
    prob.solve(lp_solver)
    status = _sol_status(prob)
    if seed_values is not None and (
        status == "no_solution" or pulp.value(prob.objective) > seed_obj + MIP_ABS_GAP
    ):  # C found nothing better (e.g. the MIP start was rejected): keep the seed
        for v in prob.variables():
            v.varValue = seed_values.get(v.name)
        status = "feasible"
    return status, label


# -------------------------------------------------------------------------- helpers


def _slot_values(values: SlotValues | None, slots: Sequence[datetime], slot_s: int) -> list[float] | None:
    """Resolve a per-slot list or a start->value step mapping onto the horizon slots."""
    if values is None:
        return None
    n = len(slots)
    if isinstance(values, Mapping):
        if not values:
            return None
        keys = sorted(values)
        vals = [float(values[k]) for k in keys]

        def value_at(moment: datetime) -> float:
            return vals[max(bisect_right(keys, moment) - 1, 0)]

        out: list[float] = []
        for start in slots:
            end = start + timedelta(seconds=slot_s)
            bounds = [start, *(k for k in keys if start < k < end), end]
            acc = sum(value_at(b0) * (b1 - b0).total_seconds() for b0, b1 in pairwise(bounds))
            out.append(acc / slot_s)
        return out
    seq = [float(v) for v in values]
    if not seq:
        return None
    return [seq[t] if t < len(seq) else seq[-1] for t in range(n)]


def _conn_key(value: tuple[str, int]) -> tuple[str, int]:
    return (value[0], value[1])  # also accepts lists from JSON


def _overlap_s(a0: datetime, a1: datetime, b0: datetime, b1: datetime) -> float:
    return max(0.0, (min(a1, b1) - max(a0, b0)).total_seconds())


@dataclass(slots=True)
class _Group:
    """Interchangeable connectors: same (pinned station or None, max power, phases)."""

    members: list[int]  # connector indices
    station_id: str | None  # set only when some demand pins this station
    max_power_w: int
    phases: int


@dataclass(slots=True)
class _Car:
    idx: int
    demand: Demand
    rank: int
    start: datetime  # presence clipped to [now, horizon end)
    end: datetime
    avail: dict[int, float]  # slot -> availability fraction
    groups: dict[int, tuple[float, float]]  # group index -> (pmin kW, pmax kW)

    @property
    def pmin_hi(self) -> float:
        return max(v[0] for v in self.groups.values())

    @property
    def pmax_hi(self) -> float:
        return max(v[1] for v in self.groups.values())


def _pair_limits_w(d: Demand, g: _Group, min_current_a: float, voltage_v: float) -> tuple[float, float]:
    """(min, max) power of car ``d`` on a connector of group ``g``, phase-aware."""
    ph = min(d.phases, g.phases)
    pmin = min_current_a * voltage_v * ph
    # each side's limit is per phase: a 1-phase car on a 3-phase 22 kW point gets a third
    pmax = min(d.max_power_w * ph / d.phases, g.max_power_w * ph / g.phases)
    return pmin, pmax


# ----------------------------------------------------------------------------- plan


Method = Literal["auto", "milp", "decomposed"]
MILP_MAX_POWER_VARIABLES = 800
"""``auto`` uses the single MILP up to this many car-slot powers (it also optimises the
connector choice and the ramp tier), the decomposed planner above it or with boards."""


def plan(request: PlanRequest, *, solver: SolverName | None = None, method: Method = "auto") -> Plan:
    """Plan ``request``: the single MILP for small sites, the decomposed planner for large ones
    or when boards limit phases (see the module docstrings); never nothing: when the solver
    finds no plan in time, least laxity first (status ``heuristic``)."""
    if method not in ("auto", "milp", "decomposed"):
        raise ValueError(f"method must be auto, milp or decomposed, not {method!r}")
    request = in_utc(request)
    if method == "auto":
        method = "decomposed" if request.boards or _power_variables(request) > MILP_MAX_POWER_VARIABLES else "milp"
    if method == "decomposed":
        from .decomposed import plan_decomposed

        return plan_decomposed(request)
    if request.boards:
        raise ValueError("the single MILP does not model boards: use method='decomposed' or 'auto'")
    result = _plan_milp(request, solver=solver)
    if result.status == "no_solution":
        from .decomposed import plan_heuristic

        return plan_heuristic(request, solver_status=result.solver_status)
    return result


def in_utc(request: PlanRequest) -> PlanRequest:
    """The request with every instant in UTC. Python subtracts and adds aware datetimes of
    one tzinfo on the wall clock: in Europe/Berlin, 30 March 2025 00:00 to 31 March 00:00 is
    "24 h" although 23 h pass. Slots are real quarter-hours, so a day at a daylight-saving
    change has 92 or 100 of them (and the plan's slot instants are UTC)."""

    def utc(value: datetime | None) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None

    demands = [
        replace(d, arrival=utc(d.arrival), departure=utc(d.departure), created_at=utc(d.created_at))
        for d in request.demands
    ]
    changes: dict[str, Any] = {"now": utc(request.now), "demands": demands}
    for name in ("prices", "green_share"):
        values = getattr(request, name)
        if isinstance(values, Mapping):
            changes[name] = {k.astimezone(UTC): v for k, v in values.items()}
    return replace(request, **changes)


def _power_variables(request: PlanRequest) -> int:
    S, now = request.slot_seconds, request.now
    horizon = now + timedelta(seconds=S * request.max_slots)
    total = 0
    for d in request.demands:
        if d.energy_wh > 0 and d.departure > now:
            span = (min(d.departure, horizon) - max(d.arrival, now)).total_seconds()
            total += max(0, math.ceil(span / S) + 1)
    return total


def _solver_report(prob: pulp.LpProblem) -> tuple[str, float | None, float | None]:
    """The solver's own status, MIP gap and dual bound (PuLP says "Optimal" at a time limit)."""
    model = getattr(prob, "solverModel", None)
    if model is None or not hasattr(model, "getModelStatus"):
        return "", None, None
    info = model.getInfo()
    gap = float(info.mip_gap) if info.mip_node_count >= 0 and math.isfinite(info.mip_gap) else None
    bound = float(info.mip_dual_bound) if gap is not None and math.isfinite(info.mip_dual_bound) else None
    return str(model.modelStatusToString(model.getModelStatus())), gap, bound


def _plan_milp(request: PlanRequest, *, solver: SolverName | None = None) -> Plan:
    """Build and solve the charging MILP for ``request`` (see module docstring)."""
    now, S = request.now, request.slot_seconds
    h = S / 3600.0
    demands = sorted(
        (d for d in request.demands if d.energy_wh > 0 and d.departure > now),
        key=lambda d: d.order_key,
    )
    if not demands:
        return Plan("empty", "none", 0, (), S, ())

    latest = max(d.departure for d in demands)
    T = min(request.max_slots, math.ceil((latest - now).total_seconds() / S))
    slots = tuple(now + timedelta(seconds=t * S) for t in range(T))
    horizon_end = now + timedelta(seconds=T * S)
    demands = [d for d in demands if d.arrival < horizon_end]  # beyond the cap: next plan

    if isinstance(request.site_limit_w, (int, float)):
        limits_w = [int(request.site_limit_w)] * T
    else:
        prof = request.site_limit_w
        limits_w = [int(prof[t]) if t < len(prof) else int(prof[-1]) for t in range(T)]

    # connector groups (symmetry removal)
    pinned = {d.station_id for d in demands if d.station_id is not None}
    by_key: dict[tuple[str | None, int, int], _Group] = {}
    for k, c in enumerate(request.connectors):
        key = (c.station_id if c.station_id in pinned else None, c.max_power_w, c.phases)
        if key not in by_key:
            by_key[key] = _Group([], key[0], c.max_power_w, c.phases)
        by_key[key].members.append(k)
    groups = list(by_key.values())
    group_of = {k: gi for gi, g in enumerate(groups) for k in g.members}

    n = len(demands)
    cars: list[_Car] = []
    for rank, d in enumerate(demands):
        start, end = max(d.arrival, now), min(d.departure, horizon_end)
        avail: dict[int, float] = {}
        if end > start:
            t0 = int((start - now).total_seconds() // S)
            t1 = min(T - 1, math.ceil((end - now).total_seconds() / S) - 1)
            for t in range(t0, t1 + 1):
                a = _overlap_s(start, end, slots[t], slots[t] + timedelta(seconds=S)) / S
                if a > _EPS_AVAIL:
                    avail[t] = min(a, 1.0)
        compat: dict[int, tuple[float, float]] = {}
        for gi, g in enumerate(groups):
            if d.station_id is not None and g.station_id != d.station_id:
                continue
            pmin_w, pmax_w = _pair_limits_w(d, g, request.min_current_a, request.voltage_v)
            if pmax_w <= 0 or pmin_w > pmax_w:
                continue
            compat[gi] = (pmin_w / 1000.0, pmax_w / 1000.0)
        cars.append(_Car(rank, d, rank, start, end, avail, compat))

    plannable = [c for c in cars if c.avail and c.groups]

    prob = pulp.LpProblem("chargeyard_plan", pulp.LpMinimize)

    def new_var(
        name: str, low: float | None = None, up: float | None = None, cat: str = pulp.LpContinuous
    ) -> pulp.LpVariable:
        if hasattr(prob, "add_variable"):  # PuLP >= 3.3; LpVariable(...) is deprecated there
            return prob.add_variable(name, low, up, cat=cat)
        return pulp.LpVariable(name, low, up, cat=cat)

    y: dict[tuple[int, int], pulp.LpVariable] = {}
    p: dict[tuple[int, int], pulp.LpVariable] = {}
    on: dict[tuple[int, int], pulp.LpVariable] = {}
    common: list[pulp.LpAffineExpression | pulp.LpVariable] = []  # tiers 1, 3, penalties
    strategy_terms: list[pulp.LpAffineExpression] = []  # tier 2
    ramp_terms: list[pulp.LpAffineExpression] = []  # tier 3

    prices = _slot_values(request.prices, slots, S)
    green = _slot_values(request.green_share, slots, S)
    if request.strategy == "economic" and prices:
        lo, hi = min(prices), max(prices)
        base = [(v - lo) / (hi - lo) if hi > lo else 0.0 for v in prices]
    elif request.strategy == "green" and green:
        base = [1.0 - min(1.0, max(0.0, v)) for v in green]
    else:
        base = [0.0] * T

    def fcfs_cost(car: _Car, t: int) -> float:
        return (1.0 - 0.5 * car.rank / n) * (t + 1) / T

    def slot_cost(car: _Car, t: int) -> float:
        if request.strategy == "fcfs":
            return fcfs_cost(car, t)
        return base[t] + W_EARLY_TIEBREAK * (t + 1) / T

    existing = request.existing_assignment or {}
    conn_index = {c.key: k for k, c in enumerate(request.connectors)}

    for car in plannable:
        i, d = car.idx, car.demand
        req_kwh = d.energy_wh / 1000.0
        for gi in car.groups:
            y[i, gi] = new_var(f"y_{i}_{gi}", cat=pulp.LpBinary)
        assigned = pulp.lpSum(y[i, gi] for gi in car.groups)
        prob += assigned <= 1, f"one_conn_{i}"
        pmin_hi, pmax_hi = car.pmin_hi, car.pmax_hi
        pmax_varies = any(v[1] < pmax_hi for v in car.groups.values())
        pmin_varies = any(v[0] < pmin_hi for v in car.groups.values())
        pmin_relief = pulp.lpSum((pmin_hi - v[0]) * y[i, gi] for gi, v in car.groups.items())
        pmax_by_group = pulp.lpSum(v[1] * y[i, gi] for gi, v in car.groups.items())

        energy_terms = []
        prev_t: int | None = None
        for t, a in sorted(car.avail.items()):
            pv = new_var(f"p_{i}_{t}", 0, pmax_hi)
            ov = new_var(f"on_{i}_{t}", cat=pulp.LpBinary)
            p[i, t], on[i, t] = pv, ov
            prob += ov <= assigned, f"on_assigned_{i}_{t}"
            prob += pv <= pmax_hi * ov, f"pmax_{i}_{t}"
            if pmax_varies:
                prob += pv <= pmax_by_group, f"pmax_group_{i}_{t}"
            if pmin_varies:
                prob += pv >= pmin_hi * ov - pmin_relief, f"pmin_{i}_{t}"
            else:
                prob += pv >= pmin_hi * ov, f"pmin_{i}_{t}"
            e_coef = h * a
            energy_terms.append(e_coef * pv)
            strategy_terms.append(slot_cost(car, t) * e_coef * pv)
            if prev_t is not None and prev_t == t - 1:
                dv = new_var(f"d_{i}_{t}", 0)
                prob += dv >= pv - p[i, prev_t], f"ramp_up_{i}_{t}"
                prob += dv >= p[i, prev_t] - pv, f"ramp_dn_{i}_{t}"
                ramp_terms.append(W_RAMP * dv)
            prev_t = t

        delivered = pulp.lpSum(energy_terms)
        # energy the car cannot take even alone on site is a constant, not a decision
        reachable = min(req_kwh, pmax_hi * h * sum(car.avail.values()))
        s = new_var(f"s_{i}", 0, reachable)
        o = new_var(f"o_{i}", 0, pmin_hi * h)
        prob += delivered + s >= reachable, f"demand_{i}"
        # delivered <= requested, and nothing without a connector. Written per group
        # (energy reachable on that group) it is also the cut that keeps the LP
        # relaxation from time-sharing a connector between overlapping cars.
        hours_present = h * sum(car.avail.values())
        prob += (
            delivered - o <= pulp.lpSum(min(req_kwh, v[1] * hours_present) * y[i, gi] for gi, v in car.groups.items()),
            f"cap_{i}",
        )
        tie = 1.0 + TIE_SPREAD * ((n - 1 - car.rank) / (n - 1) if n > 1 else 1.0)
        common.append(W_SHORTFALL * (1 + d.priority) * tie * s)
        common.append(W_OVERSHOOT * o)
        common.append(W_UNASSIGNED * (1 - assigned))
        prev = existing.get(d.reservation_id)
        prev_k = conn_index.get(_conn_key(prev)) if prev is not None else None
        if prev_k is not None and group_of[prev_k] in car.groups:
            common.append(W_STICKY * (1 - y[i, group_of[prev_k]]))

    # one car per connector at any instant: cliques of the interval graph, per group
    cliques: set[frozenset[int]] = set()
    for car in plannable:
        members = frozenset(c.idx for c in plannable if c.start <= car.start < c.end)
        cliques.add(members)
    for q_no, members in enumerate(sorted(cliques, key=sorted)):
        for gi, g in enumerate(groups):
            in_group = [y[i, gi] for i in members if (i, gi) in y]
            if len(in_group) > len(g.members):
                prob += pulp.lpSum(in_group) <= len(g.members), f"group_{gi}_clique_{q_no}"

    # site limit
    for t in range(T):
        terms = [p[c.idx, t] for c in plannable if (c.idx, t) in p]
        if terms:
            prob += pulp.lpSum(terms) <= limits_w[t] / 1000.0, f"site_{t}"

    seed_objective = pulp.lpSum(common + strategy_terms)
    objective = pulp.lpSum(common + strategy_terms + ramp_terms)

    def propose_fixings() -> list[Fixing]:
        """From the relaxed solve: keep its connector choice and switch ``on`` on where it
        already offered at least the minimum; the other ``on`` stay free (fixing the
        zeros too was measured to lose energy on tight sites)."""
        fix: list[Fixing] = []
        for car in plannable:
            i = car.idx
            picked = None
            for gi in car.groups:
                val = round(y[i, gi].varValue or 0.0)
                fix.append((y[i, gi], val, val))
                if val:
                    picked = gi
            for t in car.avail:
                pv = p[i, t].varValue or 0.0
                if picked is None:
                    fix.append((on[i, t], 0, 0))
                elif pv >= car.groups[picked][0] - 1e-6:
                    fix.append((on[i, t], 1, 1))
        return fix

    report: tuple[str, float | None, float | None] = ("", None, None)
    if not plannable:
        status, solver_label, solve_ms = "optimal", "none", 0
    else:
        t_start = time.perf_counter()
        status, solver_label = _solve(
            prob, seed_objective, objective, list(on.values()), propose_fixings, solver, request.time_limit_s
        )
        solve_ms = round((time.perf_counter() - t_start) * 1000)
        report = _solver_report(prob)

    chosen_group: dict[int, int] = {}
    power_kw: dict[int, dict[int, float]] = {}
    if status in ("optimal", "feasible"):
        for car in plannable:
            picked = [gi for gi in car.groups if (y[car.idx, gi].varValue or 0.0) > 0.5]
            if picked:
                chosen_group[car.idx] = picked[0]
                power_kw[car.idx] = {t: p[car.idx, t].varValue or 0.0 for t in car.avail}
    connector_of = _assign_connectors(request, cars, groups, chosen_group, existing, conn_index)
    charges = _extract(request, cars, slots, limits_w, chosen_group, connector_of, power_kw)
    objective = pulp.value(prob.objective) if plannable and status != "no_solution" else None
    return Plan(
        status,
        solver_label,
        solve_ms,
        slots,
        S,
        tuple(charges),
        method="milp",
        solver_status=report[0],
        gap=report[1],
        bound=report[2],
        objective=float(objective) if objective is not None else None,
        binaries=len(y) + len(on),
    )


def _assign_connectors(
    request: PlanRequest,
    cars: list[_Car],
    groups: list[_Group],
    chosen_group: dict[int, int],
    existing: Mapping[str, tuple[str, int]],
    conn_index: dict[tuple[str, int], int],
) -> dict[int, int]:
    """Turn group choices into physical connectors by greedy interval colouring.

    Cars of a group are taken by presence start; at each start the cars still present
    form a clique of at most ``len(group)`` (model constraint), so a free connector
    always exists. Preference: the car's existing connector, then one no later car of
    the group had before, then the lowest index.
    """
    out: dict[int, int] = {}
    for gi, g in enumerate(groups):
        members = sorted((c for c in cars if chosen_group.get(c.idx) == gi), key=lambda c: (c.start, c.rank))
        wanted = {
            c.idx: conn_index.get(_conn_key(existing[c.demand.reservation_id]))
            for c in members
            if c.demand.reservation_id in existing
        }
        busy_until: dict[int, datetime] = {}
        for pos, car in enumerate(members):
            free = [k for k in g.members if k not in busy_until or busy_until[k] <= car.start]
            if not free:  # cannot happen with a consistent solution; keep the car unplugged
                continue
            later_wants = {wanted.get(c.idx) for c in members[pos + 1 :]}
            own = wanted.get(car.idx)
            if own in free:
                k = own
            else:
                k = next((k for k in free if k not in later_wants), free[0])
            out[car.idx] = k
            busy_until[k] = car.end
    return out


def _extract(
    request: PlanRequest,
    cars: list[_Car],
    slots: tuple[datetime, ...],
    limits_w: list[int],
    chosen_group: dict[int, int],
    connector_of: dict[int, int],
    power_kw: dict[int, dict[int, float]],
) -> list[ChargePlan]:
    S, T = request.slot_seconds, len(slots)
    h = S / 3600.0

    power: dict[int, list[int]] = {c.idx: [0] * T for c in cars}
    pmin_w: dict[int, int] = {}
    pmax_w: dict[int, int] = {}
    target_wh: dict[int, float] = {}
    for car in cars:
        i = car.idx
        if i not in connector_of:
            continue
        lo_kw, hi_kw = car.groups[chosen_group[i]]
        pmin_w[i] = math.ceil(lo_kw * 1000 - 1e-6)
        pmax_w[i] = math.floor(hi_kw * 1000 + 1e-6)
        model_wh = 0.0
        for t, a in car.avail.items():
            v = power_kw[i][t] * 1000.0
            model_wh += max(v, 0.0) * h * a
            w = min(math.floor(v + 1e-3), pmax_w[i])
            if 0 < w < pmin_w[i]:
                w = pmin_w[i] if v >= pmin_w[i] - 1.0 else 0  # solver tolerance only
            power[i][t] = max(w, 0)
        target_wh[i] = min(float(car.demand.energy_wh), model_wh)

    # guard: rounding must never break the site limit or the minimum current
    for t in range(T):
        excess = sum(power[i][t] for i in power) - limits_w[t]
        if excess <= 0:
            continue
        order = sorted(power, key=lambda j: power[j][t] - pmin_w.get(j, 0), reverse=True)
        for i in order:
            cut = min(power[i][t] - pmin_w.get(i, 0), excess)
            if excess <= 0:
                break
            if cut > 0:
                power[i][t] -= cut
                excess -= cut
        for i in sorted(power, key=lambda j: power[j][t], reverse=True):
            if excess <= 0:
                break
            excess -= power[i][t]
            power[i][t] = 0

    # top-up: flooring to whole watts loses a few Wh; give them back where there is room
    site = [sum(power[i][t] for i in power) for t in range(T)]
    for car in cars:
        i = car.idx
        if i not in target_wh:
            continue
        deficit = target_wh[i] - sum(power[i][t] * h * a for t, a in car.avail.items())
        for t, a in sorted(car.avail.items()):
            if deficit <= 1e-6:
                break
            if power[i][t] <= 0:
                continue
            add = min(math.ceil(deficit / (h * a)), pmax_w[i] - power[i][t], limits_w[t] - site[t])
            if add > 0:
                power[i][t] += add
                site[t] += add
                deficit -= add * h * a

    out: list[ChargePlan] = []
    for car in cars:
        i, d = car.idx, car.demand
        prof = power[i]
        delivered = 0.0
        start = finish = None
        for t in sorted(car.avail):
            if prof[t] <= 0:
                continue
            eff_start = max(slots[t], car.start)
            eff_end = min(slots[t] + timedelta(seconds=S), car.end)
            e = prof[t] * h * car.avail[t]
            if start is None:
                start = eff_start
            remaining = d.energy_wh - delivered
            if e >= remaining:  # the car is full inside this slot
                finish = eff_start + timedelta(hours=max(remaining, 0.0) / prof[t])
                delivered += max(remaining, 0.0)
                break
            delivered += e
            finish = eff_end
        k = connector_of.get(i)
        conn = request.connectors[k] if k is not None else None
        out.append(
            ChargePlan(
                reservation_id=d.reservation_id,
                station_id=conn.station_id if conn else None,
                evse_id=conn.evse_id if conn else None,
                power_w=tuple(prof),
                energy_wh=min(d.energy_wh, math.floor(delivered + 1e-6)),
                requested_wh=d.energy_wh,
                planned_start=start,
                planned_finish=finish,
            )
        )
    return out
