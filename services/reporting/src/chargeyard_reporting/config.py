from chargeyard_platform.auth import CallerSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class Settings(CallerSettings):
    model_config = SettingsConfigDict(env_prefix="REPORTING_", extra="ignore", frozen=True)

    http_port: int = 8006
    # CO2 avoided: defaults for the report's parameters (each can be given per request).
    grid_g_co2_per_kwh: float = Field(
        default=380.0, ge=0, description="Grid intensity, g CO2 per kWh (Germany 2023: about 380)"
    )
    petrol_g_co2_per_km: float = Field(default=164.0, ge=0, description="Reference petrol car, g CO2 per km")
    diesel_g_co2_per_km: float = Field(default=156.0, ge=0, description="Reference diesel car, g CO2 per km")
    ev_kwh_per_100km: float = Field(default=18.0, gt=0, description="The EV's consumption, kWh per 100 km")
