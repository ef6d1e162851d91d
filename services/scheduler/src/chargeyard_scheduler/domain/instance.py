"""The planning instance shared by the decomposed planner and the heuristics.

:func:`build_instance` turns a :class:`PlanRequest` into plain arrays: the horizon, the cars
that can be planned with their connector (assigned here, before any optimisation), their
presence per slot and power window, and the rows every slot's powers must respect (site
limit in kW, board-phase limits in A). Both the LP of :mod:`.decomposed` and the greedy
plans of :mod:`.heuristics` read the same rows, so they cannot disagree about a limit.

Connector assignment (one car per connector at any instant) is interval colouring:
cars by priority class (highest first), then by arrival; each takes a free compatible
connector - its previous one if free, else the most powerful, else the one on the least
loaded board phase (single-phase cars are spread over L1/L2/L3 by the connectors' phase
rotation). Within one priority class this is the greedy colouring of an interval graph,
which fits every car whenever the connectors of a type are at least the most cars present
at once; a car that finds no free connector stays unassigned (the waiting list).
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, insort
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .planner import Connector, Demand, PlanRequest, _board_chains, _slot_values

__all__ = ["Car", "Instance", "build_instance"]

_LETTER_PHASE = {"R": 0, "S": 1, "T": 2}


@dataclass(slots=True)
class Car:
    demand: Demand
    rank: int
    """First-come rank (arrival, created_at, reservation_id)."""
    start: datetime
    end: datetime
    slots: list[int] = field(default_factory=list)
    avail: list[float] = field(default_factory=list)
    """Fraction of each slot in ``slots`` the car is present."""
    connector: int | None = None
    pmin_kw: float = 0.0
    pmax_kw: float = 0.0
    phase_amps_per_kw: float = 0.0
    """Current per phase in A for 1 kW."""
    phases: tuple[int, ...] = ()
    """Grid phases (0..2) the car loads."""
    boards: tuple[int, ...] = ()
    """Indices of the boards feeding the connector, innermost first."""
    need_kwh: float = 0.0
    """What the car can take at most alone: min(request, pmax x presence)."""


@dataclass(slots=True)
class Instance:
    request: PlanRequest
    slots: tuple[datetime, ...]
    h: float
    """Slot length in hours."""
    limits_kw: list[float]
    board_ids: list[str]
    board_limits_a: list[float]
    cars: list[Car]
    """Every demand in the horizon, planned or not (``connector is None``)."""
    cost: list[list[float]]
    """Strategy cost per kWh for each car (aligned with ``cars``) and each of its slots."""
    prices: list[float] | None
    green: list[float] | None

    @property
    def planned(self) -> list[Car]:
        return [c for c in self.cars if c.connector is not None and c.slots and c.need_kwh > 0]


def _pair(d: Demand, c: Connector, min_a: float, volt: float) -> tuple[float, float, int]:
    n = min(d.phases, c.phases)
    pmin = min_a * volt * n
    pmax = min(d.max_power_w / d.phases, c.max_power_w / c.phases) * n
    return pmin, pmax, n


def _fits(busy: list[tuple[datetime, datetime]], start: datetime, end: datetime) -> bool:
    pos = bisect_left(busy, (start, start))
    if pos > 0 and busy[pos - 1][1] > start:
        return False
    return not (pos < len(busy) and busy[pos][0] < end)


def build_instance(request: PlanRequest) -> Instance | None:
    """``None`` when nothing is left to plan (no demand in the future with energy)."""
    now, S = request.now, request.slot_seconds
    h = S / 3600.0
    demands = sorted((d for d in request.demands if d.energy_wh > 0 and d.departure > now), key=lambda d: d.order_key)
    if not demands:
        return None
    latest = max(d.departure for d in demands)
    T = min(request.max_slots, math.ceil((latest - now).total_seconds() / S))
    step = timedelta(seconds=S)
    slots = tuple(now + t * step for t in range(T))
    horizon_end = now + T * step
    demands = [d for d in demands if d.arrival < horizon_end]
    if isinstance(request.site_limit_w, int | float):
        limits = [request.site_limit_w / 1000.0] * T
    else:
        prof = request.site_limit_w
        limits = [prof[min(t, len(prof) - 1)] / 1000.0 for t in range(T)]

    board_ids = [b.board_id for b in request.boards]
    board_index = {b: k for k, b in enumerate(board_ids)}
    chains = {b: tuple(board_index[x] for x in chain) for b, chain in _board_chains(request.boards).items()}

    cars: list[Car] = []
    for rank, d in enumerate(demands):
        start, end = max(d.arrival, now), min(d.departure, horizon_end)
        car = Car(d, rank, start, end)
        s0, s1 = (start - now).total_seconds(), (end - now).total_seconds()
        t0 = int(s0 // S)
        t1 = min(T - 1, math.ceil(s1 / S) - 1)
        for t in range(t0, t1 + 1):
            a = (min(s1, (t + 1) * S) - max(s0, t * S)) / S
            if a > 1e-9:
                car.slots.append(t)
                car.avail.append(min(a, 1.0))
        cars.append(car)

    _assign(request, cars, chains)

    for car in cars:
        if car.connector is None:
            continue
        conn = request.connectors[car.connector]
        pmin, pmax, n = _pair(car.demand, conn, request.min_current_a, request.voltage_v)
        car.pmin_kw, car.pmax_kw = pmin / 1000.0, pmax / 1000.0
        car.phase_amps_per_kw = 1000.0 / (request.voltage_v * n)
        car.phases = (0, 1, 2) if n == 3 else (_LETTER_PHASE[conn.phase_rotation[0]],)
        car.boards = chains.get(conn.board_id, ()) if conn.board_id is not None else ()
        car.need_kwh = min(car.demand.energy_wh / 1000.0, car.pmax_kw * h * sum(car.avail))

    prices = _slot_values(request.prices, slots, S)
    green = _slot_values(request.green_share, slots, S)
    n = len(cars)
    if request.strategy == "economic" and prices:
        lo, hi = min(prices), max(prices)
        base = [(v - lo) / (hi - lo) if hi > lo else 0.0 for v in prices]
    elif request.strategy == "green" and green:
        base = [1.0 - min(1.0, max(0.0, v)) for v in green]
    else:
        base = [0.0] * T
    cost: list[list[float]] = []
    for car in cars:
        if request.strategy == "fcfs" or base == [0.0] * T:
            w = 1.0 - 0.5 * car.rank / max(n, 1)
            cost.append([w * (t + 1) / T for t in car.slots])
        else:
            cost.append([base[t] + 1e-3 * (t + 1) / T for t in car.slots])
    return Instance(
        request, slots, h, limits, board_ids, [b.max_current_a for b in request.boards], cars, cost, prices, green
    )


def _assign(request: PlanRequest, cars: list[Car], chains: Mapping[str, tuple[int, ...]]) -> None:
    conns = request.connectors
    pinned = {c.demand.station_id for c in cars if c.demand.station_id is not None}
    groups: dict[tuple[str | None, int, int, str | None, str], list[int]] = defaultdict(list)
    for k, c in enumerate(conns):
        key = (
            c.station_id if c.station_id in pinned else None,
            c.max_power_w,
            c.phases,
            c.board_id,
            c.phase_rotation[0],
        )
        groups[key].append(k)
    group_list = list(groups.items())
    conn_index = {c.key: k for k, c in enumerate(conns)}
    existing = request.existing_assignment or {}
    busy: list[list[tuple[datetime, datetime]]] = [[] for _ in conns]
    # connectors of a group ordered by when they become free (valid within one priority class)
    free_at: dict[int, list[tuple[datetime, int]]] = {}
    phase_load: dict[tuple[str | None, int], float] = defaultdict(float)
    minimum = datetime.min.replace(tzinfo=request.now.tzinfo)
    compatible: dict[tuple[str | None, int, int], list[tuple[int, float, tuple[int, ...], str | None]]] = {}

    by_class: dict[int, list[Car]] = defaultdict(list)
    for car in cars:
        if car.slots:
            by_class[car.demand.priority].append(car)
    for prio in sorted(by_class, reverse=True):
        # Lazy heaps per group: (free since, connector); an entry is stale when the
        # connector got a newer stay in this class. Stays of higher classes are checked
        # against ``busy`` (they may lie after the current car's arrival).
        current: dict[int, datetime] = {}
        for gi, (_, members) in enumerate(group_list):
            free_at[gi] = [(minimum, k) for k in members]
            current.update((k, minimum) for k in members)
            heapq.heapify(free_at[gi])
        for car in sorted(by_class[prio], key=lambda c: (c.start, c.rank)):
            d = car.demand
            prev = existing.get(d.reservation_id)
            prev_k = conn_index.get((prev[0], prev[1])) if prev is not None else None
            options = compatible.get((d.station_id, d.max_power_w, d.phases))
            if options is None:
                options = compatible[d.station_id, d.max_power_w, d.phases] = _options(request, group_list, d)
            best: tuple[tuple[float, ...], int, int] | None = None
            if prev_k is not None and _fits(busy[prev_k], car.start, car.end):
                best = next(((0.0,), gi, prev_k) for gi, *_ in options if prev_k in group_list[gi][1])
            else:
                # most powerful first, then the least loaded board phase; the first with room wins
                ranked = sorted(options, key=lambda o: (-o[1], max(phase_load[o[3], f] for f in o[2])))
                for gi, *_ in ranked:
                    k = _peek_free(free_at[gi], current, busy, car.start, car.end)
                    if k is not None:
                        best = ((1.0,), gi, k)
                        break
            if best is None:
                continue
            _, gi, k = best
            insort(busy[k], (car.start, car.end))
            current[k] = car.end
            heapq.heappush(free_at[gi], (car.end, k))
            car.connector = k
            key = group_list[gi][0]
            n = min(d.phases, conns[k].phases)
            hours = (car.end - car.start).total_seconds() / 3600.0
            for ph in (0, 1, 2) if n == 3 else (_LETTER_PHASE[key[4]],):
                phase_load[key[3], ph] += hours * d.max_power_w / n


def _options(
    request: PlanRequest, group_list: list[tuple[tuple[str | None, int, int, str | None, str], list[int]]], d: Demand
) -> list[tuple[int, float, tuple[int, ...], str | None]]:
    """(group, pmax W, grid phases loaded, board) for every group the car can charge on."""
    out = []
    for gi, (key, members) in enumerate(group_list):
        if d.station_id is not None and key[0] != d.station_id:
            continue
        pmin, pmax, n = _pair(d, request.connectors[members[0]], request.min_current_a, request.voltage_v)
        if pmax <= 0 or pmin > pmax:
            continue
        out.append((gi, pmax, (0, 1, 2) if n == 3 else (_LETTER_PHASE[key[4]],), key[3]))
    return out


def _peek_free(
    heap: list[tuple[datetime, int]],
    current: dict[int, datetime],
    busy: list[list[tuple[datetime, datetime]]],
    start: datetime,
    end: datetime,
) -> int | None:
    """A connector of the heap free for ``[start, end)``, left in the heap (stale entries dropped)."""
    popped: list[tuple[datetime, int]] = []
    found = None
    while heap and heap[0][0] <= start and len(popped) < 64:
        entry = heapq.heappop(heap)
        if current[entry[1]] != entry[0]:
            continue
        popped.append(entry)
        if _fits(busy[entry[1]], start, end):
            found = entry[1]
            break
    for entry in popped:
        heapq.heappush(heap, entry)
    return found
