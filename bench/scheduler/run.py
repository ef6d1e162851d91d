"""Scheduler benchmark: the planner against uncontrolled, equal share, EDF, LLF and the LP bound.

For 50, 200, 1,000 and 5,000 cars over 96 quarter-hours (BENCH_QUICK=1: 40 and 120, one
run each) on the workload of ``workload.py`` (economic strategy, perfect forecasts):

* planner: build and solve time separately (median of the repeats), integer decisions in
  the minimum-current repair, the gap to the LP bound of ``lp_bound.py`` (separate code),
  energy delivered, cars short at departure, peak against the limit, cost, green share;
* baselines on the same connectors: uncontrolled (full power from arrival, limits ignored),
  equal share, earliest deadline first, least laxity first;
* the offline optimum, bracketed: the LP bound is below it, the planner's plan above it;
* the independent checker on every plan: violations per plan (uncontrolled breaks limits
  on purpose; every other row must show 0).

Prints the machine, one table per size and, last, one JSON line with every number.
Exit status 1 if the planner or a limit-respecting baseline has a violation.

``--sizes 1000 --repeats 5`` runs only the sizes given (the target alone takes about two
minutes, most of it the PuLP bound and the baselines).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import highspy
from chargeyard_scheduler.domain.checker import check_plan
from chargeyard_scheduler.domain.decomposed import extract, plan_decomposed
from chargeyard_scheduler.domain.heuristics import greedy
from chargeyard_scheduler.domain.instance import build_instance
from chargeyard_scheduler.domain.planner import Plan, PlanRequest
from lp_bound import evaluate, lp_bound
from workload import generate

TARGET_SIZE, TARGET_S, TARGET_GAP = 1000, 2.0, 0.01


def quick() -> bool:
    return os.environ.get("BENCH_QUICK", "") not in ("", "0")


@dataclass
class Row:
    name: str
    energy_kwh: float
    short: int
    peak_kw: float
    cost_eur: float
    green: float
    violations: int
    objective: float | None = None


def metrics(name: str, request: PlanRequest, plan: Plan, prices: list[float], green: list[float]) -> Row:
    """What the cars really get: each stops when full (energy capped at its request)."""
    h = request.slot_seconds / 3600
    step = timedelta(seconds=request.slot_seconds)
    by_id = {d.reservation_id: d for d in request.demands}
    per_slot = [0.0] * len(plan.slots)
    short = 0
    for ch in plan.charges:
        d = by_id[ch.reservation_id]
        left = d.energy_wh / 1000
        for t, w in enumerate(ch.power_w):
            if w <= 0 or left <= 0:
                continue
            lo, hi = max(d.arrival, plan.slots[t]), min(d.departure, plan.slots[t] + step)
            frac = max((hi - lo).total_seconds(), 0.0) / request.slot_seconds
            e = min(left, w / 1000 * h * frac)
            per_slot[t] += e
            left -= e
        short += left > 0.01
    energy = sum(per_slot)
    return Row(
        name,
        energy,
        short,
        max(plan.site_power_w(), default=0) / 1000,
        sum(p * e for p, e in zip(prices, per_slot, strict=False)),
        sum(g * e for g, e in zip(green, per_slot, strict=False)) / energy if energy else 0.0,
        len(check_plan(request, plan)),
    )


def baseline(request: PlanRequest, rule: str) -> Plan:
    inst = build_instance(request)
    assert inst is not None
    charges = extract(inst, greedy(inst, rule), guard=rule != "uncontrolled")  # type: ignore[arg-type]
    return Plan("heuristic", rule, 0, inst.slots, request.slot_seconds, tuple(charges), method="heuristic")


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0, 0, 0)
    return (
        f"{platform.node()} | {cpu} | {os.cpu_count()} cores | load {load[0]:.1f} {load[1]:.1f} | "
        f"Python {platform.python_version()} | HiGHS {highspy.Highs().version()} | {platform.platform()}"
    )


def run_size(n: int, repeats: int) -> dict[str, object]:
    w = generate(n)
    request = w.request
    runs = []
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    for _ in range(repeats):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        p = plan_decomposed(request, time_limit_s=120.0)
        runs.append((p, time.perf_counter() - wall0, time.process_time() - cpu0))
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    p = runs[-1][0]
    build = statistics.median(r[0].build_ms for r in runs) / 1000
    solve = statistics.median(r[0].solve_ms for r in runs) / 1000
    wall = statistics.median(r[1] for r in runs)
    cpu = statistics.median(r[2] for r in runs)
    bound = lp_bound(request, p, w.prices, w.green)
    rows = [metrics("planner", request, p, w.prices, w.green)]
    rows[0].objective = evaluate(request, p, w.prices, w.green)
    for rule in ("uncontrolled", "equal", "edf", "llf"):
        b = baseline(request, rule)
        row = metrics(rule, request, b, w.prices, w.green)
        row.objective = evaluate(request, b, w.prices, w.green)
        rows.append(row)
    gap = (rows[0].objective - bound.objective) / rows[0].objective if rows[0].objective else 0.0
    cars_present = sum(1 for d in request.demands)
    return {
        "cars": n,
        "connectors": len(request.connectors),
        "boards": len(request.boards),
        "limit_kw": request.site_limit_w / 1000,  # type: ignore[operator]
        "requested_kwh": sum(d.energy_wh for d in request.demands) / 1000,
        "build_s": build,
        "solve_s": solve,
        "wall_s": wall,
        "cpu_s": cpu,
        "repeats": repeats,
        "load_1min": [load_before, load_after],
        "status": p.status,
        "solver_status": p.solver_status,
        "int_decisions": p.binaries,
        # on/off per car and present slot plus one connector choice per car and connector type
        "plain_milp_binaries": sum(1 for c in build_instance(request).cars for _ in c.slots) + cars_present,
        "gap_to_lp_bound": gap,
        "planner_gap_reported": p.bound_gap,
        "lp_bound": {"objective": bound.objective, "energy_kwh": bound.energy_kwh, "cost_eur": bound.cost_eur},
        "lp_seconds": bound.seconds,
        "rows": [r.__dict__ for r in rows],
    }


def print_size(res: dict) -> None:  # type: ignore[type-arg]
    lb = res["lp_bound"]
    print(
        f"\n{res['cars']} cars x 96 slots | {res['connectors']} connectors on {res['boards']} boards | "
        f"limit {res['limit_kw']:.0f} kW | requested {res['requested_kwh']:.0f} kWh"
    )
    print(
        f"planner: build {res['build_s']:.2f} s + solve {res['solve_s']:.2f} s (median of {res['repeats']}; "
        f"wall {res['wall_s']:.2f} s, cpu {res['cpu_s']:.2f} s; "
        f"load {res['load_1min'][0]:.1f}->{res['load_1min'][1]:.1f}) | {res['status']} ({res['solver_status']}) | "
        f"min-current decisions {res['int_decisions']} (a plain MILP: {res['plain_milp_binaries']} binaries) | "
        f"gap to LP bound {100 * res['gap_to_lp_bound']:.3f} % (LP {res['lp_seconds']:.1f} s)"
    )
    print(
        f"{'plan':<13}{'energy kWh':>12}{'% of LP':>9}{'short':>7}{'peak kW':>10}{'cost EUR':>10}"
        f"{'cost/LP':>9}{'green':>7}{'violations':>12}"
    )
    for r in res["rows"]:
        print(
            f"{r['name']:<13}{r['energy_kwh']:>12.1f}{100 * r['energy_kwh'] / lb['energy_kwh']:>8.2f}%{r['short']:>7}"
            f"{r['peak_kw']:>10.1f}{r['cost_eur']:>10.2f}{r['cost_eur'] / lb['cost_eur']:>9.3f}"
            f"{100 * r['green']:>6.1f}%{r['violations']:>12}"
        )
    print(f"{'LP bound':<13}{lb['energy_kwh']:>12.1f}{100.0:>8.2f}%{'':>7}{'':>10}{lb['cost_eur']:>10.2f}{1.0:>9.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", help="cars per run (default 50 200 1000 5000)")
    parser.add_argument("--repeats", type=int, help="planner runs per size (default 3, 1 at 5,000)")
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    if args.sizes and min(args.sizes) < 1:
        parser.error(f"--sizes must be positive, got {args.sizes}")
    sizes = args.sizes or ([40, 120] if quick() else [50, 200, 1000, 5000])
    print("chargeyard scheduler bench |", machine())
    results = []
    for n in sizes:
        repeats = args.repeats or (1 if quick() or n >= 5000 else 3)
        res = run_size(n, repeats)
        print_size(res)
        results.append(res)
        sys.stdout.flush()
    bad = [
        (res["cars"], r["name"])
        for res in results
        for r in res["rows"]
        if r["name"] != "uncontrolled" and r["violations"]
    ]
    target = next((r for r in results if r["cars"] == TARGET_SIZE), None)
    if target is not None:
        took = target["build_s"] + target["solve_s"]
        met = took <= TARGET_S and target["gap_to_lp_bound"] <= TARGET_GAP
        print(
            f"\ntarget {TARGET_SIZE} cars: build+solve {took:.2f} s (<= {TARGET_S} s), "
            f"gap {100 * target['gap_to_lp_bound']:.3f} % (<= {100 * TARGET_GAP:.0f} %): {'met' if met else 'NOT met'}"
        )
    print("violations in limit-respecting plans:", bad or "none")
    print(json.dumps({"machine": machine(), "results": results}))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
