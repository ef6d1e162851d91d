from chargeyard_platform.auth import CallerSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class Settings(CallerSettings):
    model_config = SettingsConfigDict(env_prefix="SCHEDULER_", extra="ignore", frozen=True)

    http_port: int = 8002
    slot_seconds: int = Field(default=900, ge=60, le=3600, description="Plan slot length; 60 s up to 1 h")
    strategy: str = Field(default="fcfs", pattern="^(fcfs|economic|green)$")
    solver_time_limit_s: float = Field(default=10.0, gt=0)
    replan_interval_s: float = Field(default=300.0, gt=0, description="Clock seconds between routine re-plans")
    debounce_s: float = Field(default=0.2, ge=0, description="Real seconds of quiet after events before solving")
    debounce_max_s: float = Field(
        default=2.0, ge=0, description="Real seconds a steady stream of events may delay a re-plan at most"
    )
    demand_margin: float = Field(default=0.10, ge=0, le=1, description="Safety margin on a trip's energy")
    reserve_soc: float = Field(default=0.10, ge=0, le=1, description="State of charge left at the destination")
    conflict_extension_s: int = Field(
        default=8 * 3600, ge=900, description="How far 'full charge, later' may move a departure out"
    )
