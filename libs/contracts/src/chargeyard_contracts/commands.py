"""station.commands: version-neutral commands, translated per station by the gateway.

Charging-profile purposes and stack levels follow one table (see PROFILE_LAYERS): the fail-safe
station maximum lowest, group caps above it, transaction profiles on top.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from .base import (
    ChargingRateUnit,
    ConnectorId,
    Contract,
    EvseId,
    IdToken,
    PhaseCount,
    StationId,
    TransactionId,
    UtcDatetime,
)


class ProfilePurpose(StrEnum):
    STATION_MAX = "ChargingStationMaxProfile"
    TX_DEFAULT = "TxDefaultProfile"
    TX = "TxProfile"


PROFILE_LAYERS: dict[str, tuple[ProfilePurpose, int]] = {
    "failsafe": (ProfilePurpose.STATION_MAX, 0),
    "group-cap": (ProfilePurpose.TX_DEFAULT, 1),
    "plan": (ProfilePurpose.TX_DEFAULT, 2),
    "transaction": (ProfilePurpose.TX, 3),
}
"""Layer name -> (purpose, stack level). OCPP: the highest stack level of a purpose wins,
and the ChargingStationMaxProfile caps all others (OCPP 1.6 §3.13.2, OCPP 2.0.1 K01)."""


class SchedulePeriod(Contract):
    start_offset_s: int = Field(ge=0, description="Seconds from the schedule start")
    limit: float = Field(ge=0, description="In the profile's unit: W or A per phase")
    phases: PhaseCount | None = None


class SetChargingProfile(Contract):
    command: Literal["SetChargingProfile"] = "SetChargingProfile"
    station_id: StationId
    evse_id: int = Field(ge=0, description="0 = the whole station")
    profile_id: int = Field(ge=1)
    purpose: ProfilePurpose
    stack_level: int = Field(ge=0)
    unit: ChargingRateUnit
    start: UtcDatetime
    periods: tuple[SchedulePeriod, ...] = Field(min_length=1)
    transaction_id: TransactionId | None = None

    @model_validator(mode="after")
    def _periods_ordered(self) -> SetChargingProfile:
        offsets = [p.start_offset_s for p in self.periods]
        if offsets[0] != 0:
            raise ValueError("periods[0].start_offset_s must be 0")
        if offsets != sorted(set(offsets)):
            raise ValueError("periods must have strictly increasing start_offset_s")
        return self


class ClearChargingProfile(Contract):
    command: Literal["ClearChargingProfile"] = "ClearChargingProfile"
    station_id: StationId
    evse_id: int | None = Field(default=None, ge=0)
    profile_id: int | None = None
    purpose: ProfilePurpose | None = None
    stack_level: int | None = None


class RemoteStart(Contract):
    command: Literal["RemoteStart"] = "RemoteStart"
    station_id: StationId
    evse_id: EvseId | None = None
    id_token: IdToken
    id_token_type: str | None = Field(default=None, description="OCPP 2.0.1 IdTokenEnumType, e.g. ISO14443")
    reservation_id: str | None = None


class RemoteStop(Contract):
    command: Literal["RemoteStop"] = "RemoteStop"
    station_id: StationId
    transaction_id: TransactionId


class ResetKind(StrEnum):
    SOFT = "Soft"
    HARD = "Hard"


class Reset(Contract):
    command: Literal["Reset"] = "Reset"
    station_id: StationId
    kind: ResetKind = ResetKind.SOFT


class ChangeAvailability(Contract):
    command: Literal["ChangeAvailability"] = "ChangeAvailability"
    station_id: StationId
    evse_id: int = Field(default=0, ge=0)
    operative: bool


class UnlockConnector(Contract):
    command: Literal["UnlockConnector"] = "UnlockConnector"
    station_id: StationId
    evse_id: EvseId
    connector_id: ConnectorId = 1


class ReserveNow(Contract):
    command: Literal["ReserveNow"] = "ReserveNow"
    station_id: StationId
    evse_id: EvseId
    reservation_id: str
    id_token: IdToken
    expires_at: UtcDatetime


class CancelReservation(Contract):
    command: Literal["CancelReservation"] = "CancelReservation"
    station_id: StationId
    reservation_id: str


class TriggerMessage(Contract):
    command: Literal["TriggerMessage"] = "TriggerMessage"
    station_id: StationId
    message: Literal[
        "BootNotification",
        "Heartbeat",
        "MeterValues",
        "StatusNotification",
        "FirmwareStatusNotification",
        "DiagnosticsStatusNotification",
        "LogStatusNotification",
        "TransactionEvent",
    ]
    """DiagnosticsStatusNotification and LogStatusNotification are one message in two versions:
    either name is sent as the station's version spells it; TransactionEvent means
    MeterValues on an OCPP 1.6 station (1.6 has no TransactionEvent)."""
    evse_id: EvseId | None = None


class UpdateFirmware(Contract):
    command: Literal["UpdateFirmware"] = "UpdateFirmware"
    station_id: StationId
    location: str = Field(min_length=1)
    retrieve_at: UtcDatetime
    request_id: int | None = Field(default=None, ge=0, description="2.0.1 requestId; the gateway picks one if None")
    retries: int | None = Field(default=None, ge=0)
    retry_interval_s: int | None = Field(default=None, ge=0)
    signing_certificate: str | None = Field(default=None, description="2.0.1 L01: PEM of the firmware signer")
    signature: str | None = Field(default=None, description="2.0.1 L01: base64 signature of the firmware")


class LocalListEntry(Contract):
    id_token: IdToken
    status: Literal["Accepted", "Blocked", "Expired", "Invalid"] = "Accepted"
    id_token_type: str | None = Field(default=None, description="2.0.1 IdTokenEnumType; ISO14443 when None")
    expires_at: UtcDatetime | None = None


class SendLocalList(Contract):
    command: Literal["SendLocalList"] = "SendLocalList"
    station_id: StationId
    version: int = Field(ge=1)
    full: bool = True
    entries: tuple[LocalListEntry, ...] = ()
    from_tokens: bool = Field(
        default=False, description="Send the gateway's own copy of tokens.updated as a full list (entries ignored)"
    )


class GetLocalListVersion(Contract):
    command: Literal["GetLocalListVersion"] = "GetLocalListVersion"
    station_id: StationId


class ClearCache(Contract):
    command: Literal["ClearCache"] = "ClearCache"
    station_id: StationId


class GetCompositeSchedule(Contract):
    """Answered on station.events as CompositeScheduleReported (and Accepted on command-results)."""

    command: Literal["GetCompositeSchedule"] = "GetCompositeSchedule"
    station_id: StationId
    evse_id: int = Field(default=0, ge=0, description="0 = the station's grid connection")
    duration_s: int = Field(gt=0)
    unit: ChargingRateUnit | None = None


class GetLog(Contract):
    """OCPP 2.0.1 GetLog (N01); on OCPP 1.6 stations GetDiagnostics (§5.9, diagnostics logs only)."""

    command: Literal["GetLog"] = "GetLog"
    station_id: StationId
    location: str = Field(min_length=1, description="Upload URL (FTP/HTTP(S))")
    log_type: Literal["DiagnosticsLog", "SecurityLog"] = "DiagnosticsLog"
    request_id: int = Field(ge=0)
    oldest: UtcDatetime | None = None
    latest: UtcDatetime | None = None
    retries: int | None = Field(default=None, ge=0)
    retry_interval_s: int | None = Field(default=None, ge=0)


class ConfigurationKey(Contract):
    component: str | None = Field(default=None, description="2.0.1 component; ignored for 1.6 keys")
    variable: str = Field(min_length=1, description="1.6 configuration key / 2.0.1 variable name")


class GetConfiguration(Contract):
    """1.6 GetConfiguration / 2.0.1 GetVariables; answered on station.events as ConfigurationReported."""

    command: Literal["GetConfiguration"] = "GetConfiguration"
    station_id: StationId
    keys: tuple[ConfigurationKey, ...] = Field(min_length=1)


class SetConfiguration(Contract):
    """1.6 ChangeConfiguration / 2.0.1 SetVariables (B05), one value."""

    command: Literal["SetConfiguration"] = "SetConfiguration"
    station_id: StationId
    component: str | None = None
    variable: str = Field(min_length=1)
    value: str = Field(max_length=1000)


StationCommand = Annotated[
    SetChargingProfile
    | ClearChargingProfile
    | RemoteStart
    | RemoteStop
    | Reset
    | ChangeAvailability
    | UnlockConnector
    | ReserveNow
    | CancelReservation
    | TriggerMessage
    | UpdateFirmware
    | SendLocalList
    | GetLocalListVersion
    | ClearCache
    | GetCompositeSchedule
    | GetLog
    | GetConfiguration
    | SetConfiguration,
    Field(discriminator="command"),
]


class StationCommandIssued(Contract):
    """The payload of station.commands: one command for one station."""

    command_id: str = Field(min_length=1, max_length=64)
    station_id: StationId
    command: StationCommand
    expires_at: UtcDatetime | None = None

    @model_validator(mode="after")
    def _same_station(self) -> StationCommandIssued:
        if self.command.station_id != self.station_id:
            raise ValueError("command.station_id must equal station_id")
        return self


class CommandOutcome(StrEnum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    NOT_SUPPORTED = "NotSupported"
    TIMED_OUT = "TimedOut"
    OFFLINE = "Offline"
    EXPIRED = "Expired"
    FAILED = "Failed"


class StationCommandCompleted(Contract):
    """station.command-results: every command ends here, whatever happened."""

    command_id: str
    station_id: StationId
    command: str
    outcome: CommandOutcome
    detail: str | None = None
    completed_at: UtcDatetime
