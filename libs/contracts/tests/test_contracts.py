from datetime import UTC, datetime, timedelta, timezone

import pytest
from chargeyard_contracts import (
    TOPICS,
    Envelope,
    ReservationCreated,
    SchedulePeriod,
    SetChargingProfile,
    StationCommandIssued,
    decode,
    registration_for,
)
from chargeyard_contracts.commands import ProfilePurpose
from chargeyard_contracts.registry import SERVICES
from pydantic import ValidationError

NOW = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)


def a_reservation(**changes: object) -> ReservationCreated:
    fields: dict[str, object] = dict(
        reservation_id="r-1",
        site_id="site-1",
        arrival=NOW,
        departure=NOW + timedelta(hours=8),
        energy_wh=20_000,
        max_power_w=11_000,
        created_at=NOW,
    )
    fields.update(changes)
    return ReservationCreated.model_validate(fields)


def test_envelope_round_trip_keeps_payload_and_key() -> None:
    event = a_reservation()
    envelope = Envelope.wrap(event, source="reservation-api", occurred_at=NOW)
    again = Envelope.model_validate_json(envelope.model_dump_json())
    assert again.key == "site-1"
    assert again.type == "ReservationCreated"
    assert decode(again) == event


def test_a_wrapped_envelope_is_what_validation_would_have_built() -> None:
    # wrap() skips validating again (model_construct); what it builds must be what validating the
    # same fields gives, the time in UTC.
    event = a_reservation()
    envelope = Envelope.wrap(
        event, source="reservation-api", occurred_at=datetime(2026, 3, 29, 2, 30, tzinfo=timezone(timedelta(hours=2)))
    )
    assert envelope == Envelope.model_validate(envelope.model_dump())
    assert envelope == Envelope.model_validate_json(envelope.model_dump_json())
    assert envelope.occurred_at == NOW and envelope.occurred_at.tzinfo is UTC


def test_wrap_json_is_the_json_of_wrap() -> None:
    # The outbox stores wrap_json's text; consumers read it as the Envelope that wrap builds.
    event = a_reservation(arrival="2026-03-29T03:00:00+02:00")
    event_id, key, text = Envelope.wrap_json(event, source="reservation-api", occurred_at=NOW, correlation_id="c-1")
    same = Envelope.wrap(event, source="reservation-api", occurred_at=NOW, correlation_id="c-1", event_id=event_id)
    assert text == same.model_dump_json()
    assert key == same.key == "site-1"
    assert decode(Envelope.model_validate_json(text)) == event


def test_wrap_refuses_a_naive_time_and_an_empty_source() -> None:
    with pytest.raises(ValueError, match="offset"):
        Envelope.wrap(a_reservation(), source="reservation-api", occurred_at=datetime(2026, 3, 29))
    with pytest.raises(ValueError, match="source"):
        Envelope.wrap(a_reservation(), source="", occurred_at=NOW)


def test_times_with_any_offset_become_utc() -> None:
    event = a_reservation(arrival="2026-03-29T03:00:00+02:00")
    assert event.arrival == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert event.arrival.utcoffset() == timedelta(0)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValidationError, match="arrival"):
        a_reservation(arrival="2026-03-29T03:00:00")


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="colour"):
        a_reservation(colour="red")


def test_departure_before_arrival_is_refused() -> None:
    with pytest.raises(ValidationError, match="departure must be after arrival"):
        a_reservation(departure=NOW - timedelta(minutes=1))


def test_every_topic_has_publishers_that_exist_and_a_key_field_on_each_model() -> None:
    for topic in TOPICS.values():
        assert topic.publishers <= set(SERVICES), topic.name
        for model in topic.models:
            assert topic.key_field in model.model_fields, (topic.name, model.__name__)


def test_station_command_payload_must_name_the_same_station() -> None:
    profile = SetChargingProfile(
        station_id="CP-2",
        evse_id=1,
        profile_id=1,
        purpose=ProfilePurpose.TX_DEFAULT,
        stack_level=2,
        unit="W",
        start=NOW,
        periods=(SchedulePeriod(start_offset_s=0, limit=7400),),
    )
    with pytest.raises(ValidationError, match="station_id"):
        StationCommandIssued(command_id="c1", station_id="CP-1", command=profile)


def test_schedule_periods_must_start_at_zero_and_increase() -> None:
    with pytest.raises(ValidationError, match="strictly increasing"):
        SetChargingProfile(
            station_id="CP-1",
            evse_id=1,
            profile_id=1,
            purpose=ProfilePurpose.TX_DEFAULT,
            stack_level=2,
            unit="A",
            start=NOW,
            periods=(SchedulePeriod(start_offset_s=0, limit=16), SchedulePeriod(start_offset_s=0, limit=10)),
        )


def test_newer_schema_version_than_known_is_refused() -> None:
    envelope = Envelope.wrap(a_reservation(), source="reservation-api", occurred_at=NOW)
    newer = envelope.model_copy(update={"schema_version": 2})
    with pytest.raises(ValueError, match="newer"):
        decode(newer)


def test_unknown_type_is_refused() -> None:
    with pytest.raises(LookupError):
        registration_for("ReservationTeleported")


def test_committed_schemas_match_the_models() -> None:
    import json
    from pathlib import Path

    from chargeyard_contracts.schema import asyncapi, json_schemas

    directory = Path(__file__).parents[1] / "schemas"
    for name, schema in json_schemas().items():
        committed = json.loads((directory / f"{name}.schema.json").read_text())
        assert committed == schema, f"{name}: run `make schemas`"
    assert json.loads((directory / "asyncapi.json").read_text()) == asyncapi(), "run `make schemas`"
