"""Utilisation and availability from status changes, including unknown time and station-level faults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chargeyard_reporting.domain.timeline import Change, availability, utilisation

T0 = datetime(2026, 3, 10, 8, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_utilisation_counts_only_known_time_and_clips_to_the_window() -> None:
    changes = [
        Change(at(30), "Available"),
        Change(at(60), "Charging"),
        Change(at(90), "SuspendedEV"),
        Change(at(120), "Available"),
    ]
    u = utilisation(changes, at(0), at(150))
    assert (u.known_s, u.in_use_s, u.charging_s) == (120 * 60, 60 * 60, 30 * 60)
    assert u.share == 0.5
    assert utilisation(changes, at(100), at(110)).share == 1.0
    assert utilisation([], at(0), at(10)).share is None


def test_a_station_is_available_while_one_connector_is_and_the_station_is_not_down() -> None:
    one = [Change(at(0), "Available"), Change(at(60), "Faulted")]
    two = [Change(at(0), "Charging"), Change(at(90), "Faulted"), Change(at(100), "Available")]
    station = [Change(at(0), "Available"), Change(at(110), "Unavailable"), Change(at(115), "Available")]
    a = availability(station, [one, two], at(0), at(120))
    # down 90 → 100 (both connectors faulted) and 110 → 115 (the station as a whole)
    assert (a.known_s, a.available_s) == (120 * 60, 105 * 60)
