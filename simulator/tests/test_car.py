from __future__ import annotations

import pytest
from chargeyard_simulator.car import Car, EvseHardware, compute_draw, scale_draw, watts_for


def test_acceptance_is_flat_below_80_percent_then_tapers_to_10_percent() -> None:
    car = Car(battery_wh=60_000, soc_percent=50, max_power_w=11_000)
    assert car.acceptance_w() == 11_000
    car.soc_percent = 80
    assert car.acceptance_w() == 11_000
    car.soc_percent = 90
    assert car.acceptance_w() == pytest.approx(11_000 * 0.55)
    car.soc_percent = 99.99
    assert car.acceptance_w() == pytest.approx(11_000 * 0.10, rel=0.01)


def test_car_stops_at_target_soc() -> None:
    car = Car(battery_wh=50_000, soc_percent=78, max_power_w=11_000, phases=3, target_soc=80)
    taken = car.charge(11_000, 3600)  # would be 11 kWh, only 1 kWh fits
    assert taken == pytest.approx(1_000)
    assert car.soc_percent == 80
    assert car.full
    assert car.acceptance_w() == 0
    assert car.charge(11_000, 60) == 0


def test_charge_accumulates_soc() -> None:
    car = Car(battery_wh=40_000, soc_percent=10, max_power_w=7_400, phases=1)
    assert car.charge(4_000, 1800) == pytest.approx(2_000)
    assert car.soc_percent == pytest.approx(15)


def test_invalid_cars_are_refused() -> None:
    with pytest.raises(ValueError):
        Car(battery_wh=50_000, soc_percent=10, max_power_w=11_000, phases=2)
    with pytest.raises(ValueError):
        Car(battery_wh=0, soc_percent=10, max_power_w=11_000)
    with pytest.raises(ValueError):
        Car(battery_wh=50_000, soc_percent=120, max_power_w=11_000)


def test_draw_is_min_of_limit_car_and_evse() -> None:
    evse = EvseHardware(max_power_w=22_000, phases=3)
    car = Car(battery_wh=60_000, soc_percent=20, max_power_w=11_000)
    assert compute_draw(car, evse, None).total_w == pytest.approx(11_000)
    assert compute_draw(car, evse, 7_000).total_w == pytest.approx(7_000)
    big = Car(battery_wh=90_000, soc_percent=20, max_power_w=22_000)
    assert compute_draw(big, EvseHardware(max_power_w=11_000), None).total_w == pytest.approx(11_000)


def test_three_phase_draw_is_balanced() -> None:
    draw = compute_draw(Car(60_000, 20, 11_000, 3), EvseHardware(22_000), watts_for(10, 3))
    assert draw.total_w == pytest.approx(6_900)
    assert draw.phase_a == pytest.approx((10, 10, 10))
    assert draw.phase_w == pytest.approx((2_300, 2_300, 2_300))
    assert draw.phases_used == 3


def test_single_phase_car_draws_on_l1_only_and_is_capped_by_phase_rating() -> None:
    evse = EvseHardware(max_power_w=11_040, phases=3)  # 16 A per phase
    car = Car(battery_wh=40_000, soc_percent=20, max_power_w=7_400, phases=1)
    draw = compute_draw(car, evse, None)
    assert draw.phases_used == 1
    assert draw.phase_a[0] == pytest.approx(16)
    assert draw.phase_a[1:] == (0, 0)
    assert draw.total_w == pytest.approx(16 * 230)


def test_profile_number_phases_restricts_a_three_phase_car() -> None:
    draw = compute_draw(Car(60_000, 20, 11_040, 3), EvseHardware(11_040), watts_for(16, 1), limit_phases=1)
    assert draw.phases_used == 1
    assert draw.total_w == pytest.approx(16 * 230)


def test_offer_below_6_amps_suspends_the_car() -> None:
    car = Car(60_000, 20, 11_000, 3)
    draw = compute_draw(car, EvseHardware(11_000), watts_for(5, 3))
    assert draw.total_w == 0
    assert draw.suspended_by_evse
    assert compute_draw(car, EvseHardware(11_000), 0).total_w == 0


def test_taper_limits_draw_near_full() -> None:
    car = Car(60_000, 90, 11_000, 3)
    assert compute_draw(car, EvseHardware(22_000), None).total_w == pytest.approx(6_050)


def test_scale_draw_shares_power() -> None:
    draw = compute_draw(Car(60_000, 20, 11_000, 3), EvseHardware(11_000), None)
    half = scale_draw(draw, 0.5)
    assert half.total_w == pytest.approx(5_500)
    assert sum(half.phase_w) == pytest.approx(5_500)
