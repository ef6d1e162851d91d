from datetime import UTC, datetime, timedelta

import pytest
from chargeyard_energy.domain.capacity import (
    BuildingReading,
    Circuit,
    EvseSpec,
    GroupProfile,
    SiteLimits,
    SiteModel,
    StationSpec,
    allocate,
    building_load,
    clamp,
    failsafe_currents,
    grid_constraint,
    phase_load,
    planning_capacity,
)
from chargeyard_energy.domain.groups import Interval, InvalidProfile, validate
from chargeyard_energy.domain.profiles import Evse
from chargeyard_energy.domain.transitions import Step, StepFunction
from hypothesis import given, settings
from hypothesis import strategies as st

T0 = datetime(2026, 11, 21, 8, tzinfo=UTC)
V = 230.0


def evse(n: int) -> Evse:
    return Evse(f"CP-{n}", 1)


def a_spec(n: int, **changes: object) -> EvseSpec:
    fields: dict[str, object] = dict(evse=evse(n), max_w=11_000, car_phases=(0, 1, 2))
    fields.update(changes)
    return EvseSpec(**fields)  # type: ignore[arg-type]


def test_a_single_phase_car_loads_the_grid_phase_its_station_l1_is_wired_to() -> None:
    assert phase_load(a_spec(1, car_phases=(0,), rotation="RST"), 2300, V) == (10.0, 0.0, 0.0)
    assert phase_load(a_spec(1, car_phases=(0,), rotation="STR"), 2300, V) == (0.0, 10.0, 0.0)
    assert phase_load(a_spec(1, car_phases=(0,), rotation="TRS"), 2300, V) == (0.0, 0.0, 10.0)
    unknown = phase_load(a_spec(1, car_phases=(0,), rotation="Unknown"), 2300, V)
    assert unknown == (10.0, 10.0, 10.0), "unknown wiring counts the current on every phase"


def test_an_overloaded_phase_scales_only_the_evses_on_it() -> None:
    specs = {
        evse(1): a_spec(1, car_phases=(0,), rotation="RST"),
        evse(2): a_spec(2, car_phases=(0,), rotation="RST"),
        evse(3): a_spec(3, car_phases=(0,), rotation="STR"),
    }
    site = SiteLimits(grid_limit_w=100_000, grid_limit_a=40)
    grid = grid_constraint(site, building_load(site, None, T0))
    out = allocate({e: 7360.0 for e in specs}, specs, [grid], V)  # 32 A each
    assert out[evse(1)] == out[evse(2)] == 4600  # R: 64 A into 40 A
    assert out[evse(3)] == 7360  # S has room


def test_under_six_amperes_a_limit_becomes_zero() -> None:
    specs = {evse(1): a_spec(1)}
    site = SiteLimits(grid_limit_w=3_000)
    grid = grid_constraint(site, building_load(site, None, T0))
    assert allocate({evse(1): 11_000.0}, specs, [grid], V) == {evse(1): 0}


def test_counted_evses_are_fixed_loads() -> None:
    specs = {evse(1): a_spec(1), evse(2): a_spec(2, counted_w=11_000)}
    site = SiteLimits(grid_limit_w=20_000)
    grid = grid_constraint(site, building_load(site, None, T0))
    assert allocate({evse(1): 11_000.0, evse(2): 0.0}, specs, [grid], V)[evse(1)] == 9_000


def test_a_silent_building_meter_falls_back_and_never_means_no_load() -> None:
    site = SiteLimits(grid_limit_w=40_000, building_timeout_s=60, building_fallback_w=20_700)
    reading = BuildingReading(measured_at=T0, phase_a=(10.0, 5.0, 5.0))
    assert building_load(site, reading, T0 + timedelta(seconds=59)).phase_a == (10.0, 5.0, 5.0)
    stale = building_load(site, reading, T0 + timedelta(seconds=61))
    assert stale.stale and stale.phase_a == pytest.approx((30.0, 30.0, 30.0))
    assert building_load(site, None, T0).stale


def test_clamp_follows_a_group_profile_in_time_and_only_lowers() -> None:
    specs = {evse(n): a_spec(n, groups=frozenset({"g"})) for n in (1, 2)}
    group = GroupProfile(
        "g", ((T0 + timedelta(minutes=5), T0 + timedelta(minutes=10), 12_000.0),), members=frozenset(specs)
    )
    model = SiteModel(SiteLimits(grid_limit_w=50_000), specs, groups=(group,))
    steps = {e: StepFunction([Step(T0, 11_000)]) for e in specs}
    out = clamp(steps, model, T0)
    assert [(int((s.at - T0).total_seconds()), s.limit) for s in out[evse(1)]] == [
        (0, 11_000),
        (300, 6_000),
        (600, 11_000),
    ]
    intervals, default = planning_capacity(model, T0, T0 + timedelta(hours=1))
    assert [w for _, _, w in intervals] == [50_000, 12_000, 50_000] and default == 50_000


def test_circuits_bind_the_evses_below_them() -> None:
    specs = {evse(1): a_spec(1, circuits=("c1", "board")), evse(2): a_spec(2, circuits=("board",))}
    model = SiteModel(
        SiteLimits(grid_limit_w=50_000),
        specs,
        circuits=(Circuit("board", None, limit_w=15_000), Circuit("c1", "board", limit_a=10)),
    )
    out = clamp({e: StepFunction([Step(T0, 11_000)]) for e in specs}, model, T0)
    assert out[evse(1)][0].limit == 6_900  # 10 A on three phases
    assert out[evse(1)][0].limit + out[evse(2)][0].limit <= 15_000


stations = st.lists(
    st.tuples(
        st.sampled_from([1, 3]),
        st.sampled_from(["RST", "STR", "TRS", "Unknown"]),
        st.integers(3_680, 22_000),
        st.booleans(),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(
    placed=stations,
    grid_w=st.integers(5_000, 80_000),
    building=st.floats(0, 40),
    needs=st.lists(st.floats(0, 40), min_size=8, max_size=8),
)
def test_failsafe_maxima_hold_every_phase_and_the_total_whatever_the_cars_do(
    placed: list[tuple[int, str, int, bool]],
    grid_w: int,
    building: float,
    needs: list[float],
) -> None:
    site = SiteLimits(grid_limit_w=grid_w, safety_margin_w=690)
    load = building_load(SiteLimits(grid_limit_w=grid_w), None, T0)
    load = type(load)(building * 3 * V, (building, 0.0, building / 2), False)
    specs = [StationSpec(f"S{i}", max_w=w, phases=ph, rotation=r, counted=c) for i, (ph, r, w, c) in enumerate(placed)]
    maxima = failsafe_currents(specs, {s.station_id: needs[i] for i, s in enumerate(specs)}, site, load, ())
    grid = grid_constraint(site, load)
    assert grid.phase_a is not None and grid.total_w is not None
    for p in range(3):
        fixed = sum(s.max_a(V) for s in specs if s.counted and p in s.grid_phases())
        held = sum(maxima[s.station_id] for s in specs if not s.counted and p in s.grid_phases())
        assert held <= max(0.0, grid.phase_a[p] - fixed) + 1e-6
    fixed_w = sum(s.max_w for s in specs if s.counted)
    held_w = sum(maxima[s.station_id] * V * s.phases for s in specs if not s.counted)
    assert held_w <= max(0.0, grid.total_w - fixed_w) + 1e-6
    assert all(0 <= maxima[s.station_id] <= s.max_a(V) + 1e-9 for s in specs if not s.counted)
    # IEC 61851-1: no station is offered a current it may not offer (0 < I < 6 A).
    assert all(not 0 < maxima[s.station_id] < 6 for s in specs if not s.counted), maxima


def an_interval(start_min: int, end_min: float, value: float = 10) -> Interval:
    return Interval(T0 + timedelta(minutes=start_min), T0 + timedelta(minutes=end_min), value)


@pytest.mark.parametrize(
    ("intervals", "message"),
    [
        ([an_interval(0, 15), an_interval(15, 15.5)], r"intervals\[1\]: lasts 30 s"),
        ([an_interval(0, 15), an_interval(10, 30)], r"intervals\[1\].*overlap"),
        ([an_interval(0, 15), an_interval(16, 30)], r"intervals\[1\].*a gap"),
        ([an_interval(0, 15, -1)], r"intervals\[0\]: value -1"),
        ([an_interval(0, 15, 200)], r"intervals\[0\].*above the group's maximum"),
    ],
)
def test_a_profile_breaking_a_rule_names_the_interval(intervals: list[Interval], message: str) -> None:
    with pytest.raises(InvalidProfile, match=message):
        validate(intervals, kind="setpoint", unit="kW", voltage_v=V, group_max_w=66_000)


def test_a_valid_profile_in_amperes_passes() -> None:
    validate(
        [an_interval(0, 15, 100), an_interval(15, 75, 80), an_interval(75, 76, 0)],
        kind="limit",
        unit="A",
        voltage_v=V,
        group_max_w=66_000,
    )
