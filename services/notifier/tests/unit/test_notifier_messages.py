from datetime import UTC, datetime

from chargeyard_notifier.domain.messages import (
    OPERATOR,
    PlannedCharge,
    recipient_of,
    requested_subject,
    scheduled_subject,
)


def a_charge(**changes: object) -> PlannedCharge:
    fields: dict[str, object] = {
        "station_id": "CP-1",
        "evse_id": 2,
        "connector_id": 1,
        "planned_start": datetime(2025, 7, 1, 7, 0, tzinfo=UTC),
        "planned_finish": datetime(2025, 7, 1, 9, 30, tzinfo=UTC),
        "energy_wh": 22_050,
        "requested_wh": 22_050,
    }
    return PlannedCharge(**{**fields, **changes})  # type: ignore[arg-type]


def test_reservations_without_a_driver_go_to_the_operator() -> None:
    assert recipient_of(None) == OPERATOR == "operator"
    assert recipient_of("driver-1") == "driver-1"


def test_scheduled_times_are_shown_in_the_site_time_zone() -> None:
    # 07:00 UTC is 09:00 in Berlin in summer (CEST, UTC+2).
    assert scheduled_subject(a_charge(), "Europe/Berlin") == (
        "Charging at CP-1 (EVSE 2, connector 1) from 2025-07-01 09:00 to 2025-07-01 11:30 Europe/Berlin: 22.1 kWh"
    )


def test_a_short_plan_says_so() -> None:
    text = scheduled_subject(a_charge(energy_wh=10_000, requested_wh=30_000, planned_start=None), "UTC")
    assert text == (
        "Charging at CP-1 (EVSE 2, connector 1): 10.0 kWh, no time slot yet of the 30.0 kWh requested "
        "(the site cannot deliver more before departure)"
    )


def test_requested_subject() -> None:
    assert (
        requested_subject("res-1", 30_000, datetime(2025, 3, 3, 17, 0, tzinfo=UTC))
        == "Reservation res-1 received: 30.0 kWh by 2025-03-03 17:00 UTC"
    )
