"""The service's need per reservation: what the demand model makes of a reservation's row."""

from types import SimpleNamespace
from typing import Any

from chargeyard_scheduler.adapters.planning import need_of

SETTINGS: Any = SimpleNamespace(demand_margin=0.1, reserve_soc=0.1)


def a_row(**values: Any) -> Any:
    row = dict(
        energy_wh=4_000,
        distance_km=None,
        consumption_wh_per_100km=None,
        outside_temperature_c=None,
        soc_percent=None,
        battery_capacity_wh=None,
        full_soc_percent=None,
        ev_requested_wh=None,
        soc_delivered_wh=None,
    )
    row.update(values)
    return SimpleNamespace(**row)


def test_state_of_charge_readings_do_not_grow_an_energy_asked_for() -> None:
    # The car reports its state of charge while it charges: 2.5 kWh in, 4 kWh asked for in all.
    # (Adding the reading's delivered energy to the energy asked for kept every car short of its
    # need: the first-path e2e saw conflicts and default decisions for cars on plan.)
    row = a_row(soc_percent=24.2, battery_capacity_wh=60_000, soc_delivered_wh=2_500)
    assert need_of(row, SETTINGS) == 4_000


def test_a_nearly_full_battery_caps_an_energy_asked_for() -> None:
    row = a_row(soc_percent=98, battery_capacity_wh=60_000, soc_delivered_wh=1_000)
    assert need_of(row, SETTINGS) == 1_000 + 1_334  # 1.2 kWh of room at 90 % efficiency, rounded up


def test_a_trip_counts_from_the_reading() -> None:
    # 100 km at 18 kWh/100 km, 10 % margin: 19.8 kWh at the connector; the battery holds 30 of 60 kWh
    # with a 10 % reserve: (19.8 x 0.9 + 6 - 18) / 0.9 = 6,467 Wh still needed after the 5 kWh delivered.
    row = a_row(
        distance_km=100,
        consumption_wh_per_100km=18_000,
        soc_percent=30,
        battery_capacity_wh=60_000,
        soc_delivered_wh=5_000,
    )
    assert need_of(row, SETTINGS) == 5_000 + 6_467
