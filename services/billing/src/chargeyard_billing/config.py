from chargeyard_platform.auth import CallerSettings
from pydantic_settings import SettingsConfigDict


class Settings(CallerSettings):
    model_config = SettingsConfigDict(env_prefix="BILLING_", extra="ignore", frozen=True)

    http_port: int = 8005
