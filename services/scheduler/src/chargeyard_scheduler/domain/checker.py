"""An independent check of a published plan against the request it answers.

Deliberately shares no code with the planner's models: it recomputes presence, phase
currents, board chains and limits from the request's raw fields, so a bug in the model
(or in its rounding and repair passes) shows up here instead of at a fuse. Run on every
plan by the scheduler, the tests and the benchmark.

Rules, per slot ``t`` of the plan (``[slots[t], slots[t] + slot_seconds)``):

* ``site_limit``: total power <= the site limit of the slot (a profile's last value repeats).
* ``board_phase``: per board and grid phase L1..L3, the current of every car fed by the board
  or by a board below it <= ``max_current_a``. A car on ``n = min(car.phases, connector.phases)``
  phases draws ``P / (V * n)`` on each; a single-phase car loads the grid phase named by the
  first letter of the connector's OCPP phase rotation (R=L1, S=L2, T=L3).
* ``min_current``: 0 A or at least ``min_current_a`` per phase (IEC 61851-1: a charging
  current below 6 A cannot be signalled by the control pilot).
* ``max_power``: at most the car's and the connector's limit on the phases in use.
* ``outside_stay``: no power in a slot the car does not overlap; ``unassigned_power``: no
  power without a connector; ``energy``: the stated energy is what the profile delivers
  inside the stay, and no more than requested.
* ``connector``: the connector exists, honours a station pin, and holds one car at a time
  (stays on one connector do not overlap within the horizon).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .planner import Plan, PlanRequest

__all__ = ["Violation", "check_plan"]

_PHASE_OF_LETTER = {"R": 0, "S": 1, "T": 2}
_CURRENT_TOL_A = 1e-6
_POWER_TOL_W = 0.5
_ENERGY_TOL_WH = 1.0


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    detail: str
    reservation_id: str | None = None
    slot: int | None = None

    def __str__(self) -> str:
        where = "".join(
            [
                f" {self.reservation_id}" if self.reservation_id else "",
                f" slot {self.slot}" if self.slot is not None else "",
            ]
        )
        return f"{self.rule}{where}: {self.detail}"


def _seconds_overlap(a0: datetime, a1: datetime, b0: datetime, b1: datetime) -> float:
    # in UTC: aware datetimes of one zone compare and subtract on the wall clock in Python
    a0, a1, b0, b1 = (x.astimezone(UTC) for x in (a0, a1, b0, b1))
    lo, hi = max(a0, b0), min(a1, b1)
    return (hi - lo).total_seconds() if hi > lo else 0.0


def check_plan(request: PlanRequest, plan: Plan) -> list[Violation]:
    """Every rule above that ``plan`` breaks; an empty list means the plan is safe to send."""
    out: list[Violation] = []
    n_slots = len(plan.slots)
    step = timedelta(seconds=plan.slot_seconds)
    if isinstance(request.site_limit_w, int | float):
        site_limit = [float(request.site_limit_w)] * n_slots
    else:
        prof = list(request.site_limit_w)
        site_limit = [float(prof[min(t, len(prof) - 1)]) for t in range(n_slots)]

    demand_of = {d.reservation_id: d for d in request.demands}
    conn_of = {(c.station_id, c.evse_id): c for c in request.connectors}
    parent_of = {b.board_id: b.parent_id for b in request.boards}
    limit_of = {b.board_id: b.max_current_a for b in request.boards}

    total = [0.0] * n_slots
    board_current: dict[tuple[str, int, int], float] = defaultdict(float)
    on_connector: dict[tuple[str, int], list[tuple[datetime, datetime, str]]] = defaultdict(list)
    horizon_end = plan.slots[-1].astimezone(UTC) + step if plan.slots else None
    seen: set[str] = set()

    for ch in plan.charges:
        rid = ch.reservation_id
        d = demand_of.get(rid)
        if d is None:
            out.append(Violation("unknown_reservation", "not in the request", rid))
            continue
        if rid in seen:
            out.append(Violation("duplicate", "reservation planned twice", rid))
        seen.add(rid)
        if len(ch.power_w) != n_slots:
            out.append(Violation("shape", f"{len(ch.power_w)} powers for {n_slots} slots", rid))
            continue
        conn = None
        if ch.station_id is not None or ch.evse_id is not None:
            conn = conn_of.get((ch.station_id or "", ch.evse_id or 0))
            if conn is None:
                out.append(Violation("connector", f"unknown connector {ch.station_id}/{ch.evse_id}", rid))
                continue
            if d.station_id is not None and conn.station_id != d.station_id:
                out.append(Violation("connector", f"pinned to {d.station_id}, planned on {conn.station_id}", rid))
            if horizon_end is not None:
                stay = (
                    max(d.arrival.astimezone(UTC), plan.slots[0].astimezone(UTC)),
                    min(d.departure.astimezone(UTC), horizon_end),
                )
                if stay[1] > stay[0]:
                    on_connector[(conn.station_id, conn.evse_id)].append((stay[0], stay[1], rid))

        n_ph = min(d.phases, conn.phases) if conn is not None else d.phases
        if conn is not None:
            cap_w = min(d.max_power_w / d.phases, conn.max_power_w / conn.phases) * n_ph
            grid_phases = (0, 1, 2) if n_ph == 3 else (_PHASE_OF_LETTER[conn.phase_rotation[0]],)
            chain: list[str] = []
            b = conn.board_id
            while b is not None and b not in chain:
                chain.append(b)
                b = parent_of.get(b)
        delivered_wh = 0.0
        for t, w in enumerate(ch.power_w):
            if w == 0:
                continue
            if w < 0:
                out.append(Violation("negative", f"{w} W", rid, t))
                continue
            start = plan.slots[t].astimezone(UTC)
            inside = _seconds_overlap(d.arrival, d.departure, start, start + step)
            if inside <= 0:
                out.append(Violation("outside_stay", f"{w} W while the car is away", rid, t))
            if conn is None:
                out.append(Violation("unassigned_power", f"{w} W without a connector", rid, t))
                continue
            amps = w / (request.voltage_v * n_ph)
            if amps < request.min_current_a - _CURRENT_TOL_A:
                out.append(Violation("min_current", f"{amps:.2f} A < {request.min_current_a} A ({w} W)", rid, t))
            if w > cap_w + _POWER_TOL_W:
                out.append(Violation("max_power", f"{w} W > {cap_w:.0f} W", rid, t))
            total[t] += w
            for bid in chain:
                for ph in grid_phases:
                    board_current[bid, ph, t] += amps
            delivered_wh += w * inside / 3600.0
        if ch.energy_wh > d.energy_wh + _ENERGY_TOL_WH:
            out.append(Violation("energy", f"{ch.energy_wh} Wh planned > {d.energy_wh} Wh requested", rid))
        if ch.energy_wh > delivered_wh + _ENERGY_TOL_WH:
            out.append(
                Violation("energy", f"{ch.energy_wh} Wh stated, profile gives {delivered_wh:.0f} Wh in the stay", rid)
            )

    for t in range(n_slots):
        if total[t] > site_limit[t] + _POWER_TOL_W:
            out.append(Violation("site_limit", f"{total[t]:.0f} W > {site_limit[t]:.0f} W", slot=t))
    for (bid, ph, t), amps in sorted(board_current.items()):
        if amps > limit_of[bid] + _CURRENT_TOL_A:
            out.append(Violation("board_phase", f"board {bid} L{ph + 1}: {amps:.2f} A > {limit_of[bid]} A", slot=t))
    for key, stays in on_connector.items():
        stays.sort()
        busy_until, holder = stays[0][1], stays[0][2]
        for start, end, rid in stays[1:]:
            if start < busy_until:
                out.append(Violation("connector", f"{key[0]}/{key[1]} shared with {holder}", rid))
            if end > busy_until:
                busy_until, holder = end, rid
    return out
