from __future__ import annotations

from chargeyard_platform.settings import Profile, ServiceSettings
from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ENERGY_", extra="ignore", frozen=True, populate_by_name=True)

    http_port: int = 8003

    # Who a caller is. The reservation API issues the tokens: JWTs are checked here with its HS256
    # key (one secret, several readers), API keys by asking it (GET /v1/me), whose hashes only it holds.
    jwt_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("ENERGY_JWT_SECRET", "RESERVATIONS_JWT_SECRET"),
        description="The reservation API's HS256 key (RESERVATIONS_JWT_SECRET); unset: JWTs are refused",
    )
    jwt_issuer: str = "chargeyard-reservation-api"
    reservations_url: str = Field(
        default="http://127.0.0.1:8000", description="Base URL of the reservation API, which knows the API keys"
    )
    api_key_ttl_s: float = Field(
        default=30.0, gt=0, description="How long the reservation API's answer about an API key is trusted"
    )
    default_site_id: str = "site-1"
    default_site_time_zone: str = "Europe/Berlin"
    default_site_limit_w: int = Field(default=44_000, gt=0)
    auto_place_stations: bool = Field(
        default=True, description="Dev: a station that registers is placed on the default site"
    )
    default_station_max_power_w: int = Field(default=11_000, gt=0)
    increase_delay_s: float = Field(
        default=10.0,
        ge=0,
        description="Clock seconds a limit increase waits, so decreases elsewhere take effect first",
    )
    capacity_threshold_w: int = Field(
        default=500,
        ge=0,
        description="A site's capacity is re-published (and re-planned) when it moves more than this",
    )
    watchdog_interval_s: float = Field(
        default=15.0,
        gt=0,
        description="Clock seconds between checks for silent building meters and fail-safe renewal",
    )
    allocation_interval_s: float = Field(
        default=300.0,
        gt=0,
        description="Clock seconds per capacity.allocation report of each group",
    )
    obey_tolerance_w: int = Field(
        default=300,
        ge=0,
        description="Metered draw this far above an EVSE's limit (or 5 %, if more) counts as not obeying",
    )
    obey_grace_s: float = Field(
        default=60.0,
        ge=0,
        description="Clock seconds a station has to follow a lower limit before it counts as lagging",
    )
    failsafe_refresh_s: float = Field(
        default=120.0,
        gt=0,
        description="Clock seconds after which fail-safe maxima follow the plans again",
    )

    @model_validator(mode="after")
    def _secrets(self) -> Settings:
        self.refuse_placeholders(jwt_secret=None if self.jwt_secret is None else self.jwt_secret.get_secret_value())
        if self.profile is Profile.PROD and self.jwt_secret is not None and len(self.jwt_secret) < 32:
            raise ValueError("jwt_secret must have at least 32 characters in the prod profile")
        return self
