from datetime import UTC, datetime, timedelta

from chargeyard_reporting.domain.deltas import Reading, deltas, register_delta, total_power_w
from chargeyard_reporting.domain.report import UNASSIGNED, SiteEnergy, StationEnergy, energy_by_site

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_consecutive_register_readings_give_their_difference() -> None:
    readings = [Reading(at(0), 1_000), Reading(at(15), 1_800), Reading(at(30), 3_000)]
    assert [d for _, d in deltas(readings)] == [0, 800, 1_200]


def test_readings_are_taken_in_time_order_not_arrival_order() -> None:
    readings = [Reading(at(30), 3_000), Reading(at(0), 1_000), Reading(at(15), 1_800)]
    assert [(r.wh, d) for r, d in deltas(readings)] == [(1_000, 0), (1_800, 800), (3_000, 1_200)]


def test_a_meter_reset_counts_nothing_across_the_gap_and_resumes_after() -> None:
    readings = [Reading(at(0), 50_000), Reading(at(15), 51_000), Reading(at(30), 20), Reading(at(45), 520)]
    assert [d for _, d in deltas(readings)] == [0, 1_000, 0, 500]


def test_the_first_reading_has_no_baseline() -> None:
    assert register_delta(None, 123_456) == 0


def test_power_is_the_total_or_the_sum_of_the_phases() -> None:
    assert total_power_w(7_000, [1, 2, 3]) == 7_000
    assert total_power_w(None, [2_300, None, 2_200]) == 4_500
    assert total_power_w(None, []) is None


def test_energy_by_site_puts_stations_without_a_topology_under_unassigned() -> None:
    report = energy_by_site(
        {"CP-1": 500, "CP-2": 300, "CP-9": 40},
        {"CP-1": "site-a", "CP-2": "site-a", "CP-3": "site-b"},
        known_stations=["CP-3"],
        known_sites=["site-c"],
    )
    assert report == [
        SiteEnergy("site-a", 800, (StationEnergy("CP-1", 500), StationEnergy("CP-2", 300))),
        SiteEnergy("site-b", 0, (StationEnergy("CP-3", 0),)),
        SiteEnergy("site-c", 0, ()),
        SiteEnergy(UNASSIGNED, 40, (StationEnergy("CP-9", 40),)),
    ]
