from datetime import UTC, datetime, timedelta

import pytest
from chargeyard_notifier.config import Settings
from chargeyard_notifier.domain.messages import Kind, conflict_offer, station_alert
from chargeyard_platform.webhooks import next_attempt, retryable_status, sign, verify
from pydantic import ValidationError

NOW = datetime(2026, 3, 10, 21, 30, tzinfo=UTC)


def test_a_signature_is_an_hmac_of_the_time_and_the_body() -> None:
    header = sign("key", b'{"a":1}', NOW)
    # printf '%s' '1773178200.{"a":1}' | openssl dgst -sha256 -hmac key
    assert header == "t=1773178200,v1=99cd9865bf7c9eff38fdbdd557784e263eb7e161cc7f3368da3b2f2c7ec5800d"
    assert verify("key", b'{"a":1}', header, NOW)
    assert not verify("key", b'{"a":2}', header, NOW)  # another body
    assert not verify("other", b'{"a":1}', header, NOW)  # another key
    assert not verify("key", b'{"a":1}', header, NOW + timedelta(minutes=6))  # too old: a replay
    assert not verify("key", b'{"a":1}', "garbage", NOW)


def test_retries_back_off_exponentially_up_to_a_cap() -> None:
    waits = [(next_attempt(NOW, n, 2.0, 60.0) - NOW).total_seconds() for n in range(1, 8)]
    assert waits == [2, 4, 8, 16, 32, 60, 60]


@pytest.mark.parametrize(
    ("status", "again"), [(500, True), (503, True), (408, True), (429, True), (400, False), (410, False)]
)
def test_which_webhook_answers_are_worth_another_try(status: int, again: bool) -> None:
    assert retryable_status(status) is again


def test_a_conflict_offer_names_both_choices_even_without_an_estimate() -> None:
    offer = conflict_offer(
        "r-1", departure=NOW, requested_wh=40_000, deliverable_wh=None, full_charge_finish=None, tz="Europe/Berlin"
    )
    assert offer.kind is Kind.CONFLICT
    assert [c["choice"] for c in offer.data["choices"]] == ["full_charge_later", "less_charge_on_time"]  # type: ignore[index, union-attr]
    assert "2026-03-10 22:30 Europe/Berlin" in offer.subject


def test_offline_is_its_own_alert() -> None:
    assert station_alert("CP-1", 0, "Offline", None, None).kind is Kind.ALERT_STATION_OFFLINE
    assert (
        station_alert("CP-1", 2, "Faulted", "OverVoltage", None).subject
        == "Station CP-1 EVSE 2 is faulted (OverVoltage)"
    )


def test_settings_check_operator_addresses_and_refuse_placeholders_in_prod() -> None:
    base = {"database_url": "sqlite+aiosqlite:///x.db"}
    assert Settings(**base, operator_emails="a@x.org, b@y.org").operator_emails == ["a@x.org", "b@y.org"]  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="not e-mail addresses: nobody"):
        Settings(**base, operator_emails="a@x.org,nobody")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="placeholder secrets"):
        Settings(**base, profile="prod", jwt_secret="change-me", reservations_api_key="k" * 40)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="32 characters"):
        Settings(**base, profile="prod", jwt_secret="short-but-no-placeholder", reservations_api_key="k" * 40)  # type: ignore[arg-type]
