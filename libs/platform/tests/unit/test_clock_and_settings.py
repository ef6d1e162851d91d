import time
from datetime import UTC, datetime, timedelta

import pytest
from chargeyard_platform.clock import SimulatedClock, SystemClock
from chargeyard_platform.settings import ServiceSettings
from pydantic import ValidationError

START = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)


def test_a_simulated_clock_runs_at_its_speed_from_its_start() -> None:
    epoch = time.monotonic()
    clock = SimulatedClock(START, speed=3600, epoch_monotonic=epoch - 2.0)  # two real seconds ago
    assert START + timedelta(hours=2) <= clock.now() < START + timedelta(hours=2, minutes=5)


def test_two_processes_given_the_same_start_and_epoch_agree() -> None:
    epoch = time.monotonic()
    a = SimulatedClock(START, speed=60, epoch_monotonic=epoch)
    b = SimulatedClock(START, speed=60, epoch_monotonic=epoch)
    assert abs((a.now() - b.now()).total_seconds()) < 1.0  # 60 x the microseconds between the calls


def test_a_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SimulatedClock(datetime(2026, 3, 29), speed=1)


def test_settings_build_the_clock_they_describe() -> None:
    simulated = ServiceSettings(database_url="sqlite+aiosqlite:///x.db", http_port=1, clock_start=START, clock_speed=60)
    assert isinstance(simulated.clock(), SimulatedClock)
    assert isinstance(ServiceSettings(database_url="sqlite+aiosqlite:///x.db", http_port=1).clock(), SystemClock)


def test_an_unknown_database_scheme_is_refused_with_the_fix() -> None:
    with pytest.raises(ValidationError, match="postgresql\\+asyncpg://"):
        ServiceSettings(database_url="mysql://root@localhost/x", http_port=1)


def test_placeholder_secrets_are_refused_in_prod_only() -> None:
    dev = ServiceSettings(database_url="sqlite+aiosqlite:///x.db", http_port=1)
    dev.refuse_placeholders(jwt_secret="change-me")
    prod = ServiceSettings(database_url="sqlite+aiosqlite:///x.db", http_port=1, profile="prod")
    with pytest.raises(ValueError, match="jwt_secret"):
        prod.refuse_placeholders(jwt_secret="change-me")
