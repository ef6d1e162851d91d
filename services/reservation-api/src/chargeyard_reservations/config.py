from __future__ import annotations

from chargeyard_platform.settings import Profile, ServiceSettings
from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from .domain.access import Role


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RESERVATIONS_", extra="ignore", frozen=True, populate_by_name=True)

    http_port: int = 8000
    default_site_id: str = "site-1"
    default_time_zone: str = Field(
        default="Europe/Berlin", description="A site's time zone until the energy manager's topology names it"
    )
    public_url: str = Field(default="http://127.0.0.1:8000", description="Base URL printed into connector QR codes")

    admin_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("RESERVATIONS_ADMIN_TOKEN", "CHARGEYARD_ADMIN_TOKEN"),
        description="API key of the administrator made at start; dev: generated and printed when unset",
    )
    admin_tenant_id: str = "default"
    jwt_secret: SecretStr | None = Field(
        default=None, description="HS256 key for bearer tokens; dev: random per process when unset"
    )
    jwt_ttl_s: int = Field(default=3600, ge=60)
    jwt_issuer: str = "chargeyard-reservation-api"

    rate_limit_per_minute: int = Field(default=600, ge=1, description="Requests per minute per API key or user")
    login_attempts_per_minute: int = Field(default=10, ge=1, description="Per user name and per client address")

    no_show_grace_s: int = Field(default=900, ge=0, description="After the arrival time, before the slot is released")
    decision_timeout_s: int = Field(default=900, ge=0, description="How long a driver has to answer a conflict")
    default_decision: str = Field(default="less_charge_on_time", pattern="^(full_charge_later|less_charge_on_time)$")
    ad_hoc_hours: float = Field(default=8.0, gt=0, description="Departure of an ad hoc reservation after plug-in")
    ad_hoc_energy_wh: int = Field(default=20_000, gt=0)
    sweep_interval_s: float = Field(default=30.0, gt=0, description="How often no-shows and time-outs are looked for")

    webhook_interval_s: float = Field(default=1.0, gt=0, description="How often due webhook deliveries are sent")
    webhook_timeout_s: float = Field(default=5.0, gt=0, description="Per webhook request")
    webhook_max_attempts: int = Field(default=8, ge=1, description="Then the delivery is marked failed")
    webhook_retry_base_s: float = Field(default=2.0, gt=0, description="First retry after this; doubled each time")
    webhook_retry_max_s: float = Field(default=900.0, gt=0)
    webhook_batch: int = Field(default=50, ge=1, description="Deliveries sent per round")

    @model_validator(mode="after")
    def _secrets(self) -> Settings:
        self.refuse_placeholders(
            admin_token=None if self.admin_token is None else self.admin_token.get_secret_value(),
            jwt_secret=None if self.jwt_secret is None else self.jwt_secret.get_secret_value(),
        )
        if self.profile is Profile.PROD and self.jwt_secret is not None and len(self.jwt_secret) < 32:
            raise ValueError("jwt_secret must have at least 32 characters in the prod profile")
        return self


ADMIN_ROLES = frozenset({Role.ADMINISTRATOR})
