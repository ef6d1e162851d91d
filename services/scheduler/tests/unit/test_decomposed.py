"""Hand-checked cases for the decomposed planner (LP + minimum-current repair), boards and
phase rotation, daylight-saving days, solver status and gap, and the least-laxity fallback.
Every plan goes through the independent checker."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from chargeyard_scheduler.domain import Board, Connector, Demand, Plan, PlanRequest, check_plan
from chargeyard_scheduler.domain import plan as _plan

NOW = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
H = timedelta(hours=1)
MIN = timedelta(minutes=1)
BERLIN = ZoneInfo("Europe/Berlin")
METHODS = ("milp", "decomposed")


def plan(request: PlanRequest, **kw: object) -> Plan:
    result = _plan(request, **kw)  # type: ignore[arg-type]
    assert check_plan(request, result) == [], check_plan(request, result)[:5]
    return result


def demand(rid: str, *, arrival: datetime = NOW, hours: float = 4.0, **changes: object) -> Demand:
    fields: dict[str, object] = {
        "reservation_id": rid,
        "arrival": arrival,
        "departure": arrival + timedelta(hours=hours),
        "energy_wh": 10_000,
        "max_power_w": 11_000,
        "phases": 3,
        "created_at": arrival - timedelta(days=1),
    }
    fields.update(changes)
    return Demand(**fields)  # type: ignore[arg-type]


def connectors(n: int, **changes: object) -> list[Connector]:
    fields: dict[str, object] = {"evse_id": 1, "max_power_w": 11_000, "phases": 3}
    fields.update(changes)
    return [Connector(station_id=f"cs{k}", **fields) for k in range(n)]  # type: ignore[arg-type]


def random_site(n: int, seed: int, *, limit_w: int, boards: bool = True) -> PlanRequest:
    """``n`` cars over one day on ``n`` connectors in two boards, a third single-phase."""
    rng = random.Random(seed)
    demands = []
    for i in range(n):
        arrival = NOW + timedelta(minutes=15 * rng.randrange(0, 24))
        mono = rng.random() < 0.33
        demands.append(
            demand(
                f"r{i:03d}",
                arrival=arrival,
                hours=rng.uniform(2, 9),
                energy_wh=rng.randrange(2_000, 30_000),
                max_power_w=7_400 if mono else 11_000,
                phases=1 if mono else 3,
                priority=1 if rng.random() < 0.1 else 0,
            )
        )
    rotations = ("RST", "STR", "TRS")
    conns = [
        Connector(f"cs{k}", 1, 11_000, 3, board_id=(f"b{k % 2}" if boards else None), phase_rotation=rotations[k % 3])
        for k in range(n)
    ]
    tree = (Board("grid", limit_w / 230 / 3 * 1.05), Board("b0", 40.0, "grid"), Board("b1", 40.0, "grid"))
    return PlanRequest(
        now=NOW, site_limit_w=limit_w, demands=demands, connectors=conns, boards=tree if boards else (), max_slots=48
    )


# ------------------------------------------------------------------- limits and 6 A


def test_limits_and_the_minimum_current_hold_on_a_busy_site_with_boards() -> None:
    req = random_site(40, seed=7, limit_w=60_000)
    p = plan(req)
    assert p.method == "decomposed"  # boards: the decomposed planner
    totals = p.site_power_w()
    assert max(totals) <= 60_000 and max(totals) > 55_000  # the limit binds and holds
    by_id = {d.reservation_id: d for d in req.demands}
    for ch in p.charges:
        n = by_id[ch.reservation_id].phases
        assert all(w == 0 or w >= 6 * 230 * n for w in ch.power_w), ch  # IEC 61851: 0 or >= 6 A
    for board in ("b0", "b1"):  # hand-summed per phase: 40 A each
        on_board = {f"cs{k}" for k in range(40) if f"b{k % 2}" == board}
        rot = {f"cs{k}": ("RST", "STR", "TRS")[k % 3] for k in range(40)}
        for t in range(len(p.slots)):
            amps = [0.0, 0.0, 0.0]
            for ch in p.charges:
                if ch.station_id in on_board and ch.power_w[t]:
                    d = by_id[ch.reservation_id]
                    if d.phases == 3:
                        amps = [a + ch.power_w[t] / 690 for a in amps]
                    else:
                        amps["RST".index(rot[ch.station_id][0])] += ch.power_w[t] / 230
            assert max(amps) <= 40.0 + 1e-6, (board, t, amps)


@pytest.mark.parametrize(("rounds", "first_lp"), [(0, "ipm"), (2, "ipm"), (0, "simplex"), (2, "simplex")])
def test_every_repair_path_keeps_the_limits_and_the_minimum_current(
    monkeypatch: pytest.MonkeyPatch, rounds: int, first_lp: str
) -> None:
    """The default (no rounding round, interior point first) and the rounding rounds the
    constants can switch back on both end in a plan the checker accepts, with the same energy
    within 1 %."""
    from chargeyard_scheduler.domain import decomposed

    req = random_site(40, seed=11, limit_w=50_000)
    monkeypatch.setattr(decomposed, "MAX_REPAIR_ROUNDS", rounds)
    monkeypatch.setattr(decomposed, "FIRST_LP_SOLVER", first_lp)
    p = plan(req, method="decomposed")
    assert p.status == "optimal" and p.bound is not None and p.objective is not None
    assert p.objective >= p.bound - 1e-6
    by_id = {d.reservation_id: d for d in req.demands}
    for ch in p.charges:
        n = by_id[ch.reservation_id].phases
        assert all(w == 0 or w >= 6 * 230 * n for w in ch.power_w), ch
    monkeypatch.setattr(decomposed, "MAX_REPAIR_ROUNDS", 2)
    monkeypatch.setattr(decomposed, "FIRST_LP_SOLVER", "simplex")
    reference = plan(req, method="decomposed")
    energy = sum(ch.energy_wh for ch in p.charges)
    assert energy >= 0.99 * sum(ch.energy_wh for ch in reference.charges)


@pytest.mark.parametrize("method", METHODS)
def test_departure_energy_is_met_when_feasible(method: str) -> None:
    # 4 cars, 60 kWh in 4 h on a 22 kW site = 88 kWh of room: everybody gets everything
    demands = [demand(f"r{i}", hours=4, energy_wh=15_000, arrival=NOW + i * 15 * MIN) for i in range(4)]
    demands = [
        demand(d.reservation_id, arrival=d.arrival, hours=4.0 - i * 0.25, energy_wh=15_000)
        for i, d in enumerate(demands)
    ]
    p = plan(PlanRequest(now=NOW, site_limit_w=22_000, demands=demands, connectors=connectors(4)), method=method)
    assert [ch.energy_wh for ch in p.charges] == [15_000] * 4
    assert all(ch.planned_finish is not None and ch.planned_finish <= NOW + 4 * H for ch in p.charges)


def test_decomposed_six_cars_share_half_their_combined_maximum() -> None:
    demands = [demand(f"r{i}", arrival=NOW + i * 15 * MIN, hours=6, energy_wh=18_000 + 2_000 * i) for i in range(6)]
    p = plan(PlanRequest(now=NOW, site_limit_w=33_000, demands=demands, connectors=connectors(6)), method="decomposed")
    assert max(p.site_power_w()) <= 33_000
    assert [ch.energy_wh for ch in p.charges] == [18_000 + 2_000 * i for i in range(6)]


# ------------------------------------------------------------- phases and rotation


@pytest.mark.parametrize(("rotations", "expected_wh"), [(("RST", "STR", "TRS"), 3 * 3_680), (("RST",) * 3, 3_680)])
def test_single_phase_cars_share_a_board_phase_by_rotation(rotations: tuple[str, ...], expected_wh: int) -> None:
    # three 7.4 kW single-phase cars for 1 h on a board of 16 A per phase (3.68 kW per phase).
    # Rolled rotations put each on its own phase: 3 x 16 A x 230 V x 1 h = 11.04 kWh. All on
    # RST they share L1: 16 A x 230 V x 1 h = 3.68 kWh between them, whatever the site allows.
    conns = [Connector(f"cs{k}", 1, 22_000, 3, "b", rot) for k, rot in enumerate(rotations)]
    demands = [demand(f"m{k}", hours=1, energy_wh=5_000, max_power_w=7_400, phases=1) for k in range(3)]
    req = PlanRequest(now=NOW, site_limit_w=50_000, demands=demands, connectors=conns, boards=[Board("b", 16.0)])
    p = plan(req)
    assert expected_wh - 10 <= sum(ch.energy_wh for ch in p.charges) <= expected_wh
    if rotations[0] != rotations[1]:
        assert all(ch.energy_wh >= 3_670 for ch in p.charges)  # everybody their own phase, full 16 A


def test_unknown_board_or_rotation_is_refused() -> None:
    with pytest.raises(ValueError, match="phase_rotation"):
        Connector("cs", 1, 11_000, 3, phase_rotation="LMN")
    with pytest.raises(ValueError, match="board_id"):
        PlanRequest(now=NOW, site_limit_w=1, demands=[], connectors=[Connector("cs", 1, 11_000, 3, "nope")])
    with pytest.raises(ValueError, match="cycle"):
        PlanRequest(now=NOW, site_limit_w=1, demands=[], connectors=[], boards=[Board("a", 1, "b"), Board("b", 1, "a")])


# ----------------------------------------------------------------------- strategies


def test_decomposed_economic_puts_energy_into_the_cheapest_slots() -> None:
    prices = [0.40] * 8 + [0.10] * 4 + [0.40] * 4  # cheap from 10:00 to 11:00
    req = PlanRequest(
        now=NOW,
        site_limit_w=22_000,
        demands=[demand("a", energy_wh=10_000)],
        connectors=connectors(1),
        strategy="economic",
        prices=prices,
    )
    prof = plan(req, method="decomposed").charge("a").power_w
    assert [t for t, w in enumerate(prof) if w] == [8, 9, 10, 11]  # 10 kWh = 4 x 11 kW x 15 min, nearly
    assert sum(w * 0.25 for w in prof) >= 10_000 - 4


def test_decomposed_green_follows_the_renewable_share() -> None:
    share = [0.1] * 4 + [0.9] * 4 + [0.1] * 8
    req = PlanRequest(
        now=NOW,
        site_limit_w=22_000,
        demands=[demand("a", energy_wh=8_000)],
        connectors=connectors(1),
        strategy="green",
        green_share=share,
    )
    prof = plan(req, method="decomposed").charge("a").power_w
    assert sum(prof[4:8]) == sum(prof) > 0


def test_decomposed_fcfs_serves_the_earlier_arrival_first() -> None:
    early = demand("early", arrival=NOW, hours=5, energy_wh=15_000)
    late = demand("late", arrival=NOW + 30 * MIN, hours=4.5, energy_wh=15_000)
    p = plan(
        PlanRequest(now=NOW, site_limit_w=11_000, demands=[late, early], connectors=connectors(2)), method="decomposed"
    )
    assert p.charge("early").energy_wh == p.charge("late").energy_wh == 15_000
    assert p.charge("early").planned_finish <= NOW + 90 * MIN  # 15 kWh at 11 kW, straight away
    assert p.charge("early").planned_finish < p.charge("late").planned_finish


def test_decomposed_priority_wins_a_shortage() -> None:
    # 2 h at 11 kW = 22 kWh for 39 kWh asked; "low" came first, so only priority helps "high"
    low = demand("low", hours=2, energy_wh=20_000, created_at=NOW - 2 * H)
    high = demand("high", hours=2, energy_wh=19_000, priority=3, created_at=NOW - H)
    p = plan(
        PlanRequest(now=NOW, site_limit_w=11_000, demands=[low, high], connectors=connectors(2)), method="decomposed"
    )
    assert p.charge("high").energy_wh == 19_000
    assert p.charge("low").energy_wh <= 3_000


# --------------------------------------------------------------------- daylight saving


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("day", "quarters", "cheap_at"), [((2025, 3, 30), 92, 8), ((2025, 10, 26), 100, 12)])
def test_a_daylight_saving_day_has_its_own_number_of_quarter_hours(
    method: str, day: tuple[int, int, int], quarters: int, cheap_at: int
) -> None:
    midnight = datetime(*day, tzinfo=BERLIN)
    next_midnight = datetime(*day, tzinfo=BERLIN) + timedelta(days=1)  # wall clock: 00:00 the next day
    car = Demand("a", midnight, next_midnight, 11_000, 11_000, created_at=midnight)
    prices = [0.30] * quarters
    prices[cheap_at : cheap_at + 4] = [0.05] * 4
    req = PlanRequest(
        now=midnight,
        site_limit_w=22_000,
        demands=[car],
        connectors=connectors(1),
        strategy="economic",
        prices=prices,
        max_slots=200,
    )
    p = plan(req, method=method)
    assert len(p.slots) == quarters  # 23 h in March, 25 h in October
    cheap = p.slots[cheap_at].astimezone(BERLIN)
    if quarters == 92:  # 02:00 does not exist: 8 quarters after midnight it is 03:00 CEST
        assert (cheap.hour, cheap.utcoffset()) == (3, timedelta(hours=2))
    else:  # the second 02:00, in CET
        assert (cheap.hour, cheap.utcoffset()) == (2, timedelta(hours=1))
    ch = p.charge("a")
    assert ch.planned_start == p.slots[cheap_at]
    assert [t for t, w in enumerate(ch.power_w) if w] == list(range(cheap_at, cheap_at + 4))


# --------------------------------------------------------------- solver status, gap


def test_the_solvers_own_status_and_gap_are_exposed() -> None:
    demands = [demand(f"r{i}", hours=3, energy_wh=12_000) for i in range(3)]
    req = PlanRequest(now=NOW, site_limit_w=20_000, demands=demands, connectors=connectors(3))
    milp = plan(req, method="milp")
    assert milp.method == "milp" and milp.solver == "HiGHS"
    assert milp.solver_status == "Optimal"  # HiGHS's model status, not PuLP's
    assert milp.gap is not None and 0 <= milp.gap <= 1e-3
    assert milp.binaries > 0
    dec = plan(req, method="decomposed")
    assert dec.method == "decomposed" and dec.solver_status == "Optimal"
    assert dec.bound is not None and dec.objective is not None and dec.bound <= dec.objective + 1e-6
    assert dec.bound_gap is not None and dec.bound_gap < 0.01


def test_out_of_time_the_least_laxity_plan_goes_out_within_every_limit() -> None:
    req = random_site(250, seed=3, limit_w=150_000)
    fast = PlanRequest(
        now=req.now,
        site_limit_w=req.site_limit_w,
        demands=req.demands,
        connectors=req.connectors,
        boards=req.boards,
        max_slots=req.max_slots,
        time_limit_s=0.001,
    )
    p = plan(fast)  # checked: no limit, minimum current or connector broken
    assert p.method == "heuristic" and p.status == "heuristic" and p.solver == "LLF"
    assert p.solver_status == "Time limit reached"
    assert max(p.site_power_w()) <= 150_000
    # the boards (2 x 40 A per phase) bind; least laxity first gets close to the optimiser
    solved = plan(req)
    assert solved.method == "decomposed"
    llf_wh, opt_wh = (sum(ch.energy_wh for ch in x.charges) for x in (p, solved))
    assert llf_wh >= 0.9 * opt_wh


def test_auto_picks_the_single_milp_for_small_sites_and_decomposes_large_ones() -> None:
    small = PlanRequest(now=NOW, site_limit_w=22_000, demands=[demand("a")], connectors=connectors(1))
    assert plan(small).method == "milp"
    assert plan(random_site(60, seed=1, limit_w=80_000, boards=False)).method == "decomposed"


def test_row_generation_ends_at_the_optimum_of_the_full_lp() -> None:
    """Board rows are added only when a solution breaks them; the LP they end with has the
    optimum of the LP with every board row from the start (so ``Plan.bound`` stays a bound)."""
    import highspy
    import numpy as np
    from chargeyard_scheduler.domain.decomposed import _Model
    from chargeyard_scheduler.domain.instance import build_instance

    inst = build_instance(random_site(60, seed=5, limit_w=80_000))
    assert inst is not None
    lazy = _Model(inst)
    hs, status, _ = lazy.solve(30.0)
    assert status == "Optimal"
    assert 0 < lazy.b_added.sum() < len(lazy.b_added)  # the boards bind, but not every row is needed
    full = _Model(inst)
    every = highspy.Highs()
    every.setOptionValue("output_flag", False)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(full.cost), full.num_row
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = full.cost, full.lower, full.upper
    lp.row_lower_, lp.row_upper_ = full.row_lower, full.row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = full.start.astype(np.int32), full.index, full.value
    every.passModel(lp)
    full._add_rows(every, np.arange(len(full.b_limit)))
    every.run()
    assert every.modelStatusToString(every.getModelStatus()) == "Optimal"
    lazy_obj = hs.getInfo().objective_function_value
    assert abs(lazy_obj - every.getInfo().objective_function_value) <= 1e-6 * max(1.0, abs(lazy_obj))
    assert not lazy._broken(np.asarray(hs.getSolution().col_value)).size
