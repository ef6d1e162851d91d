"""What a station told us at boot, turned into StationCapabilities. Anything missing or
unparseable falls back to the contract's defaults: a station that answers nothing still works."""

from __future__ import annotations

from collections.abc import Mapping

from chargeyard_contracts.base import ChargingRateUnit, OcppVersion, PhaseRotation
from chargeyard_contracts.stations import EvseInfo, StationCapabilities

# OCPP 1.6 §9.4 Smart Charging configuration keys, and §9.1 core keys we use.
V16_KEYS = (
    "ChargingScheduleAllowedChargingRateUnit",
    "ChargingScheduleMaxPeriods",
    "ChargeProfileMaxStackLevel",
    "ConnectorPhaseRotation",
    "NumberOfConnectors",
)

# OCPP 2.0.1 Part 2 Appendix (Referenced Components and Variables): (component, variable).
V201_VARIABLES = (
    ("SmartChargingCtrlr", "RateUnit"),
    ("SmartChargingCtrlr", "PeriodsPerSchedule"),
    ("SmartChargingCtrlr", "ProfileStackLevel"),
    ("ChargingStation", "PhaseRotation"),
    ("ChargingStation", "SupplyPhases"),
)

_RATE_WORDS = {
    "current": ChargingRateUnit.AMPERES,
    "a": ChargingRateUnit.AMPERES,
    "power": ChargingRateUnit.WATTS,
    "w": ChargingRateUnit.WATTS,
}


def _rate_units(raw: str | None) -> tuple[ChargingRateUnit, ...] | None:
    if not raw:
        return None
    units = []
    for word in raw.replace(";", ",").split(","):
        unit = _RATE_WORDS.get(word.strip().lower())
        if unit is not None and unit not in units:
            units.append(unit)
    return tuple(units) or None


def _positive_int(raw: str | None, minimum: int) -> int | None:
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        return None
    return value if value >= minimum else None


def _rotation(raw: str | None) -> PhaseRotation | None:
    """1.6 ConnectorPhaseRotation is a CSL like "0.RST, 1.RST"; the station-wide entry (0) or the
    first one is taken. 2.0.1 PhaseRotation is the bare value."""
    if not raw:
        return None
    entries = [e.strip() for e in raw.split(",") if e.strip()]
    chosen = next((e for e in entries if e.startswith("0.")), entries[0] if entries else "")
    value = chosen.split(".", 1)[-1]
    try:
        return PhaseRotation(value)
    except ValueError:
        return None


def _build(
    version: OcppVersion,
    *,
    rate: str | None,
    periods: str | None,
    stack: str | None,
    rotation: str | None,
    phases: str | None,
) -> StationCapabilities:
    found: dict[str, object] = {}
    if (units := _rate_units(rate)) is not None:
        found["allowed_rate_units"] = units
    if (n := _positive_int(periods, 1)) is not None:
        found["max_schedule_periods"] = n
    if (n := _positive_int(stack, 0)) is not None:
        found["max_stack_level"] = n
    if (r := _rotation(rotation)) is not None:
        found["phase_rotation"] = r
    if (n := _positive_int(phases, 1)) is not None and n <= 3:
        found["phases"] = n
    return StationCapabilities.model_validate({"ocpp_version": version, **found})


def from_v16_configuration(values: Mapping[str, str]) -> tuple[StationCapabilities, tuple[EvseInfo, ...]]:
    """`values`: GetConfiguration configurationKey key -> value (unknown keys simply absent)."""
    caps = _build(
        OcppVersion.V16,
        rate=values.get("ChargingScheduleAllowedChargingRateUnit"),
        periods=values.get("ChargingScheduleMaxPeriods"),
        stack=values.get("ChargeProfileMaxStackLevel"),
        rotation=values.get("ConnectorPhaseRotation"),
        phases=None,
    )
    connectors = _positive_int(values.get("NumberOfConnectors"), 1) or 1
    # Contract: a 1.6 connector n is EVSE n with one connector.
    return caps, tuple(EvseInfo(evse_id=n, connector_ids=(1,)) for n in range(1, connectors + 1))


def from_v201_variables(version: OcppVersion, values: Mapping[tuple[str, str], str]) -> StationCapabilities:
    """`values`: (component, variable) -> attributeValue of the Accepted GetVariables results."""
    return _build(
        version,
        rate=values.get(("SmartChargingCtrlr", "RateUnit")),
        periods=values.get(("SmartChargingCtrlr", "PeriodsPerSchedule")),
        stack=values.get(("SmartChargingCtrlr", "ProfileStackLevel")),
        rotation=values.get(("ChargingStation", "PhaseRotation")),
        phases=values.get(("ChargingStation", "SupplyPhases")),
    )
