from __future__ import annotations

import re
from typing import Annotated

from chargeyard_platform.settings import Profile, ServiceSettings
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+$"


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore", frozen=True, populate_by_name=True)

    http_port: int = 8004

    # Who a caller is. The reservation API issues the tokens; the notifier checks JWTs with the
    # same HS256 key (one secret, two readers) and asks the reservation API about API keys, whose
    # hashes only it holds.
    jwt_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("NOTIFIER_JWT_SECRET", "RESERVATIONS_JWT_SECRET"),
        description="The reservation API's HS256 key (RESERVATIONS_JWT_SECRET); unset: JWTs are refused",
    )
    jwt_issuer: str = "chargeyard-reservation-api"

    # Contact details: events carry pseudonyms only; addresses come from the reservation API.
    reservations_url: str = Field(default="http://127.0.0.1:8000", description="Base URL of the reservation API")
    reservations_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "NOTIFIER_RESERVATIONS_API_KEY", "RESERVATIONS_ADMIN_TOKEN", "CHARGEYARD_ADMIN_TOKEN"
        ),
        description="An API key with fleet:read and users:manage, for drivers' e-mail addresses",
    )
    contacts_ttl_s: float = Field(default=300.0, gt=0, description="How long a looked-up address is trusted")

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = Field(default="Chargeyard <noreply@chargeyard.invalid>")
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout_s: float = Field(default=10.0, gt=0)

    operator_emails: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated addresses that receive operator alerts"
    )

    webhook_timeout_s: float = Field(default=5.0, gt=0)
    dispatch_interval_s: float = Field(default=0.5, gt=0, description="How often pending e-mails and webhooks go out")
    max_attempts: int = Field(default=6, ge=1, description="Per e-mail or webhook, then it is marked failed")
    retry_base_s: float = Field(default=2.0, gt=0, description="First retry after this; doubled each time")
    retry_max_s: float = Field(default=600.0, gt=0)

    stream_poll_s: float = Field(default=0.5, gt=0, description="How often an open push stream looks for news")
    stream_ping_s: float = Field(default=15.0, gt=0, description="Keep-alive comment on an idle push stream")

    @field_validator("operator_emails", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("operator_emails")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not re.match(EMAIL_PATTERN, v)]
        if bad:
            raise ValueError(f"not e-mail addresses: {', '.join(bad)}")
        return value

    @model_validator(mode="after")
    def _secrets(self) -> Settings:
        self.refuse_placeholders(
            jwt_secret=None if self.jwt_secret is None else self.jwt_secret.get_secret_value(),
            reservations_api_key=(
                None if self.reservations_api_key is None else self.reservations_api_key.get_secret_value()
            ),
        )
        if self.profile is Profile.PROD and self.jwt_secret is not None and len(self.jwt_secret) < 32:
            raise ValueError("jwt_secret must have at least 32 characters in the prod profile")
        return self
