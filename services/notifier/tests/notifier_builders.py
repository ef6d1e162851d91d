"""Builders: a valid event with sensible defaults, changed only where a test cares; tokens the
reservation API would issue; a fake of the reservation API as a directory."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from chargeyard_contracts import (
    PlannedCharge,
    ReservationConflict,
    ReservationCreated,
    ReservationUpdated,
    ScheduleUpdated,
    StationStatusChanged,
)
from chargeyard_devstack.testing import serving as serving
from chargeyard_notifier.adapters.directory import Caller

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
JWT_SECRET = "test-secret-of-at-least-thirty-two-characters"
JWT_ISSUER = "chargeyard-reservation-api"
OPERATOR_EMAILS = ("ops@example.com", "oncall@example.com")
ADMIN_KEY = "cy_admin-key-for-tests"


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def a_token(
    user_id: str = "user-7",
    roles: tuple[str, ...] = ("driver",),
    *,
    expires: datetime | None = None,
    secret: str = JWT_SECRET,
) -> str:
    """What the reservation API's POST /v1/auth/token returns (same claims, same key)."""
    claims = {
        "iss": JWT_ISSUER,
        "sub": user_id,
        "tenant": "default",
        "roles": list(roles),
        "iat": int(T0.timestamp()),
        "exp": int((expires or at(1)).timestamp()),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def driver_headers(user_id: str = "user-7") -> dict[str, str]:
    return {"Authorization": f"Bearer {a_token(user_id)}"}


def operator_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {a_token('ops-1', ('site_operator',))}"}


@dataclass
class FakeDirectory:
    """The reservation API's answers: user-7 is driver-7 (driver@example.com)."""

    emails: dict[str, str | None] = field(default_factory=lambda: {"driver-7": "driver@example.com"})
    users: dict[str, str] = field(default_factory=lambda: {"user-7": "driver-7", "user-8": "driver-8"})
    unavailable: bool = False

    async def email_of(self, pseudonym: str) -> str | None:
        self._check()
        return self.emails.get(pseudonym)

    async def pseudonym_of_user(self, user_id: str) -> str | None:
        self._check()
        return self.users.get(user_id)

    async def caller_of_api_key(self, api_key: str) -> Caller | None:
        self._check()
        return Caller(id="admin", roles=frozenset({"administrator"}), driver=None) if api_key == ADMIN_KEY else None

    def _check(self) -> None:
        from chargeyard_notifier.adapters.directory import DirectoryUnavailable

        if self.unavailable:
            raise DirectoryUnavailable("the reservation API is down (fake)")


def a_reservation(**changes: Any) -> ReservationCreated:
    fields: dict[str, Any] = {
        "reservation_id": "res-1",
        "site_id": "site-a",
        "driver_id": "driver-7",
        "arrival": at(0),
        "departure": at(9),
        "energy_wh": 30_000,
        "max_power_w": 11_000,
        "created_at": at(-1),
    }
    return ReservationCreated(**{**fields, **changes})


def an_update(status: str, **changes: Any) -> ReservationUpdated:
    fields: dict[str, Any] = {
        "reservation_id": "res-1",
        "site_id": "site-a",
        "status": status,
        "driver_id": "driver-7",
        "arrival": at(0),
        "departure": at(9),
        "energy_wh": 30_000,
        "max_power_w": 11_000,
        "assigned_station_id": "CP-1",
        "assigned_evse_id": 1,
        "planned_start": at(1),
        "planned_finish": at(4),
        "planned_energy_wh": 30_000,
        "changes": ("status",),
        "updated_at": at(0.5),
    }
    return ReservationUpdated(**{**fields, **changes})


def a_conflict(**changes: Any) -> ReservationConflict:
    fields: dict[str, Any] = {
        "reservation_id": "res-1",
        "site_id": "site-a",
        "plan_id": "plan-9",
        "kind": "short",
        "departure": at(9),
        "requested_wh": 30_000,
        "deliverable_wh": 18_000,
        "full_charge_finish": at(11),
        "detected_at": at(0.2),
    }
    return ReservationConflict(**{**fields, **changes})


def a_status(status: str, **changes: Any) -> StationStatusChanged:
    fields: dict[str, Any] = {
        "station_id": "CP-1",
        "evse_id": 1,
        "connector_id": 1,
        "status": status,
        "received_at": at(0.7),
    }
    return StationStatusChanged(**{**fields, **changes})


def a_charge(**changes: Any) -> PlannedCharge:
    fields: dict[str, Any] = {
        "reservation_id": "res-1",
        "station_id": "CP-1",
        "evse_id": 1,
        "connector_id": 1,
        "planned_start": at(1),
        "planned_finish": at(4),
        "energy_wh": 30_000,
        "requested_wh": 30_000,
    }
    return PlannedCharge(**{**fields, **changes})


def a_schedule(*charges: PlannedCharge, **changes: Any) -> ScheduleUpdated:
    fields: dict[str, Any] = {
        "site_id": "site-a",
        "plan_id": "plan-1",
        "time_zone": "Europe/Berlin",
        "horizon_start": at(0),
        "horizon_end": at(24),
        "slot_seconds": 900,
        "site_limit_w": 100_000,
        "strategy": "fcfs",
        "charges": charges,
        "solver_status": "optimal",
        "solve_ms": 12,
    }
    return ScheduleUpdated(**{**fields, **changes})


class EventReader:
    """Server-Sent Events from an open httpx stream: id, event and parsed data of each."""

    def __init__(self, response: Any) -> None:
        self._lines = response.aiter_lines()

    async def next(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        current: dict[str, Any] = {}

        async def collect() -> None:
            async for line in self._lines:
                if line == "":
                    if "data" in current:
                        events.append(dict(current))
                        if len(events) == count:
                            return
                    current.clear()
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    current[name] = json.loads(value.strip()) if name == "data" else value.strip()

        try:
            await asyncio.wait_for(collect(), timeout)
        except TimeoutError as exc:
            raise AssertionError(f"{len(events)} of {count} events within {timeout} s: {events}") from exc
        return events
