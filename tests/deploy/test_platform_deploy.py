"""The platform pieces production needs: the idempotent-producer setting, placeholder database
passwords refused in prod, the bounded wait for the database, the migration step on its own."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from chargeyard_billing.config import Settings as BillingSettings
from chargeyard_platform import migrate, runtime
from chargeyard_platform.bus import kafka_producer
from chargeyard_platform.db import Database
from pydantic import ValidationError

PG = "postgresql+asyncpg://billing:{}@db.example:5432/chargeyard_billing"


@pytest.mark.asyncio
@pytest.mark.parametrize("idempotent", [True, False])
async def test_kafka_producer_idempotence_follows_the_setting(idempotent: bool) -> None:
    producer = kafka_producer("127.0.0.1:1", "test", idempotent=idempotent)
    # aiokafka keeps a transaction manager (producer id, sequence numbers) only when idempotent.
    assert (producer._txn_manager is not None) is idempotent


def test_kafka_idempotent_is_off_by_default_and_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_DATABASE_URL", "sqlite+aiosqlite:///:memory:")
    monkeypatch.delenv("BILLING_KAFKA_IDEMPOTENT", raising=False)
    assert BillingSettings().kafka_idempotent is False  # type: ignore[call-arg]
    monkeypatch.setenv("BILLING_KAFKA_IDEMPOTENT", "true")
    assert BillingSettings().kafka_idempotent is True  # type: ignore[call-arg]


@pytest.mark.parametrize("password", ["change-me", "CHANGEME", "secret", "dev"])
def test_prod_refuses_a_placeholder_database_password(password: str) -> None:
    with pytest.raises(ValidationError, match="placeholder password"):
        BillingSettings(profile="prod", database_url=PG.format(password))  # type: ignore[arg-type]
    BillingSettings(profile="dev", database_url=PG.format(password))  # type: ignore[arg-type]


def test_prod_accepts_a_real_password_or_none() -> None:
    # The prod profile also wants the reservation API's JWT key: billing checks its callers' tokens.
    jwt_secret = "a-real-jwt-key-of-at-least-thirty-two-characters"
    BillingSettings(
        profile="prod",  # type: ignore[arg-type]
        database_url=PG.format("w9f-Qa7-long-and-random"),
        jwt_secret=jwt_secret,  # type: ignore[arg-type]
    )
    BillingSettings(
        profile="prod",  # type: ignore[arg-type]
        database_url="postgresql+asyncpg://billing@db.example/chargeyard_billing",
        jwt_secret=jwt_secret,  # type: ignore[arg-type]
    )


def test_prod_refuses_billing_without_the_jwt_key() -> None:
    with pytest.raises(ValidationError, match="jwt_secret"):
        BillingSettings(profile="prod", database_url=PG.format("w9f-Qa7-long-and-random"))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="32 characters"):
        BillingSettings(
            profile="prod",  # type: ignore[arg-type]
            database_url=PG.format("w9f-Qa7-long-and-random"),
            jwt_secret="too-short-but-not-a-placeholder",  # type: ignore[arg-type]
        )


class FlakyDatabase:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.pings = 0

    async def ping(self) -> None:
        self.pings += 1
        if self.failures:
            raise self.failures.pop(0)


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    async def instant(_: float) -> None:
        return None

    monkeypatch.setattr(runtime.asyncio, "sleep", instant)


@pytest.mark.asyncio
async def test_wait_for_database_retries_until_it_answers_and_says_so(
    no_sleep: None, caplog: pytest.LogCaptureFixture
) -> None:
    db = FlakyDatabase([ConnectionRefusedError(111, "Connect call failed"), OSError("Name or service not known")])
    with caplog.at_level(logging.WARNING, logger="chargeyard_platform.runtime"):
        await runtime.wait_for_database(db, PG.format("hunter2-secret"))  # type: ignore[arg-type]
    assert db.pings == 3
    assert (
        "waiting for the database at postgresql+asyncpg://billing:***@db.example:5432/chargeyard_billing (attempt 1/30)"
    ) in caplog.text
    assert "hunter2" not in caplog.text


@pytest.mark.asyncio
async def test_wait_for_database_gives_up_after_its_attempts(no_sleep: None) -> None:
    db = FlakyDatabase([ConnectionRefusedError(111, "refused")] * 5)
    with pytest.raises(RuntimeError, match=r"gave up waiting for the database .* after 3 attempts"):
        await runtime.wait_for_database(db, PG.format("x"), attempts=3)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_wait_for_database_does_not_retry_what_waiting_cannot_fix(no_sleep: None) -> None:
    db = FlakyDatabase([ValueError("bad url")])
    with pytest.raises(ValueError, match="bad url"):
        await runtime.wait_for_database(db, PG.format("x"))  # type: ignore[arg-type]
    assert db.pings == 1


def test_the_migrate_command_brings_a_service_database_to_head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'billing.db'}"
    monkeypatch.setenv("BILLING_DATABASE_URL", url)
    monkeypatch.delenv("BILLING_PROFILE", raising=False)
    migrate.main(["chargeyard_billing"])

    async def tables() -> set[str]:
        db = Database.connect(url)
        try:
            async with db.engine.connect() as conn:
                return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
        finally:
            await db.dispose()

    assert {"outbox", "processed_events", "alembic_version"} <= asyncio.run(tables())


def test_the_migrate_command_rejects_a_package_without_migrations() -> None:
    with pytest.raises(ValueError, match="no migrations"):
        migrate.migrations_of("chargeyard_contracts")
