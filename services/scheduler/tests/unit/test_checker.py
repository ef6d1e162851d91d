"""The independent plan checker: every rule it enforces, each shown failing on a hand-made plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chargeyard_scheduler.domain import Board, ChargePlan, Connector, Demand, Plan, PlanRequest, check_plan

NOW = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
H = timedelta(hours=1)
SLOTS = tuple(NOW + timedelta(minutes=15 * t) for t in range(8))  # 08:00 - 10:00


def a_demand(rid: str, **changes: object) -> Demand:
    fields: dict[str, object] = {
        "reservation_id": rid,
        "arrival": NOW,
        "departure": NOW + 2 * H,
        "energy_wh": 10_000,
        "max_power_w": 11_000,
        "phases": 3,
    }
    fields.update(changes)
    return Demand(**fields)  # type: ignore[arg-type]


def a_charge(rid: str, power_w: list[int], station: str | None = "cs0", energy_wh: int | None = None) -> ChargePlan:
    delivered = min(sum(power_w) // 4, 10_000)
    return ChargePlan(
        reservation_id=rid,
        station_id=station,
        evse_id=1 if station else None,
        power_w=tuple(power_w),
        energy_wh=delivered if energy_wh is None else energy_wh,
        requested_wh=10_000,
        planned_start=NOW,
        planned_finish=NOW + 2 * H,
    )


def request(
    demands: list[Demand], *, limit: int = 22_000, boards: tuple[Board, ...] = (), **conn: object
) -> PlanRequest:
    connectors = [
        Connector("cs0", 1, 11_000, 3, **conn),  # type: ignore[arg-type]
        Connector("cs1", 1, 11_000, 3, **conn),  # type: ignore[arg-type]
    ]
    return PlanRequest(now=NOW, site_limit_w=limit, demands=demands, connectors=connectors, boards=boards)


def rules(req: PlanRequest, *charges: ChargePlan) -> list[str]:
    return sorted({v.rule for v in check_plan(req, Plan("optimal", "test", 0, SLOTS, 900, tuple(charges)))})


def test_a_plan_within_every_limit_passes() -> None:
    req = request([a_demand("a"), a_demand("b")])
    assert rules(req, a_charge("a", [11_000] * 4 + [0] * 4), a_charge("b", [11_000] * 4 + [0] * 4, "cs1")) == []


def test_site_limit_is_checked_per_slot() -> None:
    req = request([a_demand("a"), a_demand("b")], limit=20_000)
    bad = rules(req, a_charge("a", [11_000] + [0] * 7), a_charge("b", [10_000] + [0] * 7, "cs1"))
    assert bad == ["site_limit"]  # 21 kW in slot 0


def test_below_six_amps_is_refused_but_zero_is_fine() -> None:
    req = request([a_demand("a")])
    assert rules(req, a_charge("a", [4_140, 0, 0, 0, 0, 0, 0, 0])) == []  # 6 A x 230 V x 3
    assert rules(req, a_charge("a", [4_139, 0, 0, 0, 0, 0, 0, 0])) == ["min_current"]


def test_one_car_per_connector_while_their_stays_overlap() -> None:
    req = request([a_demand("a", departure=NOW + H), a_demand("b", arrival=NOW + 30 * timedelta(minutes=1))])
    both = rules(req, a_charge("a", [5_000] * 4 + [0] * 4), a_charge("b", [0, 0, 5_000, 5_000, 0, 0, 0, 0]))
    assert both == ["connector"]
    after = request([a_demand("a", departure=NOW + H), a_demand("b", arrival=NOW + H)])
    assert rules(after, a_charge("a", [5_000] * 4 + [0] * 4), a_charge("b", [0] * 4 + [5_000] * 4)) == []


def test_power_outside_the_stay_or_without_connector() -> None:
    req = request([a_demand("a", arrival=NOW + H)])
    assert rules(req, a_charge("a", [5_000] + [0] * 7, energy_wh=0)) == ["outside_stay"]
    assert "unassigned_power" in rules(req, a_charge("a", [0] * 4 + [5_000] * 4, station=None))


def test_car_and_connector_maximum_on_the_phases_in_use() -> None:
    req = request([a_demand("mono", phases=1, max_power_w=7_400)])
    # one phase of an 11 kW three-phase point: 3667 W, below the car's own 7.4 kW
    assert rules(req, a_charge("mono", [3_666] + [0] * 7)) == []
    assert rules(req, a_charge("mono", [3_700] + [0] * 7)) == ["max_power"]


def test_stated_energy_must_come_from_the_profile_within_the_request() -> None:
    req = request([a_demand("a")])
    assert rules(req, a_charge("a", [11_000] * 2 + [0] * 6, energy_wh=6_000)) == ["energy"]  # profile gives 5.5 kWh
    assert rules(req, a_charge("a", [11_000] * 8, energy_wh=22_000)) == ["energy"]  # 10 kWh requested


def test_board_phase_current_follows_the_phase_rotation() -> None:
    boards = (Board("grid", 40.0), Board("b1", 16.0, "grid"))
    mono = [a_demand("x", phases=1, max_power_w=7_400), a_demand("y", phases=1, max_power_w=7_400)]
    same = PlanRequest(
        now=NOW,
        site_limit_w=50_000,
        demands=mono,
        connectors=[Connector("cs0", 1, 11_000, 3, "b1", "RST"), Connector("cs1", 1, 11_000, 3, "b1", "RST")],
        boards=boards,
    )
    ten_amps = 2_300  # 10 A on one phase
    charges = (a_charge("x", [ten_amps] + [0] * 7), a_charge("y", [ten_amps] + [0] * 7, "cs1"))
    assert rules(same, *charges) == ["board_phase"]  # 20 A on L1 of a 16 A board
    rolled = PlanRequest(
        now=NOW,
        site_limit_w=50_000,
        demands=mono,
        connectors=[Connector("cs0", 1, 11_000, 3, "b1", "RST"), Connector("cs1", 1, 11_000, 3, "b1", "STR")],
        boards=boards,
    )
    assert rules(rolled, *charges) == []  # 10 A on L1 and 10 A on L2
    # the parent board counts its children: 3 x 3-phase 11 kW = 47.8 A > 40 A on the grid board
    three = PlanRequest(
        now=NOW,
        site_limit_w=50_000,
        demands=[a_demand("a"), a_demand("b"), a_demand("c")],
        connectors=[Connector(f"cs{k}", 1, 11_000, 3, "grid") for k in range(3)],
        boards=boards,
    )
    full = [a_charge(r, [11_000] + [0] * 7, f"cs{k}") for k, r in enumerate("abc")]
    assert rules(three, *full) == ["board_phase"]
