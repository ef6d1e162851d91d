"""Who is who, from the reservation API over HTTP.

Events on public topics carry a driver's pseudonym only; the reservation API owns names and
addresses (and erases them on request). The notifier asks it, with its own API key, rather than
keeping a copy fed from a topic: an erased driver's address is gone here too once the cache
expires (contacts_ttl_s), and no personal data travels on Kafka. The price is a dependency at
send time: while the reservation API is down, e-mails wait and are retried.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from chargeyard_platform import auth


class DirectoryUnavailable(auth.ReservationApiUnavailable):
    pass


@dataclass(frozen=True)
class Caller(auth.Caller):
    """Who opened a stream or called the API."""

    driver: str | None = None
    """The driver's pseudonym: the recipient of their notifications."""


class Directory(Protocol):
    async def email_of(self, pseudonym: str) -> str | None: ...

    async def pseudonym_of_user(self, user_id: str) -> str | None: ...


@dataclass
class ReservationDirectory:
    base_url: str
    api_key: str | None
    ttl_s: float = 300.0
    timeout_s: float = 5.0
    _drivers: dict[str, dict[str, Any]] = field(default_factory=dict)
    """pseudonym -> the reservation API's Driver record."""
    _loaded_at: float = -1e9
    _users: dict[str, tuple[float, str | None]] = field(default_factory=dict)

    async def email_of(self, pseudonym: str) -> str | None:
        driver = await self._driver(pseudonym)
        if driver is None or driver.get("erased_at"):
            return None
        email: str | None = driver.get("email")
        return email

    async def pseudonym_of_user(self, user_id: str) -> str | None:
        cached = self._users.get(user_id)
        if cached is not None and time.monotonic() - cached[0] < self.ttl_s:
            return cached[1]
        user = await self._get(f"/v1/users/{user_id}", self._service_key())
        pseudonym = None
        if user is not None and user.get("driver_id"):
            await self._refresh_if_stale()
            by_id = {d["id"]: p for p, d in self._drivers.items()}
            if user["driver_id"] not in by_id:
                await self._refresh()
                by_id = {d["id"]: p for p, d in self._drivers.items()}
            pseudonym = by_id.get(user["driver_id"])
        self._users[user_id] = (time.monotonic(), pseudonym)
        return pseudonym

    async def _driver(self, pseudonym: str) -> dict[str, Any] | None:
        await self._refresh_if_stale()
        if pseudonym not in self._drivers:
            await self._refresh()  # a driver made since the last look
        return self._drivers.get(pseudonym)

    async def _refresh_if_stale(self) -> None:
        if time.monotonic() - self._loaded_at > self.ttl_s:
            await self._refresh()

    async def _refresh(self) -> None:
        drivers: dict[str, dict[str, Any]] = {}
        cursor: str | None = None
        while True:
            params = {"limit": "500"} | ({"cursor": cursor} if cursor else {})
            page = await self._get("/v1/drivers", self._service_key(), params=params)
            if page is None:
                raise DirectoryUnavailable("the reservation API refused the notifier's API key for /v1/drivers")
            for driver in page["items"]:
                drivers[driver["pseudonym"]] = driver
            cursor = page.get("next_cursor")
            if not cursor:
                break
        self._drivers = drivers
        self._loaded_at = time.monotonic()

    def _service_key(self) -> str:
        if not self.api_key:
            raise DirectoryUnavailable("NOTIFIER_RESERVATIONS_API_KEY is not set: drivers' addresses are unknown")
        return self.api_key

    async def _get(self, path: str, token: str, params: dict[str, str] | None = None) -> Any:
        """The JSON body; None for 401/403/404 (an unknown caller or user)."""
        try:
            async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout_s) as client:
                response = await client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            raise DirectoryUnavailable(f"reservation API at {self.base_url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code in (401, 403, 404):
            return None
        if not response.is_success:
            raise DirectoryUnavailable(f"reservation API GET {path}: HTTP {response.status_code}")
        return response.json()
