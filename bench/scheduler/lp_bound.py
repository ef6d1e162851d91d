"""The LP bound, written apart from the planner: PuLP rows built from the raw request.

Same objective as the planner (shortfall weighted by priority and first-come tie, strategy
cost per kWh; overshoot is penalised but never pays in an LP), the connectors the plan
chose, and every limit (site per slot, each board per grid phase per slot along the board
chain), but no minimum current: its
optimum is a lower bound on any plan with these connectors, i.e. on the offline optimum.
It also evaluates a plan's objective from its published profiles, so the gap compares like
with like.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

import pulp
from chargeyard_scheduler.domain.planner import TIE_SPREAD, W_OVERSHOOT, W_SHORTFALL, Plan, PlanRequest

_LETTER = {"R": 0, "S": 1, "T": 2}


@dataclass(frozen=True)
class Bound:
    objective: float
    energy_kwh: float
    cost_eur: float
    seconds: float


def _presence(request: PlanRequest, plan: Plan) -> dict[str, dict[int, float]]:
    step = timedelta(seconds=request.slot_seconds)
    out: dict[str, dict[int, float]] = {}
    for d in request.demands:
        avail = {}
        for t, start in enumerate(plan.slots):
            lo, hi = max(d.arrival, start, request.now), min(d.departure, start + step)
            if hi > lo:
                avail[t] = (hi - lo).total_seconds() / request.slot_seconds
        out[d.reservation_id] = avail
    return out


def _slot_cost(request: PlanRequest, plan: Plan, prices: list[float], green: list[float]) -> list[float]:
    T = len(plan.slots)
    if request.strategy == "economic":
        lo, hi = min(prices[:T]), max(prices[:T])
        return [(prices[t] - lo) / (hi - lo) + 1e-3 * (t + 1) / T if hi > lo else 1e-3 * (t + 1) / T for t in range(T)]
    if request.strategy == "green":
        return [1.0 - green[t] + 1e-3 * (t + 1) / T for t in range(T)]
    raise ValueError("the bench bound covers the economic and green strategies")


def _weights(request: PlanRequest) -> dict[str, float]:
    order = sorted(
        (d for d in request.demands if d.energy_wh > 0 and d.departure > request.now), key=lambda d: d.order_key
    )
    n = len(order)
    return {
        d.reservation_id: W_SHORTFALL * (1 + d.priority) * (1.0 + TIE_SPREAD * (n - 1 - r) / max(n - 1, 1))
        for r, d in enumerate(order)
    }


def evaluate(request: PlanRequest, plan: Plan, prices: list[float], green: list[float]) -> float:
    """The issue's objective (tiers 1 and 2) of a published plan from its profiles: weighted
    shortfall plus strategy cost of the energy the cars really take (each stops when full;
    power offered beyond that is not energy and costs nothing)."""
    h = request.slot_seconds / 3600
    cost = _slot_cost(request, plan, prices, green)
    avail = _presence(request, plan)
    weight = _weights(request)
    by_id = {d.reservation_id: d for d in request.demands}
    conn_of = {(c.station_id, c.evse_id): c for c in request.connectors}
    total = 0.0
    for ch in plan.charges:
        d, a = by_id[ch.reservation_id], avail[ch.reservation_id]
        need = 0.0
        if ch.station_id is not None:
            conn = conn_of[ch.station_id, ch.evse_id]
            n = min(d.phases, conn.phases)
            pmax = min(d.max_power_w / d.phases, conn.max_power_w / conn.phases) * n / 1000
            need = min(d.energy_wh / 1000, pmax * h * sum(a.values()))
        left = need
        for t, w in enumerate(ch.power_w):
            e = min(left, w / 1000 * h * a.get(t, 0.0))
            total += cost[t] * e
            left -= e
        # profiles are whole watts rounded down: up to 1 W per slot charged is rounding, not shortfall
        rounding = sum(1 for w in ch.power_w if w > 0) * h / 1000
        total += weight[d.reservation_id] * max(0.0, left - rounding)
    return total


def lp_bound(request: PlanRequest, plan: Plan, prices: list[float], green: list[float]) -> Bound:
    t0 = time.perf_counter()
    h = request.slot_seconds / 3600
    T = len(plan.slots)
    cost = _slot_cost(request, plan, prices, green)
    avail = _presence(request, plan)
    weight = _weights(request)
    by_id = {d.reservation_id: d for d in request.demands}
    conn_of = {(c.station_id, c.evse_id): c for c in request.connectors}
    parent = {b.board_id: b.parent_id for b in request.boards}
    limit_a = {b.board_id: b.max_current_a for b in request.boards}
    site = request.site_limit_w
    prob = pulp.LpProblem("bound", pulp.LpMinimize)
    site_terms: dict[int, list] = defaultdict(list)
    board_terms: dict[tuple[str, int, int], list] = defaultdict(list)
    objective = []
    energy = []
    priced = []
    for ch in plan.charges:
        if ch.station_id is None:
            continue
        d, a = by_id[ch.reservation_id], avail[ch.reservation_id]
        conn = conn_of[ch.station_id, ch.evse_id]
        n = min(d.phases, conn.phases)
        pmax = min(d.max_power_w / d.phases, conn.max_power_w / conn.phases) * n / 1000
        phases = (0, 1, 2) if n == 3 else (_LETTER[conn.phase_rotation[0]],)
        chain = []
        b = conn.board_id
        while b is not None:
            chain.append(b)
            b = parent[b]
        e_terms = []
        for t, frac in a.items():
            if t >= T:
                continue
            p = pulp.LpVariable(f"p_{ch.reservation_id}_{t}", 0, pmax)
            e_terms.append(h * frac * p)
            objective.append(cost[t] * h * frac * p)
            priced.append(prices[t] * h * frac * p)
            site_terms[t].append(p)
            for b in chain:
                for f in phases:
                    board_terms[b, f, t].append(1000 / (request.voltage_v * n) * p)
        need = min(d.energy_wh / 1000, pmax * h * sum(a.values()))
        s = pulp.LpVariable(f"s_{ch.reservation_id}", 0)
        o = pulp.LpVariable(f"o_{ch.reservation_id}", 0)
        prob += pulp.lpSum(e_terms) + s - o == need
        objective += [weight[d.reservation_id] * s, W_OVERSHOOT * o]
        energy.append(pulp.lpSum(e_terms))
    for t, terms in site_terms.items():
        lim = site if isinstance(site, int | float) else site[min(t, len(site) - 1)]
        prob += pulp.lpSum(terms) <= lim / 1000
    for (b, _, _), terms in board_terms.items():
        prob += pulp.lpSum(terms) <= limit_a[b]
    prob += pulp.lpSum(objective)
    prob.solve(pulp.HiGHS(msg=False, threads=1))
    if prob.sol_status != pulp.LpSolutionOptimal:
        return Bound(math.nan, math.nan, math.nan, time.perf_counter() - t0)
    return Bound(
        pulp.value(prob.objective),
        sum(pulp.value(e) for e in energy),
        sum(pulp.value(c) or 0.0 for c in priced),
        time.perf_counter() - t0,
    )
