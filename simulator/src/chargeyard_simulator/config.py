"""Configuration of stations, cars and whole sites (loadable from JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .car import Car

OcppVersion = Literal["1.6", "2.0.1"]
RateUnitName = Literal["A", "W"]


def _both_rate_units() -> list[RateUnitName]:
    return ["A", "W"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Misbehaviour(_Model):
    """Ways a station can deviate from what the central system asks; all off by default."""

    reject_profiles: bool = False
    """Answer SetChargingProfile with Rejected."""
    ignore_profiles: bool = False
    """Accept and store profiles but let the car keep drawing its maximum."""
    late_profiles_s: float = Field(default=0.0, ge=0)
    """Apply an accepted profile only this many (simulated) seconds after accepting it."""
    disconnect_every_s: float | None = Field(default=None, gt=0)
    """Drop the websocket on its own every N simulated seconds (go_offline works regardless)."""
    disconnect_for_s: float = Field(default=30.0, gt=0)
    """How long each automatic drop lasts (simulated seconds)."""
    clock_skew_s: float = 0.0
    """The station's clock runs this many seconds ahead (negative: behind)."""

    @property
    def any(self) -> bool:
        return self != Misbehaviour()

    def labels(self) -> list[str]:
        out: list[str] = []
        if self.reject_profiles:
            out.append("reject_profiles")
        if self.ignore_profiles:
            out.append("ignore_profiles")
        if self.late_profiles_s:
            out.append(f"late_profiles_s={self.late_profiles_s:g}")
        if self.disconnect_every_s:
            out.append(f"disconnect_every_s={self.disconnect_every_s:g}")
        if self.clock_skew_s:
            out.append(f"clock_skew_s={self.clock_skew_s:g}")
        return out


class EvseConfig(_Model):
    max_power_w: int = Field(default=11_000, gt=0)
    phases: Literal[1, 3] = 3


class StationConfig(_Model):
    station_id: str = Field(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9._:-]+$")
    ocpp_version: OcppVersion = "1.6"
    url: str = "ws://127.0.0.1:9000/ocpp"
    """Central system base URL; the station id is appended as the last path segment, unless the
    URL contains '{station_id}'."""
    evses: list[EvseConfig] = Field(default_factory=lambda: [EvseConfig()], min_length=1)
    vendor: str = "Chargeyard"
    model: str = "SimBox"
    serial_number: str | None = None
    firmware_version: str = "sim-0.1.0"
    firmware_step_s: float | None = Field(
        default=None,
        gt=0,
        description="UpdateFirmware: wait for the retrieve time, then this many simulated seconds per step "
        "(Downloading, Downloaded, Installing, Installed). None: every step at once, whatever the retrieve time",
    )
    meter_interval_s: float = Field(default=10.0, gt=0)
    """MeterValues interval during a transaction (1.6 MeterValueSampleInterval, 2.0.1 TxUpdatedInterval)."""
    aligned_interval_s: float = Field(default=0.0, ge=0)
    """Clock-aligned MeterValues of EVSEs without a transaction (1.6 ClockAlignedDataInterval,
    2.0.1 AlignedDataCtrlr.Interval); 0 = off."""
    heartbeat_interval_s: int = Field(default=300, gt=0)
    """Used until the BootNotification response gives an interval (real seconds)."""
    allowed_rate_units: list[RateUnitName] = Field(default_factory=_both_rate_units, min_length=1)
    max_schedule_periods: int = Field(default=24, ge=1)
    max_stack_level: int = Field(default=8, ge=0)
    phase_rotation: str = "RST"
    meter_energy_unit: Literal["Wh", "kWh"] = "Wh"
    """The unit of the energy register in MeterValues (meters that report kWh exist in the field)."""
    meter_per_phase_only: bool = False
    """Report energy per phase (L1, L2, L3) and no total register or total power, as some meters do."""
    misbehaviour: Misbehaviour = Field(default_factory=Misbehaviour)
    response_timeout_s: float = Field(default=30.0, gt=0)
    reconnect_min_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)
    boot_retry_s: float = Field(default=10.0, gt=0)
    """Boot retry when the central system answers Pending/Rejected with interval 0 (real seconds)."""
    tick_s: float | None = Field(default=None, gt=0)
    """Simulation step in simulated seconds; default scales with the clock (0.5 real seconds)."""

    @model_validator(mode="after")
    def _backoff_order(self) -> StationConfig:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        return self

    def endpoint(self) -> str:
        if "{station_id}" in self.url:
            return self.url.replace("{station_id}", self.station_id)
        return f"{self.url.rstrip('/')}/{self.station_id}"


class CarSpec(_Model):
    battery_wh: float = Field(gt=0)
    soc_percent: float = Field(ge=0, le=100)
    max_power_w: float = Field(gt=0)
    phases: Literal[1, 3] = 3
    target_soc: float = Field(default=100.0, gt=0, le=100)
    name: str = ""

    def build(self) -> Car:
        return Car(
            battery_wh=self.battery_wh,
            soc_percent=self.soc_percent,
            max_power_w=self.max_power_w,
            phases=self.phases,
            target_soc=self.target_soc,
            name=self.name,
        )


class CarArrival(_Model):
    """A driver who plugs a car into an EVSE, leaves when it is charged and may come back."""

    station_id: str
    evse_id: int = Field(default=1, ge=1)
    car: CarSpec
    id_tag: str | None = Field(default=None, max_length=20)
    """None: plug in without authorising (the central system must RemoteStart)."""
    arrive_after_s: float = Field(default=0.0, ge=0)
    dwell_after_full_s: float | None = Field(default=600.0, ge=0)
    """Unplug this long after reaching target SoC; None = stay plugged in."""
    return_after_s: float | None = Field(default=None, ge=0)
    """Come back this long after leaving with the original SoC; None = do not come back."""


class SiteConfig(_Model):
    url: str = "ws://127.0.0.1:9000/ocpp"
    speed: float = Field(default=1.0, gt=0)
    stations: list[StationConfig] = Field(default_factory=list)
    cars: list[CarArrival] = Field(default_factory=list)

    @model_validator(mode="after")
    def _cars_reference_stations(self) -> SiteConfig:
        known = {s.station_id: len(s.evses) for s in self.stations}
        for arrival in self.cars:
            if arrival.station_id not in known:
                raise ValueError(f"car for unknown station {arrival.station_id!r}")
            if arrival.evse_id > known[arrival.station_id]:
                raise ValueError(f"car for unknown EVSE {arrival.station_id}/{arrival.evse_id}")
        ids = [s.station_id for s in self.stations]
        if len(ids) != len(set(ids)):
            raise ValueError("duplicate station ids")
        return self


def load_site_config(path: str | Path) -> SiteConfig:
    """Read a site JSON file. Stations without an explicit 'url' get the site's url."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    site_url = raw.get("url", SiteConfig.model_fields["url"].default)
    for station in raw.get("stations", []):
        station.setdefault("url", site_url)
    return SiteConfig.model_validate(raw)
