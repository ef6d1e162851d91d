"""The settings every service shares. Each service subclasses with its own env prefix."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AwareDatetime, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .clock import Clock, SimulatedClock, SystemClock

PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "secret", "dev", "dev-secret"})

# After a commit wakes the outbox relay, wait this long for more rows before publishing (fewer,
# larger passes under a steady trickle of events; 0 = publish at once). A service with its own
# default re-declares the field with this type.
OutboxLinger = Annotated[float, Field(ge=0, le=1.0)]


class Profile(StrEnum):
    DEV = "dev"
    PROD = "prod"


class ServiceSettings(BaseSettings):
    """Values without a default are required. Subclasses set env_prefix, e.g. SCHEDULER_."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    profile: Profile = Profile.DEV
    database_url: str = Field(
        description="sqlite+aiosqlite:///var/NAME.db (embedded) or postgresql+asyncpg://... (production)"
    )
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_group_id: str | None = Field(default=None, description="Defaults to the service name")
    kafka_idempotent: bool = Field(
        default=False, description="Idempotent producer: on with Apache Kafka; off for Tansu, which refuses it"
    )
    http_host: str = "127.0.0.1"
    http_port: int = Field(ge=1, le=65535)
    log_level: str = "INFO"
    clock_start: AwareDatetime | None = Field(
        default=None, description="Start of a simulated clock; unset = the real clock"
    )
    clock_speed: float = Field(default=1.0, gt=0, description="Simulated seconds per real second")
    clock_epoch: float | None = Field(
        default=None, description="time.monotonic() of clock_start, so processes started apart agree"
    )
    consumer_retries: int = Field(default=3, ge=0)
    outbox_poll_interval_s: float = Field(default=0.05, gt=0)
    outbox_linger_s: OutboxLinger = Field(default=0.0, description="Seconds the woken outbox relay waits for more rows")
    fault_kill_after_publish: int | None = Field(
        default=None, description="Fault injection for the kill test: SIGKILL after the n-th publish"
    )

    def clock(self) -> Clock:
        if self.clock_start is None:
            return SystemClock()
        return SimulatedClock(self.clock_start, self.clock_speed, epoch_monotonic=self.clock_epoch)

    def refuse_placeholders(self, **secrets: str | None) -> None:
        if self.profile is Profile.PROD:
            bad = [name for name, value in secrets.items() if value is None or value.lower() in PLACEHOLDER_SECRETS]
            if bad:
                raise ValueError(f"placeholder secrets are refused in the prod profile: {', '.join(bad)}")

    @model_validator(mode="after")
    def _database_scheme(self) -> ServiceSettings:
        if not self.database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("database_url must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        password = urlsplit(self.database_url).password
        if self.profile is Profile.PROD and password is not None and password.lower() in PLACEHOLDER_SECRETS:
            # The example secret files ship "change-me": a deployment that forgot to replace it fails here.
            raise ValueError("database_url carries a placeholder password, refused in the prod profile")
        return self
