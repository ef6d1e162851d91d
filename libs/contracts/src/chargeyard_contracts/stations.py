"""What the gateway reports about stations: identity, status, meter values, transactions."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from .base import (
    Amperes,
    ChargingRateUnit,
    ConnectorId,
    Contract,
    EvseId,
    IdToken,
    OcppVersion,
    PhaseCount,
    PhaseRotation,
    StationId,
    TransactionId,
    UtcDatetime,
    WattHours,
    Watts,
)


class StationCapabilities(Contract):
    """Learned at boot (GetConfiguration / GetVariables); what commands must be translated to."""

    ocpp_version: OcppVersion
    allowed_rate_units: tuple[ChargingRateUnit, ...] = (ChargingRateUnit.AMPERES,)
    max_schedule_periods: int = Field(default=24, ge=1)
    max_stack_level: int = Field(default=8, ge=0)
    phases: PhaseCount = 3
    phase_rotation: PhaseRotation = PhaseRotation.UNKNOWN


class EvseInfo(Contract):
    evse_id: EvseId
    connector_ids: tuple[ConnectorId, ...] = (1,)
    max_power_w: Watts | None = None


class StationRegistered(Contract):
    station_id: StationId
    vendor: str
    model: str
    serial_number: str | None = None
    firmware_version: str | None = None
    capabilities: StationCapabilities
    evses: tuple[EvseInfo, ...] = ()
    registered_at: UtcDatetime


class ConnectorStatus(StrEnum):
    """The union of OCPP 1.6 ChargePointStatus and 2.0.1 ConnectorStatusEnumType."""

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"
    OCCUPIED = "Occupied"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"
    OFFLINE = "Offline"


class StationStatusChanged(Contract):
    station_id: StationId
    evse_id: int = Field(ge=0, description="0 = the whole station")
    connector_id: ConnectorId = 0
    status: ConnectorStatus
    error_code: str | None = None
    vendor_error_code: str | None = None
    station_timestamp: UtcDatetime | None = None
    received_at: UtcDatetime


class ReadingContext(StrEnum):
    REGISTER = "Register"
    """A cumulative register (Energy.Active.Import.Register)."""
    INTERVAL = "Interval"
    """Energy over the last interval only (Energy.Active.Import.Interval)."""


class PhaseReading(Contract):
    phase: Literal["L1", "L2", "L3"]
    power_w: Watts | None = None
    current_a: Amperes | None = None
    voltage_v: float | None = Field(default=None, ge=0)


class SignedMeterValue(Contract):
    """Signed meter data kept exactly as the station sent it (OCMF or OCPP SignedData)."""

    format: str
    data: str
    public_key: str | None = None
    signing_method: str | None = None


class MeterValuesReported(Contract):
    """One sample, normalised: Wh and W whatever unit or multiplier the station used."""

    station_id: StationId
    evse_id: int = Field(ge=0, description="0 = the station's main meter (OCPP 1.6 connector 0)")
    connector_id: ConnectorId = 1
    transaction_id: TransactionId | None = None
    energy_wh: WattHours | None = None
    energy_context: ReadingContext = ReadingContext.REGISTER
    power_w: Watts | None = None
    phases: tuple[PhaseReading, ...] = ()
    soc_percent: float | None = Field(default=None, ge=0, le=100)
    signed: SignedMeterValue | None = None
    station_timestamp: UtcDatetime
    received_at: UtcDatetime
    clock_skew_flagged: bool = False


class TransactionEventKind(StrEnum):
    STARTED = "Started"
    UPDATED = "Updated"
    ENDED = "Ended"


class TransactionEventReported(Contract):
    station_id: StationId
    evse_id: EvseId
    connector_id: ConnectorId = 1
    transaction_id: TransactionId
    kind: TransactionEventKind
    id_token: IdToken | None = None
    meter_wh: WattHours | None = None
    reason: str | None = None
    offline: bool = False
    """The station started it while offline and reported it late."""
    station_timestamp: UtcDatetime
    received_at: UtcDatetime


# --- what stations report besides status, meter values and transactions (topic station.events) ---


class FirmwareStatusChanged(Contract):
    """OCPP 1.6 FirmwareStatusNotification (§4.5) / 2.0.1 FirmwareStatusNotification (L01)."""

    station_id: StationId
    status: str = Field(min_length=1, description="As the station sent it, e.g. Downloading, Installed")
    request_id: int | None = Field(default=None, description="2.0.1 UpdateFirmware requestId")
    received_at: UtcDatetime


class LogStatusChanged(Contract):
    """OCPP 1.6 DiagnosticsStatusNotification (§4.4) / 2.0.1 LogStatusNotification (N01)."""

    station_id: StationId
    status: str = Field(min_length=1, description="As the station sent it, e.g. Uploading, Uploaded")
    request_id: int | None = None
    received_at: UtcDatetime


class SecurityEventReported(Contract):
    """OCPP 2.0.1 SecurityEventNotification (A04): the security log, one event each."""

    station_id: StationId
    type: str = Field(min_length=1, description="Security event type, e.g. FirmwareUpdated, TamperDetectionActivated")
    tech_info: str | None = None
    station_timestamp: UtcDatetime
    received_at: UtcDatetime


class StationEventReported(Contract):
    """One EventData of an OCPP 2.0.1 NotifyEvent (N07): a monitored variable changed or a fault
    was raised or cleared; `tech_code` is the vendor's error code."""

    station_id: StationId
    event_id: int
    trigger: str = Field(description="Alerting, Delta or Periodic")
    event_notification_type: str
    component: str
    variable: str
    evse_id: int | None = Field(default=None, ge=0)
    connector_id: ConnectorId | None = None
    actual_value: str
    cleared: bool | None = None
    tech_code: str | None = None
    tech_info: str | None = None
    cause: int | None = None
    transaction_id: TransactionId | None = None
    station_timestamp: UtcDatetime
    received_at: UtcDatetime


class ReservationStatusChanged(Contract):
    """OCPP 2.0.1 ReservationStatusUpdate (H05): a reservation expired or was removed at the station."""

    station_id: StationId
    reservation_id: str = Field(min_length=1)
    status: str = Field(description="Expired or Removed")
    received_at: UtcDatetime


class CompositePeriod(Contract):
    start_offset_s: int = Field(ge=0)
    limit: float = Field(ge=0, description="In `unit`: W or A per phase")
    phases: PhaseCount | None = None


class CompositeScheduleReported(Contract):
    """A station's answer to GetCompositeSchedule (OCPP 1.6 §5.7 / 2.0.1 K08): what it will really
    apply, so a planner can check an accepted profile took effect."""

    station_id: StationId
    command_id: str
    evse_id: int = Field(ge=0)
    unit: ChargingRateUnit
    start: UtcDatetime
    duration_s: int = Field(ge=0)
    periods: tuple[CompositePeriod, ...]
    received_at: UtcDatetime


class ConfigurationValue(Contract):
    component: str | None = Field(default=None, description="2.0.1 component; None for a 1.6 key")
    variable: str
    value: str | None = None
    status: str = Field(description="Accepted, or why not: UnknownVariable, Rejected ...")
    readonly: bool | None = None


class ConfigurationReported(Contract):
    """A station's answer to GetConfiguration (1.6 §5.8) / GetVariables (2.0.1 B06)."""

    station_id: StationId
    command_id: str
    values: tuple[ConfigurationValue, ...]
    received_at: UtcDatetime


# --- topic ev.charging-needs ---------------------------------------------------------------------


class EvChargingNeedsReported(Contract):
    """OCPP 2.0.1 NotifyEVChargingNeeds (K15, ISO 15118): what the car itself asks for. The departure
    time and energy come from the car, not from a reservation; a planner may prefer them."""

    station_id: StationId
    evse_id: EvseId
    transaction_id: TransactionId | None = None
    departure_time: UtcDatetime | None = None
    energy_wh: WattHours | None = Field(default=None, description="AC energyAmount / DC energy to full")
    requested_energy_transfer: str = Field(description="AC_single_phase, AC_three_phase, DC ...")
    min_current_a: Amperes | None = None
    max_current_a: Amperes | None = None
    max_voltage_v: float | None = Field(default=None, ge=0)
    max_power_w: Watts | None = None
    soc_percent: float | None = Field(default=None, ge=0, le=100)
    full_soc_percent: float | None = Field(default=None, ge=0, le=100)
    battery_capacity_wh: WattHours | None = None
    max_schedule_tuples: int | None = Field(default=None, ge=1)
    received_at: UtcDatetime
