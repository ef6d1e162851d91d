"""The replay: sessions become known at their arrival, the planner re-plans at every arrival and
every slot boundary (model predictive control, as the live loop does), and the first part of each
plan is applied until the next event. Metrics are measured on what was applied, not on what was
planned, and limits are checked on it independently of the model."""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ..domain.planner import Board, Connector, Demand, PlanRequest, Strategy, plan
from .inputs import Session, Site

PHASE_OF_L1 = {"RST": 0, "RTS": 0, "SRT": 1, "STR": 1, "TRS": 2, "TSR": 2}
"""Grid phase a single-phase car on a station's L1 loads, by the station's phase rotation (OCPP 2.0.1)."""
MET_TOLERANCE_WH = 100
"""A session counts as fully met within 100 Wh or 1 % of its request (meter rounding)."""


@dataclass
class Interval:
    start: datetime
    end: datetime
    power_w: dict[str, int]
    """Power each session drew (the offer, or less once the car is full)."""
    offered_w: dict[str, int]
    """Power the plan offered each session (the charging limit sent to the station)."""
    limit_w: int
    price: float | None
    green: float | None


@dataclass
class Replay:
    intervals: list[Interval] = field(default_factory=list)
    delivered_wh: dict[str, float] = field(default_factory=dict)
    solve_ms: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)


def _step(series: Mapping[datetime, float] | None, at: datetime) -> float | None:
    if not series:
        return None
    value = None
    for start, v in series.items():
        if start <= at:
            value = v
        else:
            break
    return value if value is not None else next(iter(series.values()))


def connectors_of(site: Site) -> list[Connector]:
    return [
        Connector(
            s.station_id,
            evse,
            s.max_power_w // s.evses,
            s.phases,
            board_id=s.board_id,
            phase_rotation=s.phase_rotation if s.phase_rotation in PHASE_OF_L1 else "RST",
        )
        for s in site.stations
        for evse in range(1, s.evses + 1)
    ]


def replay(
    sessions: list[Session],
    site: Site,
    strategy: Strategy,
    *,
    slot_seconds: int = 900,
    prices: Mapping[datetime, float] | None = None,
    green: Mapping[datetime, float] | None = None,
    time_limit_s: float = 5.0,
) -> Replay:
    slot = timedelta(seconds=slot_seconds)
    start = min(s.arrival for s in sessions)
    end = max(s.departure for s in sessions)
    events = {start + k * slot for k in range(int((end - start) / slot) + 1)}
    events |= {s.arrival for s in sessions} | {s.departure for s in sessions}
    times = sorted(t for t in events if start <= t <= end)
    connectors = connectors_of(site)
    boards = [Board(b.board_id, b.limit_a, b.parent_id) for b in site.boards]
    out = Replay(delivered_wh={s.session_id: 0.0 for s in sessions})
    assignment: dict[str, tuple[str, int]] = {}
    for now, following in itertools.pairwise(times):
        present = [s for s in sessions if s.arrival <= now < s.departure]
        demands = [
            Demand(
                reservation_id=s.session_id,
                arrival=s.arrival,
                departure=s.departure,
                energy_wh=max(0, int(s.energy_wh - out.delivered_wh[s.session_id])),
                max_power_w=s.max_power_w,
                station_id=s.station_id,
            )
            for s in present
        ]
        applied: dict[str, int] = {}
        offered: dict[str, int] = {}
        if any(d.energy_wh > 0 for d in demands):
            started = time.perf_counter()
            result = plan(
                PlanRequest(
                    now=now,
                    site_limit_w=site.limit_w,
                    demands=[d for d in demands if d.energy_wh > 0],
                    connectors=connectors,
                    strategy=strategy,
                    slot_seconds=slot_seconds,
                    prices=dict(prices) if prices else None,
                    green_share=dict(green) if green else None,
                    voltage_v=site.voltage_v,
                    existing_assignment=assignment,
                    time_limit_s=time_limit_s,
                    boards=boards,
                )
            )
            out.solve_ms.append((time.perf_counter() - started) * 1000)
            out.statuses[result.status] = out.statuses.get(result.status, 0) + 1
            hours = (following - now).total_seconds() / 3600
            for charge in result.charges:
                if charge.station_id is None or charge.evse_id is None or not charge.power_w:
                    continue
                assignment[charge.reservation_id] = (charge.station_id, charge.evse_id)
                power = charge.power_w[0]
                if power > 0:
                    offered[charge.reservation_id] = power
                left = next(d.energy_wh for d in demands if d.reservation_id == charge.reservation_id)
                # The car takes what the plan offers until it is full (then it stops by itself).
                drawn = min(power, left / hours) if hours > 0 else 0
                if drawn > 0:
                    applied[charge.reservation_id] = int(drawn)
                    out.delivered_wh[charge.reservation_id] += drawn * hours
        out.intervals.append(
            Interval(now, following, applied, offered, site.limit_w, _step(prices, now), _step(green, now))
        )
    return out


def violations(replay_: Replay, sessions: list[Session], site: Site, min_current_a: float = 6.0) -> dict[str, int]:
    """Limits checked on the applied power, by this code and not the model's: the site limit,
    each board's current per phase (a board carries its children), and 0 A or at least 6 A."""
    station = {s.station_id: s for s in site.stations}
    session_station = {s.session_id: station[s.station_id] for s in sessions}
    parent = {b.board_id: b.parent_id for b in site.boards}
    limit_a = {b.board_id: b.limit_a for b in site.boards}
    found = {"site_limit": 0, "board_limit": 0, "min_current": 0}
    for interval in replay_.intervals:
        if sum(interval.power_w.values()) > interval.limit_w + 1:
            found["site_limit"] += 1
        per_board: dict[str, list[float]] = {b: [0.0, 0.0, 0.0] for b in limit_a}
        for sid, watts in interval.power_w.items():
            st = session_station[sid]
            phases = [0.0, 0.0, 0.0]
            if st.phases == 3:
                phases = [watts / (3 * site.voltage_v)] * 3
            else:
                phases[PHASE_OF_L1.get(st.phase_rotation, 0)] = watts / site.voltage_v
            board = st.board_id
            while board is not None:
                per_board[board] = [a + b for a, b in zip(per_board[board], phases, strict=True)]
                board = parent.get(board)
        for sid, watts in interval.offered_w.items():
            # IEC 61851-1: a charging limit below 6 A is not allowed; 0 A pauses.
            if 0 < watts / (session_station[sid].phases * site.voltage_v) < min_current_a - 1e-6:
                found["min_current"] += 1
        for board, amps in per_board.items():
            if max(amps) > limit_a[board] + 0.05:
                found["board_limit"] += 1
    return found


def metrics(replay_: Replay, sessions: list[Session], site: Site) -> dict[str, Any]:
    requested = sum(s.energy_wh for s in sessions)
    delivered = sum(replay_.delivered_wh.values())
    met = sum(
        1
        for s in sessions
        if s.energy_wh - replay_.delivered_wh[s.session_id] <= max(MET_TOLERANCE_WH, s.energy_wh * 0.01)
    )
    cost = Decimal(0)
    green_wh = 0.0
    has_green = has_price = False
    peak = 0
    for i in replay_.intervals:
        load = sum(i.power_w.values())
        peak = max(peak, load)
        wh = load * (i.end - i.start).total_seconds() / 3600
        if i.price is not None:
            has_price = True
            cost += Decimal(str(i.price)) * Decimal(wh) / 1000
        if i.green is not None:
            has_green = True
            green_wh += wh * i.green
    solve = sorted(replay_.solve_ms)
    return {
        "sessions": len(sessions),
        "sessions_fully_met": met,
        "energy_requested_kwh": round(requested / 1000, 3),
        "energy_delivered_kwh": round(delivered / 1000, 3),
        "energy_delivered_pct": round(100 * delivered / requested, 2) if requested else 100.0,
        "peak_kw": round(peak / 1000, 3),
        "limit_kw": round(site.limit_w / 1000, 3),
        "limit_violations": violations(replay_, sessions, site),
        "cost": str(cost.quantize(Decimal("0.01"))) if has_price else None,
        "green_share": round(green_wh / delivered, 4) if has_green and delivered else None,
        "solves": len(solve),
        "solve_ms_median": round(statistics.median(solve), 1) if solve else 0,
        "solve_ms_p95": round(solve[int(0.95 * (len(solve) - 1))], 1) if solve else 0,
        "solve_ms_max": round(solve[-1], 1) if solve else 0,
        "solver_statuses": replay_.statuses,
    }
