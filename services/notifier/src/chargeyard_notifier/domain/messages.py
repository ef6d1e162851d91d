"""What a notification says. Times are shown in the site's time zone where it is known."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

OPERATOR = "operator"
"""Recipient of notifications about reservations without a driver (fleet systems, back office)."""


class Kind(StrEnum):
    REQUESTED = "reservation.requested"
    SCHEDULED = "reservation.scheduled"
    """Scheduled, or the plan changed (connector, times or energy)."""
    WAITLISTED = "reservation.waitlisted"
    PROMOTED = "reservation.promoted"
    """Off the waiting list: a connector became free."""
    NO_SHOW = "reservation.no_show"
    """The car had not arrived in time; the slot was released."""
    CONFLICT = "reservation.conflict"
    """The promise cannot be kept: the driver chooses between two offers."""
    CHARGING_STARTED = "charging.started"
    ENERGY_REACHED = "charging.energy_reached"
    CHARGING_COMPLETED = "charging.completed"
    STATION_FAULT = "reservation.station_fault"
    """The station a reservation is on faulted or went offline."""
    # Operator alerts (recipient OPERATOR, e-mailed to the operator addresses as well).
    ALERT_STATION_FAULTED = "alert.station_faulted"
    ALERT_STATION_OFFLINE = "alert.station_offline"
    ALERT_FIRMWARE_FAILED = "alert.firmware_failed"

    @property
    def is_alert(self) -> bool:
        return self.value.startswith("alert.")


class Channel(StrEnum):
    PUSH = "push"
    EMAIL = "email"
    WEBHOOK = "webhook"


@dataclass(frozen=True)
class Message:
    """What one notification says: a one-line subject, a longer body, and data for machines."""

    kind: Kind
    subject: str
    body: str
    data: dict[str, object]


@dataclass(frozen=True)
class PlannedCharge:
    """The part of a plan a driver is told about; a change in any of it is worth a message."""

    station_id: str
    evse_id: int
    connector_id: int
    planned_start: datetime | None
    planned_finish: datetime | None
    energy_wh: int
    requested_wh: int


def recipient_of(driver_id: str | None) -> str:
    return driver_id or OPERATOR


def kwh(wh: int) -> str:
    # Half up, as people round; Decimal's default (half even) would show 22 050 Wh as 22.0 kWh.
    return f"{(Decimal(wh) / 1000).quantize(Decimal('0.1'), ROUND_HALF_UP)} kWh"


def _local(at: datetime, time_zone: str) -> str:
    return at.astimezone(ZoneInfo(time_zone)).strftime("%Y-%m-%d %H:%M")


def requested_subject(reservation_id: str, energy_wh: int, departure: datetime) -> str:
    return f"Reservation {reservation_id} received: {kwh(energy_wh)} by {_local(departure, 'UTC')} UTC"


def scheduled_subject(charge: PlannedCharge, time_zone: str) -> str:
    where = f"{charge.station_id} (EVSE {charge.evse_id}, connector {charge.connector_id})"
    if charge.planned_start is None or charge.planned_finish is None:
        text = f"Charging at {where}: {kwh(charge.energy_wh)}, no time slot yet"
    else:
        text = (
            f"Charging at {where} from {_local(charge.planned_start, time_zone)} to "
            f"{_local(charge.planned_finish, time_zone)} {time_zone}: {kwh(charge.energy_wh)}"
        )
    if charge.energy_wh < charge.requested_wh:
        text += f" of the {kwh(charge.requested_wh)} requested (the site cannot deliver more before departure)"
    return text


def _when(at: datetime | None, time_zone: str | None) -> str:
    if at is None:
        return "no time yet"
    zone = time_zone or "UTC"
    return f"{_local(at, zone)} {zone}"


def waitlisted(reservation_id: str) -> Message:
    return Message(
        Kind.WAITLISTED,
        f"Reservation {reservation_id}: no connector is free for your time; you are on the waiting list",
        "We tell you as soon as a connector becomes free.",
        {},
    )


def promoted(reservation_id: str, station_id: str | None, planned_start: datetime | None, tz: str | None) -> Message:
    where = f" at {station_id}" if station_id else ""
    return Message(
        Kind.PROMOTED,
        f"Reservation {reservation_id}: a connector became free{where}, you are off the waiting list",
        f"Charging starts {_when(planned_start, tz)}.",
        {"station_id": station_id},
    )


def no_show(reservation_id: str, arrival: datetime, tz: str | None) -> Message:
    return Message(
        Kind.NO_SHOW,
        f"Reservation {reservation_id}: your car had not arrived by {_when(arrival, tz)}; the slot was released",
        "Make a new reservation when you are on your way.",
        {"arrival": arrival.isoformat()},
    )


FULL_CHARGE_LATER = "full_charge_later"
LESS_CHARGE_ON_TIME = "less_charge_on_time"


def conflict_offer(
    reservation_id: str,
    *,
    departure: datetime,
    requested_wh: int,
    deliverable_wh: int | None,
    full_charge_finish: datetime | None,
    tz: str | None,
) -> Message:
    """The two answers of a conflict (reservation-api's POST /v1/reservations/{id}/decision)."""
    less = f"{kwh(deliverable_wh)} by {_when(departure, tz)}" if deliverable_wh is not None else "less, on time"
    later = (
        f"{kwh(requested_wh)} by {_when(full_charge_finish, tz)}"
        if full_charge_finish
        else f"{kwh(requested_wh)}, later"
    )
    choices = [
        {"choice": FULL_CHARGE_LATER, "label": f"Full charge, later: {later}"},
        {"choice": LESS_CHARGE_ON_TIME, "label": f"Less charge, on time: {less}"},
    ]
    return Message(
        Kind.CONFLICT,
        f"Reservation {reservation_id}: we cannot deliver {kwh(requested_wh)} by {_when(departure, tz)}; please choose",
        "\n".join(c["label"] for c in choices) + f"\nAnswer with POST /v1/reservations/{reservation_id}/decision.",
        {"choices": choices, "decision_path": f"/v1/reservations/{reservation_id}/decision"},
    )


def charging_started(reservation_id: str, station_id: str | None) -> Message:
    where = f" at {station_id}" if station_id else ""
    return Message(Kind.CHARGING_STARTED, f"Reservation {reservation_id}: charging started{where}", "", {})


def energy_reached(reservation_id: str, delivered_wh: int, planned_wh: int) -> Message:
    return Message(
        Kind.ENERGY_REACHED,
        f"Reservation {reservation_id}: the planned {kwh(planned_wh)} are in the car",
        f"Delivered so far: {kwh(delivered_wh)}.",
        {"delivered_wh": delivered_wh, "planned_wh": planned_wh},
    )


def charging_completed(reservation_id: str, delivered_wh: int | None) -> Message:
    amount = f": {kwh(delivered_wh)} delivered" if delivered_wh is not None else ""
    return Message(
        Kind.CHARGING_COMPLETED,
        f"Reservation {reservation_id}: charging complete{amount}",
        "",
        {"delivered_wh": delivered_wh},
    )


def station_fault(reservation_id: str, station_id: str, status: str) -> Message:
    return Message(
        Kind.STATION_FAULT,
        f"Reservation {reservation_id}: station {station_id} is {status.lower()}; we are re-planning your charge",
        "You will be told where and when you charge instead.",
        {"station_id": station_id, "status": status},
    )


def station_alert(
    station_id: str, evse_id: int, status: str, error_code: str | None, vendor_code: str | None
) -> Message:
    kind = Kind.ALERT_STATION_OFFLINE if status == "Offline" else Kind.ALERT_STATION_FAULTED
    where = station_id if evse_id == 0 else f"{station_id} EVSE {evse_id}"
    codes = ", ".join(c for c in (error_code, vendor_code) if c)
    return Message(
        kind,
        f"Station {where} is {status.lower()}" + (f" ({codes})" if codes else ""),
        "",
        {
            "station_id": station_id,
            "evse_id": evse_id,
            "status": status,
            "error_code": error_code,
            "vendor_error_code": vendor_code,
        },
    )


# OCPP 1.6 FirmwareStatus and 2.0.1 FirmwareStatusEnumType values that mean the update failed.
FIRMWARE_FAILURES = frozenset(
    {"DownloadFailed", "InstallationFailed", "InstallVerificationFailed", "InvalidSignature", "InstallRebootFailed"}
)


def firmware_failed(station_id: str, status: str) -> Message:
    return Message(
        Kind.ALERT_FIRMWARE_FAILED,
        f"Firmware update failed on station {station_id}: {status}",
        "",
        {"station_id": station_id, "status": status},
    )
