"""Seeded workloads for the scheduler benchmark: a site with workplace and overnight-garage cars.

One day of 96 quarter-hours from 06:00 Europe/Berlin. Workplace cars arrive around 08:30
and stay about 8.5 h; garage cars arrive around 18:30 and leave before 06:00. Vehicles:
60 % 11 kW three-phase, 20 % 22 kW three-phase, 20 % 7.4 kW single-phase (the phase
rotation of the connectors decides which grid phase they load). Energy from the daily
distance (log-normal around 40 km at 0.18 kWh/km).

Connectors: 22 kW three-phase points, rotations rolled RST, STR, TRS (the usual wiring to
balance single-phase loads), exactly as many as the most cars present at once, so every car
fits but connectors are reused (a workplace car's point takes a garage car in the evening).
Boards of 40 points each, fed by a "grid" board; limits are set so that the site limit,
the board phases and the grid phases all bind at times and some cars cannot be served in full.

Prices follow a day-ahead shape (night low, solar dip at noon, evening peak); green share a
solar bell plus wind noise.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from chargeyard_scheduler.domain.planner import Board, Connector, Demand, PlanRequest, Strategy

BERLIN = ZoneInfo("Europe/Berlin")
VOLTAGE = 230.0
POINTS_PER_BOARD = 40


@dataclass(frozen=True)
class Workload:
    request: PlanRequest
    prices: list[float]
    green: list[float]


def _clip(v: float, lo: float, hi: float) -> float:
    return min(max(v, lo), hi)


def _max_overlap(intervals: list[tuple[datetime, datetime]]) -> int:
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    cur = best = 0
    for _, delta in events:  # departures sort before arrivals at the same instant
        cur += delta
        best = max(best, cur)
    return best


def generate(
    cars: int, *, seed: int = 1, strategy: Strategy = "economic", day: tuple[int, int, int] = (2025, 6, 3)
) -> Workload:
    rng = random.Random(seed * 1_000_003 + cars)
    start = datetime(*day, 6, 0, tzinfo=BERLIN)
    slots = 96
    end = start + timedelta(minutes=15 * slots)
    demands: list[Demand] = []
    for i in range(cars):
        workplace = rng.random() < 0.6
        if workplace:
            arrival = start + timedelta(hours=_clip(rng.gauss(2.5, 0.75), 0.5, 5.0))
            stay = _clip(rng.gauss(8.5, 1.0), 4.0, 11.0)
        else:
            arrival = start + timedelta(hours=_clip(rng.gauss(12.5, 1.5), 10.0, 17.0))
            stay = _clip(rng.gauss(10.5, 1.0), 5.0, 23.5 - (arrival - start).total_seconds() / 3600)
        arrival = arrival.replace(second=0, microsecond=0)
        departure = min(arrival + timedelta(hours=stay), end).replace(second=0, microsecond=0)
        kind = rng.random()
        max_power_w, phases = (11_000, 3) if kind < 0.6 else (22_000, 3) if kind < 0.8 else (7_400, 1)
        km = math.exp(rng.gauss(math.log(40), 0.6))
        energy_wh = int(_clip(km * 0.18, 2.0, 70.0) * 1000)
        demands.append(
            Demand(
                reservation_id=f"car{i:05d}",
                arrival=arrival,
                departure=departure,
                energy_wh=energy_wh,
                max_power_w=max_power_w,
                phases=phases,
                priority=1 if rng.random() < 0.05 else 0,
                created_at=arrival - timedelta(hours=12),
            )
        )
    n_points = _max_overlap([(d.arrival, d.departure) for d in demands])
    n_boards = max(1, math.ceil(n_points / POINTS_PER_BOARD))
    rotations = ("RST", "STR", "TRS")
    connectors = [
        Connector(
            f"cp{k:05d}", 1, 22_000, 3, board_id=f"board{k // POINTS_PER_BOARD:03d}", phase_rotation=rotations[k % 3]
        )
        for k in range(n_points)
    ]
    # The site limit: 85 % of the mean power the workplace cars need over their stays, so the
    # morning peak is short of power; boards get 1.6 x their share, the grid phases 36 % of the limit.
    work_need_kw = sum(d.energy_wh for d in demands if d.arrival < start + timedelta(hours=6)) / 1000 / 8.0
    site_limit_w = int(max(0.85 * work_need_kw, 22.0) * 1000)
    phase_amps = site_limit_w / VOLTAGE / 3
    boards = [Board("grid", round(phase_amps * 1.08, 1))] + [
        Board(f"board{b:03d}", round(max(1.6 * phase_amps / n_boards, 32.0), 1), "grid") for b in range(n_boards)
    ]
    prices, green = [], []
    for t in range(slots):
        hour = (6 + t / 4) % 24
        solar = max(0.0, math.sin(math.pi * (hour - 6) / 14)) if 6 <= hour <= 20 else 0.0
        evening = math.exp(-(((hour - 19) / 2.0) ** 2))
        prices.append(round(0.22 + 0.10 * evening - 0.09 * solar + 0.01 * rng.random(), 4))
        green.append(round(_clip(0.25 + 0.55 * solar + 0.15 * (rng.random() - 0.5), 0.0, 1.0), 3))
    request = PlanRequest(
        now=start,
        site_limit_w=site_limit_w,
        demands=demands,
        connectors=connectors,
        boards=boards,
        strategy=strategy,
        slot_seconds=900,
        prices=prices,
        green_share=green,
        time_limit_s=30.0,
        max_slots=slots,
    )
    return Workload(request, prices, green)
