"""The demand model against hand-computed values (README "Demand model")."""

from __future__ import annotations

import pytest
from chargeyard_scheduler.domain.demand import Trip, needed_wh, temperature_factor


def test_mild_weather_is_the_rated_consumption_plus_the_margin() -> None:
    # 100 km x 180 Wh/km = 18 kWh; +10 % margin = 19.8 kWh.
    trip = Trip(energy_wh=1, distance_km=100, consumption_wh_per_100km=18_000, outside_temperature_c=20)
    assert needed_wh(trip) == 19_800
    assert needed_wh(Trip(energy_wh=1, distance_km=100, consumption_wh_per_100km=18_000)) == 19_800


@pytest.mark.parametrize(
    ("celsius", "factor"),
    [(-6.7, 1.69), (24, 1.0), (15, 1.0), (35, 1.20), (-30, 2.27), (50, 1.38), (4.15, 1.345), (29.5, 1.10)],
)
def test_temperature_factor_follows_the_measured_points(celsius: float, factor: float) -> None:
    assert temperature_factor(celsius) == pytest.approx(factor, abs=1e-3)


def test_cold_and_heat_need_more_energy_than_mild_weather() -> None:
    def at(celsius: float) -> int:
        return needed_wh(
            Trip(energy_wh=1, distance_km=100, consumption_wh_per_100km=18_000, outside_temperature_c=celsius)
        )

    assert at(-6.7) == 33_462  # 18 kWh x 1.69 x 1.1
    assert at(35) == 23_760  # 18 kWh x 1.20 x 1.1
    assert at(-6.7) > at(35) > at(20)


def test_without_a_distance_the_requested_energy_is_planned() -> None:
    assert needed_wh(Trip(energy_wh=12_345)) == 12_345


def test_a_reported_state_of_charge_counts_what_is_in_the_battery() -> None:
    # 60 kWh battery at 50 % = 30 kWh in it. Trip: 200 km x 180 Wh/km x 1.1 = 39.6 kWh grid-side,
    # 35.64 kWh in the battery; + 10 % reserve (6 kWh) - 30 kWh = 11.64 kWh lacking; / 0.9 = 12.933 kWh.
    trip = Trip(
        energy_wh=1, distance_km=200, consumption_wh_per_100km=18_000, soc_percent=50, battery_capacity_wh=60_000
    )
    assert needed_wh(trip) == 12_934
    # A full enough battery needs nothing.
    assert (
        needed_wh(
            Trip(
                energy_wh=1, distance_km=20, consumption_wh_per_100km=18_000, soc_percent=90, battery_capacity_wh=60_000
            )
        )
        == 0
    )


def test_the_battery_headroom_and_the_cars_own_request_cap_the_need() -> None:
    # 40 kWh asked, but a 50 kWh battery at 80 % takes 10 kWh (11.112 kWh grid-side) at most.
    assert needed_wh(Trip(energy_wh=40_000, soc_percent=80, battery_capacity_wh=50_000)) == 11_112
    assert needed_wh(Trip(energy_wh=40_000, ev_requested_wh=9_000)) == 9_000


@pytest.mark.parametrize(
    "bad",
    [
        dict(energy_wh=-1),
        dict(energy_wh=1, distance_km=-5, consumption_wh_per_100km=18_000),
        dict(energy_wh=1, distance_km=5),
        dict(energy_wh=1, soc_percent=120),
    ],
)
def test_bad_trips_are_refused_with_the_field_named(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError) as refused:
        Trip(**bad)  # type: ignore[arg-type]
    assert any(name in str(refused.value) for name in bad if name != "energy_wh") or "energy_wh" in str(refused.value)
