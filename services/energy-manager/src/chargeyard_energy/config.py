from __future__ import annotations

from chargeyard_platform.auth import CallerSettings
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict


class Settings(CallerSettings):
    model_config = SettingsConfigDict(env_prefix="ENERGY_", extra="ignore", frozen=True, populate_by_name=True)

    http_port: int = 8003

    # Who a caller is (chargeyard_platform.auth.CallerSettings); the reservation API's own variable
    # for its key is read too.
    jwt_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("ENERGY_JWT_SECRET", "RESERVATIONS_JWT_SECRET"),
        description="The reservation API's HS256 key (RESERVATIONS_JWT_SECRET); unset: JWTs are refused",
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
