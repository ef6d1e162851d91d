"""Meter values: one OCPP MeterValue (a timestamp and its sampled values) to MeterValuesReported.

Both OCPP versions carry the same idea with different spellings:
- 1.6 (§7.45 SampledValue): value is a string, `unit` names the unit (Wh, kWh, W, kW, A, V,
  Percent ...), `format` is Raw or SignedData (then `value` is the signed blob itself);
- 2.0.1 (SampledValueType): value is a number, `unitOfMeasure` has `unit` and `multiplier`
  (value × 10^multiplier), signed data travels beside the value in `signedMeterValue`.
The adapters turn both into `Sample`s; `normalise` does the arithmetic once, in Decimal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import NamedTuple

from chargeyard_contracts.stations import MeterValuesReported, ReadingContext, SignedMeterValue

ENERGY_REGISTER = "Energy.Active.Import.Register"
ENERGY_INTERVAL = "Energy.Active.Import.Interval"
POWER = "Power.Active.Import"
CURRENT = "Current.Import"
VOLTAGE = "Voltage"
SOC = "SoC"

# Unit -> factor to the platform unit (Wh, W, A, V, %). OCPP 1.6 §7.46 UnitOfMeasure.
_FACTORS: dict[str, Decimal] = {
    "Wh": Decimal(1),
    "kWh": Decimal(1000),
    "W": Decimal(1),
    "kW": Decimal(1000),
    "A": Decimal(1),
    "V": Decimal(1),
    "Percent": Decimal(1),
}
_DEFAULT_UNIT = {ENERGY_REGISTER: "Wh", ENERGY_INTERVAL: "Wh", POWER: "W", CURRENT: "A", VOLTAGE: "V", SOC: "Percent"}


class Sample(NamedTuple):
    """One sampled value, version-neutral. `measurand` None means the OCPP default (the register).
    A NamedTuple rather than a frozen dataclass: seven of them per MeterValues, and a frozen
    dataclass's __init__ (one object.__setattr__ per field) took four times as long."""

    value: str | float | int | None
    """None when the sampled value only carried signed data (1.6 format=SignedData)."""
    measurand: str | None = None
    unit: str | None = None
    multiplier: int = 0
    phase: str | None = None
    context: str | None = None
    signed: SignedMeterValue | None = None
    """2.0.1 signedMeterValue, or the 1.6 value itself when format=SignedData."""


@dataclass
class Normalised:
    report: MeterValuesReported
    skipped: list[str] = field(default_factory=list)
    """Why some sampled values were left out (unknown unit, unparseable value): for the log."""


def phase_of(raw: str | None) -> str | None:
    """L1, L1-N, L1-L2 -> L1 (the phase the reading belongs to); N and unknown -> None."""
    if not raw:
        return None
    head = raw.split("-", 1)[0]
    return head if head in ("L1", "L2", "L3") else None


def _to_base(sample: Sample, measurand: str) -> Decimal:
    unit = sample.unit or _DEFAULT_UNIT[measurand]
    factor = _FACTORS.get(unit)
    if factor is None:
        raise ValueError(f"{measurand}: unit {unit!r} is not convertible")
    try:
        number = Decimal(str(sample.value))
    except InvalidOperation as exc:
        raise ValueError(f"{measurand}: value {sample.value!r} is not a number") from exc
    return number.scaleb(sample.multiplier) * factor


def _whole(value: Decimal) -> int:
    # Import registers and powers are non-negative in the contract; a station's tiny negative
    # noise around zero (seen at idle) is clamped rather than dropping the whole sample.
    return max(0, int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP)))


def normalise(
    samples: list[Sample],
    *,
    station_id: str,
    evse_id: int,
    connector_id: int,
    transaction_id: str | None,
    station_timestamp: datetime,
    received_at: datetime,
    clock_skew_threshold_s: float,
) -> Normalised:
    skipped: list[str] = []
    register: Decimal | None = None
    interval: Decimal | None = None
    phase_energy: dict[str, Decimal] = {}
    power: Decimal | None = None
    soc: float | None = None
    signed: SignedMeterValue | None = None
    phases: dict[str, dict[str, float | int]] = {}

    for sample in samples:
        if sample.signed is not None and signed is None:
            signed = sample.signed
        if sample.value is None:
            continue
        measurand = sample.measurand or ENERGY_REGISTER
        if measurand not in _DEFAULT_UNIT:
            continue  # reactive energy, frequency, temperature ...: not part of the contract yet
        try:
            value = _to_base(sample, measurand)
        except ValueError as exc:
            skipped.append(str(exc))
            continue
        phase = phase_of(sample.phase)
        if measurand in (ENERGY_REGISTER, ENERGY_INTERVAL):
            if phase is not None:
                if measurand == ENERGY_REGISTER:
                    phase_energy[phase] = value
            elif measurand == ENERGY_REGISTER:
                register = value
            else:
                interval = value
        elif measurand == POWER:
            if phase is None:
                power = value
            else:
                phases.setdefault(phase, {})["power_w"] = _whole(value)
        elif measurand == CURRENT:
            if phase is not None:
                phases.setdefault(phase, {})["current_a"] = max(0.0, float(value))
        elif measurand == VOLTAGE:
            # Line-to-line voltages (L1-L2) are not a phase's voltage; only L1 / L1-N are kept.
            if phase is not None and (sample.phase or "").split("-")[-1] in (phase, "N"):
                phases.setdefault(phase, {})["voltage_v"] = max(0.0, float(value))
        elif measurand == SOC:
            soc = min(100.0, max(0.0, float(value)))

    if register is None and phase_energy and interval is None:
        register = sum(phase_energy.values(), Decimal(0))  # only per-phase registers were sent
    energy, context = (
        (register, ReadingContext.REGISTER)
        if register is not None
        else (interval, ReadingContext.INTERVAL)
        if interval is not None
        else (None, ReadingContext.REGISTER)
    )

    skew = abs((station_timestamp - received_at).total_seconds())
    report = MeterValuesReported(
        station_id=station_id,
        evse_id=evse_id,
        connector_id=connector_id,
        transaction_id=transaction_id,
        energy_wh=_whole(energy) if energy is not None else None,
        energy_context=context,
        power_w=_whole(power) if power is not None else None,
        # Validated with the report, in one call into pydantic-core rather than one per phase.
        phases=[{"phase": p, **phases[p]} for p in sorted(phases)],  # type: ignore[arg-type]
        soc_percent=soc,
        signed=signed,
        station_timestamp=station_timestamp,
        received_at=received_at,
        clock_skew_flagged=skew > clock_skew_threshold_s,
    )
    return Normalised(report, skipped)
