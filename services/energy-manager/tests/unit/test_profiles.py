from datetime import UTC, datetime, timedelta

from chargeyard_contracts import PlannedCharge, PlannedSlot, ProfilePurpose, ScheduleUpdated
from chargeyard_energy.domain.profiles import (
    Evse,
    PlannedProfile,
    periods_from_steps,
    profiles_for_plan,
    steps_from_slots,
)
from chargeyard_energy.domain.transitions import Step, StepFunction

T0 = datetime(2026, 11, 21, 8, tzinfo=UTC)
Q = timedelta(minutes=15)
NO_DELAY = timedelta(0)


def a_plan(*charges: PlannedCharge) -> ScheduleUpdated:
    return ScheduleUpdated(
        site_id="site-1",
        plan_id="p1",
        time_zone="Europe/Berlin",
        horizon_start=T0,
        horizon_end=T0 + 8 * Q,
        slot_seconds=900,
        site_limit_w=22_000,
        strategy="fcfs",
        charges=charges,
        solver_status="Optimal",
        solve_ms=5,
    )


def a_charge(station: str, evse: int, powers: list[int], first_slot: int = 0) -> PlannedCharge:
    return PlannedCharge(
        reservation_id=f"r-{station}-{first_slot}",
        station_id=station,
        evse_id=evse,
        planned_start=T0,
        planned_finish=T0,
        energy_wh=1,
        requested_wh=1,
        slots=tuple(
            PlannedSlot(start=T0 + (first_slot + i) * Q, end=T0 + (first_slot + i + 1) * Q, power_w=p)
            for i, p in enumerate(powers)
        ),
    )


def periods(planned: PlannedProfile) -> list[tuple[int, float]]:
    return [(p.start_offset_s, p.limit) for p in planned.profile.periods]


def steady(limit: int) -> StepFunction:
    return StepFunction([], before=limit)


def test_equal_neighbours_merge_and_the_profile_ends_at_zero() -> None:
    (planned,) = profiles_for_plan(
        a_plan(a_charge("CP-1", 1, [7000, 7000, 3000])),
        [Evse("CP-1", 1)],
        T0,
        {Evse("CP-1", 1): steady(7000)},
        NO_DELAY,
    )
    assert periods(planned) == [(0, 7000), (1800, 3000), (2700, 0)]


def test_gap_before_the_first_slot_is_zero() -> None:
    (planned,) = profiles_for_plan(
        a_plan(a_charge("CP-1", 1, [5000], 2)), [Evse("CP-1", 1)], T0, {Evse("CP-1", 1): steady(0)}, NO_DELAY
    )
    assert periods(planned) == [(0, 0), (1800, 5000), (2700, 0)]


def test_a_plan_already_begun_starts_at_offset_zero() -> None:
    now = T0 + timedelta(minutes=5)
    (planned,) = profiles_for_plan(
        a_plan(a_charge("CP-1", 1, [4000, 6000])), [Evse("CP-1", 1)], now, {Evse("CP-1", 1): steady(4000)}, NO_DELAY
    )
    assert periods(planned) == [(0, 4000), (600, 6000), (1500, 0)]


def test_every_evse_of_the_site_gets_a_profile_idle_ones_at_zero() -> None:
    plan = a_plan(a_charge("CP-1", 1, [11000, 11000]))
    planned = profiles_for_plan(plan, [Evse("CP-1", 1), Evse("CP-2", 1), Evse("CP-2", 2)], T0, {}, NO_DELAY)
    assert [(p.profile.station_id, p.profile.evse_id) for p in planned] == [("CP-1", 1), ("CP-2", 1), ("CP-2", 2)]
    assert periods(planned[1]) == [(0, 0)]
    assert all(p.profile.purpose is ProfilePurpose.TX_DEFAULT and p.profile.stack_level == 2 for p in planned)
    assert planned[1].profile.profile_id != planned[2].profile.profile_id


def test_two_cars_after_each_other_on_one_evse_share_its_profile() -> None:
    plan = a_plan(a_charge("CP-1", 1, [7000], 0), a_charge("CP-1", 1, [3000], 2))
    (planned,) = profiles_for_plan(plan, [Evse("CP-1", 1)], T0, {Evse("CP-1", 1): steady(7000)}, NO_DELAY)
    assert periods(planned) == [(0, 7000), (900, 0), (1800, 3000), (2700, 0)]


def test_increases_wait_for_the_delay_decreases_do_not() -> None:
    plan = a_plan(a_charge("CP-1", 1, [3000, 11000, 2000]))
    (planned,) = profiles_for_plan(plan, [Evse("CP-1", 1)], T0, {Evse("CP-1", 1): steady(0)}, timedelta(seconds=20))
    assert periods(planned) == [(0, 0), (20, 3000), (920, 11000), (1800, 2000), (2700, 0)]


def test_slots_back_to_back_keep_their_power_at_the_seam() -> None:
    steps = steps_from_slots([(T0, T0 + Q, 5000), (T0 + Q, T0 + 2 * Q, 6000)])
    assert steps.at(T0 + Q) == 6000
    assert steps.at(T0 + 2 * Q) == 0


def offsets(steps: list[tuple[float, int]]) -> list[tuple[int, float]]:
    periods = periods_from_steps(T0, [Step(T0 + timedelta(seconds=t), w) for t, w in steps])
    return [(p.start_offset_s, p.limit) for p in periods]


def test_an_increase_a_fraction_of_a_second_after_a_step_is_kept_on_the_next_whole_second() -> None:
    # A safe transition held the EVSE at 0 W until 23 ms after the profile's start; the 11 kW that
    # follows must not be merged into the 0 W second (it once was, and the car never charged).
    assert offsets([(0, 0), (0.023, 11_000), (1799.1, 6_860)]) == [(0, 0), (1, 11_000), (1799, 6_860)]


def test_a_decrease_moves_to_the_whole_second_before_it() -> None:
    assert offsets([(0, 11_000), (10.5, 4_000)]) == [(0, 11_000), (10, 4_000)]


def test_a_second_holds_the_lowest_limit_in_force_during_it() -> None:
    assert offsets([(0, 0), (0.2, 11_000), (0.5, 5_000), (3, 7_000)]) == [(0, 0), (1, 5_000), (3, 7_000)]
    assert offsets([(-30, 8_000), (2, 8_000)]) == [(0, 8_000)]
    assert offsets([(5, 3_000)]) == [(0, 0), (5, 3_000)]
