"""Greedy plans slot by slot: the fallback when the solver runs out of time, and the baselines.

Each slot, the cars present (with their connector from :func:`.instance.build_instance`) are
served in the order of a rule, each with as much as it still needs up to its maximum, but
only what fits under every row (site kW limit, every board phase's current) and never
between 0 and the minimum current: a car that cannot get its minimum waits.

Rules: ``llf`` least laxity first (laxity = time left - time needed at full power; Dertouzos
& Mok 1989, the classic for deadline scheduling with preemption), ``edf`` earliest deadline
first, ``fcfs`` earliest arrival, ``equal`` the limit shared equally (water-filling) among
the cars present, ``uncontrolled`` everybody at full power from arrival, limits ignored (the
"dumb charging" reference; its plans break limits on purpose).
Higher priority goes first under every rule but ``equal`` and ``uncontrolled``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Literal

from .instance import Car, Instance

__all__ = ["RULES", "Rule", "greedy"]

Rule = Literal["llf", "edf", "fcfs", "equal", "uncontrolled"]
RULES: tuple[str, ...] = ("llf", "edf", "fcfs", "equal", "uncontrolled")


def greedy(inst: Instance, rule: Rule) -> dict[int, list[float]]:
    """kW per car (``id(car)``) and per entry of ``car.slots``."""
    h = inst.h
    planned = inst.planned
    remaining = {id(c): c.demand.energy_wh / 1000.0 for c in planned}
    out = {id(c): [0.0] * len(c.slots) for c in planned}
    by_slot: dict[int, list[tuple[Car, int]]] = defaultdict(list)
    for car in planned:
        for j, t in enumerate(car.slots):
            by_slot[t].append((car, j))

    for t in sorted(by_slot):
        present = [(c, j) for c, j in by_slot[t] if remaining[id(c)] > 1e-9]
        if not present:
            continue
        slot_start = inst.slots[t]
        if rule == "llf":

            def key(cj: tuple[Car, int], slot_start: datetime = slot_start) -> tuple[float, ...]:
                c = cj[0]
                left_h = (c.end - slot_start).total_seconds() / 3600.0
                return (-c.demand.priority, left_h - remaining[id(c)] / c.pmax_kw, c.rank)

            present.sort(key=key)
        elif rule == "edf":
            present.sort(key=lambda cj: (-cj[0].demand.priority, cj[0].end, cj[0].rank))
        else:
            present.sort(key=lambda cj: (-cj[0].demand.priority if rule == "fcfs" else 0, cj[0].rank))

        def want(c: Car, j: int) -> float:
            return min(c.pmax_kw, remaining[id(c)] / (h * c.avail[j]))

        target = {id(c): want(c, j) for c, j in present}
        if rule == "equal":
            target = _water_fill(present, target, inst.limits_kw[t])
        site_left = inst.limits_kw[t]
        board_left: dict[tuple[int, int], float] = {}
        for c, j in present:
            if target[id(c)] <= 0:
                continue
            p = max(target[id(c)], c.pmin_kw)  # below the minimum: offer it, the car stops when full
            if rule != "uncontrolled":
                p = min(p, site_left)
                for b in c.boards:
                    for ph in c.phases:
                        left = board_left.setdefault((b, ph), inst.board_limits_a[b])
                        p = min(p, left / c.phase_amps_per_kw)
                if p < c.pmin_kw - 1e-9:
                    continue
            site_left -= p
            for b in c.boards:
                for ph in c.phases:
                    board_left[b, ph] = board_left.get((b, ph), inst.board_limits_a[b]) - p * c.phase_amps_per_kw
            out[id(c)][j] = p
            remaining[id(c)] -= min(remaining[id(c)], p * h * c.avail[j])
    return out


def _water_fill(present: list[tuple[Car, int]], want: dict[int, float], limit_kw: float) -> dict[int, float]:
    """Equal shares of ``limit_kw``; a car that wants less leaves the rest to the others. When
    the share falls below the minimum current, the first cars (by arrival) get the minimum."""
    cars = sorted(present, key=lambda cj: want[id(cj[0])])
    out: dict[int, float] = {}
    left, n = limit_kw, len(cars)
    for pos, (c, _) in enumerate(cars):
        share = left / (n - pos)
        out[id(c)] = min(want[id(c)], share)
        left -= out[id(c)]
    if any(out[id(c)] < c.pmin_kw for c, _ in present):
        left = limit_kw
        for c, _ in sorted(present, key=lambda cj: cj[0].rank):
            p = min(max(out[id(c)], c.pmin_kw), left)
            out[id(c)] = p if p >= c.pmin_kw else 0.0
            left -= out[id(c)]
    return out
