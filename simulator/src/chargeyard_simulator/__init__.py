"""Chargeyard station simulator: OCPP 1.6J and 2.0.1 charging stations with simulated cars."""

from .car import Car, Draw, EvseHardware, compute_draw
from .clock import Clock, ManualClock, RealClock, ScaledClock
from .config import CarArrival, CarSpec, EvseConfig, Misbehaviour, SiteConfig, StationConfig, load_site_config
from .model import ChargingState, EvseStatus, StopReason, Transaction
from .profiles import (
    ChargingProfile,
    Limit,
    ProfileKind,
    ProfilePurpose,
    ProfileStore,
    RateUnit,
    RecurrencyKind,
    SchedulePeriod,
    TxContext,
    composite_schedule,
)
from .site import Site, build_fleet
from .station import Station

__all__ = [
    "Car",
    "CarArrival",
    "CarSpec",
    "ChargingProfile",
    "ChargingState",
    "Clock",
    "Draw",
    "EvseConfig",
    "EvseHardware",
    "EvseStatus",
    "Limit",
    "ManualClock",
    "Misbehaviour",
    "ProfileKind",
    "ProfilePurpose",
    "ProfileStore",
    "RateUnit",
    "RealClock",
    "RecurrencyKind",
    "ScaledClock",
    "SchedulePeriod",
    "Site",
    "SiteConfig",
    "Station",
    "StationConfig",
    "StopReason",
    "Transaction",
    "TxContext",
    "build_fleet",
    "composite_schedule",
    "compute_draw",
    "load_site_config",
]
