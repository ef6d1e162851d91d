"""The back office's settings (env prefix BACKOFFICE_). Every page reads and writes through the
other services' REST APIs with the signed-in user's bearer token; its own database holds only the
maintenance log, which no other service owns."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Profile(StrEnum):
    DEV = "dev"
    PROD = "prod"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BACKOFFICE_", extra="ignore", frozen=True)

    profile: Profile = Profile.DEV
    database_url: str = Field(
        description="The maintenance log: sqlite+aiosqlite:///var/db/backoffice.db or postgresql+asyncpg://..."
    )
    max_document_bytes: int = Field(default=10_000_000, gt=0, description="Largest document kept in the log")
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8007, ge=1, le=65535)
    log_level: str = "INFO"

    reservations_url: str = "http://127.0.0.1:8000"
    gateway_url: str = "http://127.0.0.1:8001"
    scheduler_url: str = "http://127.0.0.1:8002"
    energy_url: str = "http://127.0.0.1:8003"
    notifier_url: str = "http://127.0.0.1:8004"
    billing_url: str = "http://127.0.0.1:8005"
    reporting_url: str = "http://127.0.0.1:8006"

    default_site_id: str = "site-1"
    default_language: str = Field(default="en", pattern="^(en|de)$")
    live_interval_s: float = Field(default=2.0, gt=0, description="How often live parts of a page refresh")
    upstream_timeout_s: float = Field(default=5.0, gt=0)
    max_push_streams: int = Field(
        default=1000, gt=0, description="Drivers' notification streams relayed at once; more wait, then retry"
    )
    cookie_secure: bool | None = Field(
        default=None,
        description="Mark the session cookie Secure (HTTPS only); default: on in the prod profile",
    )

    @property
    def secure_cookies(self) -> bool:
        return self.cookie_secure if self.cookie_secure is not None else self.profile is Profile.PROD
