"""Form values from people: parsed here, with an error that names the field."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..adapters.platform import Rejected


def bad(field: str, message: str) -> Rejected:
    return Rejected(422, "Invalid form", f"{field}: {message}")


def local_time(field: str, value: str, time_zone: str) -> datetime:
    """A `datetime-local` input (no offset) read in the site's time zone."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise bad(field, f"{value!r} is not a date and time like 2026-05-01T17:30") from None
    if parsed.tzinfo is not None:
        return parsed
    try:
        return parsed.replace(tzinfo=ZoneInfo(time_zone))
    except ZoneInfoNotFoundError:
        raise bad(field, f"unknown time zone {time_zone}") from None


def watt_hours(field: str, kilowatt_hours: str) -> int:
    try:
        amount = Decimal(kilowatt_hours.strip().replace(",", "."))
    except InvalidOperation:
        raise bad(field, f"{kilowatt_hours!r} is not a number of kWh") from None
    if not amount.is_finite() or amount <= 0 or amount > 200:
        raise bad(field, "must be more than 0 and at most 200 kWh")
    return int(amount * 1000)


def scaled(field: str, value: str, *, unit: str, factor: int, most: Decimal) -> int:
    """A positive amount in the unit people type (kWh, kW), as the integer the APIs take (Wh, W)."""
    try:
        amount = Decimal(value.strip().replace(",", "."))
    except InvalidOperation:
        raise bad(field, f"{value!r} is not a number of {unit}") from None
    if not amount.is_finite() or amount <= 0 or amount > most:
        raise bad(field, f"must be more than 0 and at most {most} {unit}")
    return int(amount * factor)


def optional(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None
