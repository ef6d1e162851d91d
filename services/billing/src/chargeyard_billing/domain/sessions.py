"""A charging session as billing sees it: who, where, when, and the two register readings.

Events arrive at least once and out of order across topics: meter values may come before the
transaction's Started event or after its Ended event. The session therefore accepts them in any
order and keeps, by the readings' own timestamps:
- start: the transaction's meterStart when the Started event carried one, else the earliest
  register reading seen;
- stop: the transaction's meterStop when the Ended event carried one, else the latest register
  reading not after the end.
Signed meter data stays attached to the reading it signs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from .energy import RegisterReading, SessionEnergy, energy_between


class SessionStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"


@dataclass
class ChargingSession:
    transaction_id: str
    station_id: str
    evse_id: int
    connector_id: int
    status: SessionStatus = SessionStatus.ACTIVE
    id_token: str | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    stop_reason: str | None = None
    offline: bool = False
    start: RegisterReading | None = None
    start_from_transaction: bool = False
    stop: RegisterReading | None = None
    """The latest register reading; the stop reading once the session is completed."""
    stop_from_transaction: bool = False
    full_at: datetime | None = None
    """When the car reported full (OCPP SuspendedEV while in the transaction): the idle fee's clock."""

    @property
    def energy(self) -> SessionEnergy:
        return energy_between(self.start, self.stop)

    def started(self, *, at: datetime, id_token: str | None, meter_wh: int | None, offline: bool) -> None:
        self.started_at = at
        self.offline = self.offline or offline
        self._token(id_token)
        if meter_wh is not None:
            reading = RegisterReading(meter_wh, at)
            self.start = _keep_signature(self.start, reading)
            self.start_from_transaction = True
            self.observe(reading)

    def updated(self, *, at: datetime, id_token: str | None, meter_wh: int | None) -> None:
        self._token(id_token)
        if meter_wh is not None:
            self.observe(RegisterReading(meter_wh, at))

    def ended(self, *, at: datetime, id_token: str | None, meter_wh: int | None, reason: str | None) -> None:
        self.status = SessionStatus.COMPLETED
        self.stopped_at = at
        self.stop_reason = reason
        self._token(id_token)
        if meter_wh is not None:
            reading = RegisterReading(meter_wh, at)
            if self.start is None:
                self.observe(reading)
            self.stop = _keep_signature(self.stop, reading)
            self.stop_from_transaction = True
        elif self.stop is not None and self.stop.at > at:
            # Readings stamped after the end belong to no transaction; without a meterStop the
            # stop is unknown until a reading from before the end arrives.
            self.stop = None

    def observe(self, reading: RegisterReading) -> None:
        """Take one register reading of this transaction, whenever it arrives."""
        if self.start is None or (not self.start_from_transaction and reading.at < self.start.at):
            self.start = reading
        elif reading.signed is not None and self.start.signed is None and reading.wh == self.start.wh:
            self.start = replace(self.start, signed=reading.signed)

        if self.stop_from_transaction:
            if (
                self.stop is not None
                and reading.signed is not None
                and self.stop.signed is None
                and reading.wh == self.stop.wh
            ):
                self.stop = replace(self.stop, signed=reading.signed)
            return
        if self.stopped_at is not None and reading.at > self.stopped_at:
            return
        if self.stop is None or reading.at > self.stop.at:
            self.stop = reading
        elif reading.at == self.stop.at and reading.signed is not None and self.stop.signed is None:
            self.stop = reading

    def car_full(self, at: datetime) -> None:
        if self.stopped_at is not None and at > self.stopped_at:
            return
        if self.full_at is None or at < self.full_at:
            self.full_at = at

    def car_charging_again(self, at: datetime) -> None:
        """The car drew power again after it paused: it was not full after all."""
        if self.full_at is not None and at > self.full_at and (self.stopped_at is None or at <= self.stopped_at):
            self.full_at = None

    def _token(self, id_token: str | None) -> None:
        # OCPP 2.0.1 may authorise after the start, so a later event can bring the token.
        if id_token is not None:
            self.id_token = id_token


def _keep_signature(current: RegisterReading | None, reading: RegisterReading) -> RegisterReading:
    """The transaction's own meter value wins, but a signature already seen for it is kept."""
    if current is not None and current.signed is not None and current.wh == reading.wh:
        return replace(reading, signed=current.signed)
    return reading
