"""Protocol-neutral station model shared by the station core and the OCPP 1.6 / 2.0.1 adapters."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from .car import NO_DRAW, Car, Draw, EvseHardware
from .profiles import ChargingProfile, Limit

if TYPE_CHECKING:
    from .station import Station


class EvseStatus(StrEnum):
    """Connector status in OCPP 1.6 terms; the 2.0.1 adapter folds these into its coarser set."""

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


class ChargingState(StrEnum):
    """OCPP 2.0.1 ChargingStateEnumType, reported in TransactionEvent.transactionInfo."""

    CHARGING = "Charging"
    EV_CONNECTED = "EVConnected"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    IDLE = "Idle"

    @classmethod
    def of(cls, status: EvseStatus) -> ChargingState:
        return {
            EvseStatus.CHARGING: cls.CHARGING,
            EvseStatus.SUSPENDED_EV: cls.SUSPENDED_EV,
            EvseStatus.SUSPENDED_EVSE: cls.SUSPENDED_EVSE,
            EvseStatus.PREPARING: cls.EV_CONNECTED,
            EvseStatus.FINISHING: cls.EV_CONNECTED,
        }.get(status, cls.IDLE)


class StopReason(StrEnum):
    EV_DISCONNECTED = "EVDisconnected"
    REMOTE = "Remote"
    LOCAL = "Local"
    UNLOCK_COMMAND = "UnlockCommand"
    DEAUTHORIZED = "DeAuthorized"
    HARD_RESET = "HardReset"
    SOFT_RESET = "SoftReset"
    IMMEDIATE_RESET = "ImmediateReset"
    REBOOT = "Reboot"
    OTHER = "Other"


class StartTrigger(StrEnum):
    PLUGGED_IN = "PluggedIn"
    """The id tag was presented with the plug-in (local authorisation)."""
    AUTHORIZED = "Authorized"
    """An id tag was presented while the car was already plugged in."""
    REMOTE_START = "RemoteStart"


class UpdateTrigger(StrEnum):
    PERIODIC = "Periodic"
    CHARGING_STATE_CHANGED = "ChargingStateChanged"
    TRIGGER = "Trigger"


class BootReason(StrEnum):
    POWER_UP = "PowerUp"
    REMOTE_RESET = "RemoteReset"
    TRIGGERED = "Triggered"


class SampleContext(StrEnum):
    TRANSACTION_BEGIN = "Transaction.Begin"
    PERIODIC = "Sample.Periodic"
    CLOCK = "Sample.Clock"
    TRANSACTION_END = "Transaction.End"
    TRIGGER = "Trigger"


@dataclass(frozen=True)
class MeterSample:
    """One meter reading of an EVSE, taken when the event happened (not when it is sent)."""

    timestamp: datetime
    energy_wh: float
    power_w: float
    phase_power_w: tuple[float, float, float]
    phase_current_a: tuple[float, float, float]
    soc_percent: float | None
    context: SampleContext
    energy_unit: str = "Wh"
    """"Wh" or "kWh": the unit the station's meter reports energy in."""
    per_phase_only: bool = False
    """A meter that reports energy per phase only (no total register) and no total power."""


@dataclass(frozen=True)
class Reading:
    measurand: str
    value: float
    unit: str
    phase: str | None = None
    location: str = "Outlet"


PHASES = ("L1", "L2", "L3")


def readings(sample: MeterSample) -> list[Reading]:
    """The measurands every sample carries: energy register, power (total and per phase),
    current per phase and, with a car, its SoC. Energy and power are whole Wh / W; currents and
    SoC have one decimal (the resolution OCPP allows for A limits)."""
    if sample.per_phase_only:
        out = [
            Reading("Energy.Active.Import.Register", _energy(wh, sample.energy_unit), sample.energy_unit, phase)
            for phase, wh in zip(PHASES, _split_evenly(round(sample.energy_wh)), strict=True)
        ]
    else:
        out = [
            Reading(
                "Energy.Active.Import.Register",
                _energy(round(sample.energy_wh), sample.energy_unit),
                sample.energy_unit,
            ),
            Reading("Power.Active.Import", round(sample.power_w), "W"),
        ]
    for phase, watts in zip(PHASES, sample.phase_power_w, strict=True):
        out.append(Reading("Power.Active.Import", round(watts), "W", phase))
    for phase, amps in zip(PHASES, sample.phase_current_a, strict=True):
        out.append(Reading("Current.Import", round(amps, 1), "A", phase))
    if sample.soc_percent is not None:
        out.append(Reading("SoC", round(sample.soc_percent, 1), "Percent", location="EV"))
    return out


def _energy(wh: int, unit: str) -> float:
    """Whole Wh in the meter's unit: kWh with three decimals loses nothing."""
    return wh / 1000 if unit == "kWh" else wh


def _split_evenly(wh: int) -> tuple[int, int, int]:
    """A register split over three phases in whole Wh that add up to it (L1 takes the rest)."""
    third = wh // 3
    return wh - 2 * third, third, third


@dataclass
class Transaction:
    id: str
    """Station-local id; it is the OCPP 2.0.1 transactionId (the station generates it)."""
    evse_id: int
    id_tag: str
    started_at: datetime
    meter_start_wh: float
    trigger: StartTrigger
    id_token_type: str = "ISO14443"
    remote_start_id: int | None = None
    reservation_id: int | None = None
    ocpp16_id: int | None = None
    """OCPP 1.6 transactionId assigned by the central system in StartTransaction.conf."""
    reported_charging_state: ChargingState | None = None
    ended: bool = False
    _seq: itertools.count[int] = field(default_factory=itertools.count, repr=False)

    def next_seq_no(self) -> int:
        """OCPP 2.0.1 TransactionEvent seqNo: 0 for Started, then +1 per event of this transaction."""
        return next(self._seq)

    @property
    def display_id(self) -> str:
        return str(self.ocpp16_id) if self.ocpp16_id is not None else self.id[:8]


@dataclass
class Reservation:
    id: int
    id_tag: str
    expires: datetime


@dataclass
class PendingStart:
    """A RemoteStart accepted before a car was plugged in; it waits ConnectionTimeOut."""

    id_tag: str
    id_token_type: str
    remote_start_id: int | None
    profile: ChargingProfile | None
    expires: datetime


@dataclass
class Evse:
    id: int
    hardware: EvseHardware
    car: Car | None = None
    transaction: Transaction | None = None
    energy_wh: float = 0.0
    draw: Draw = NO_DRAW
    limit: Limit | None = None
    status: EvseStatus = EvseStatus.AVAILABLE
    operative: bool = True
    inoperative_scheduled: bool = False
    reservation: Reservation | None = None
    pending_start: PendingStart | None = None
    session_done: bool = False
    """Transaction ended while the car is still plugged in (OCPP 1.6 Finishing)."""
    reported_status: str | None = None


@dataclass(frozen=True)
class BootResult:
    status: str
    interval: int
    current_time: str | None = None


@dataclass(frozen=True)
class Decision:
    """Answer to a central-system request: accepted or not, with a short reason code and text."""

    accepted: bool
    code: str = ""
    reason: str = ""

    @classmethod
    def ok(cls) -> Decision:
        return cls(True)

    @classmethod
    def no(cls, code: str, reason: str) -> Decision:
        return cls(False, code, reason)


class Outcome(StrEnum):
    """Results of station operations that are richer than accepted/rejected."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    SCHEDULED = "Scheduled"
    OCCUPIED = "Occupied"
    UNAVAILABLE = "Unavailable"
    UNLOCKED = "Unlocked"
    UNLOCK_FAILED = "UnlockFailed"
    ONGOING_TRANSACTION = "OngoingAuthorizedTransaction"
    UNKNOWN = "Unknown"


class ChargePointAdapter(Protocol):
    """What the station needs from one OCPP connection (one instance per websocket session).

    Outgoing methods perform one CALL and raise on a CallError or timeout; the station's outbox
    decides about retries.
    """

    subprotocol: ClassVar[str]
    reports_charging_state: ClassVar[bool]

    def __init__(self, station: Station, connection: object) -> None: ...

    @classmethod
    def connector_status(cls, status: EvseStatus) -> str: ...

    async def start(self) -> None: ...

    async def wait_inbound_idle(self) -> None: ...

    async def send_boot(self, reason: BootReason) -> BootResult: ...

    async def send_heartbeat(self) -> None: ...

    async def send_status(self, evse_id: int, status: EvseStatus, timestamp: datetime) -> None: ...

    async def send_tx_started(
        self, tx: Transaction, sample: MeterSample, state: ChargingState, offline: bool
    ) -> None: ...

    async def send_tx_updated(
        self,
        tx: Transaction,
        sample: MeterSample,
        trigger: UpdateTrigger,
        state: ChargingState,
        offline: bool,
    ) -> None: ...

    async def send_tx_ended(self, tx: Transaction, sample: MeterSample, reason: StopReason, offline: bool) -> None: ...

    async def send_meter_values(self, evse_id: int, sample: MeterSample, tx: Transaction | None) -> None: ...

    async def call(self, payload: Any, suppress: bool = True, unique_id: Any = None) -> Any: ...
