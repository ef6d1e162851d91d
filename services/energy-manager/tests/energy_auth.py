"""Credentials as the reservation API issues them, for the energy manager's API tests: JWTs signed
with the shared key, and API keys known to a fake of its GET /v1/me."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import jwt
from chargeyard_platform.auth import Caller

JWT_SECRET = "energy-test-secret-of-at-least-thirty-two-characters"
JWT_ISSUER = "chargeyard-reservation-api"
ADMIN_KEY = "cy_admin-key-for-energy-tests"


def a_token(user_id: str = "7", roles: tuple[str, ...] = ("administrator",), *, ttl_s: int = 3600) -> str:
    """What the reservation API's POST /v1/auth/token returns (same claims, same key)."""
    now = int(time.time())
    claims = {"iss": JWT_ISSUER, "sub": user_id, "tenant": "default", "roles": list(roles), "iat": now}
    return jwt.encode(claims | {"exp": now + ttl_s}, JWT_SECRET, algorithm="HS256")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def as_role(*roles: str, user_id: str = "7") -> dict[str, str]:
    return bearer(a_token(user_id, roles))


@dataclass
class FakeApiKeys:
    """The reservation API's GET /v1/me: the administrator key, and whatever a test adds."""

    keys: dict[str, Caller] = field(
        default_factory=lambda: {ADMIN_KEY: Caller(id="admin", roles=frozenset({"administrator"}), kind="api_key")}
    )
    asked: int = 0

    async def caller_of_api_key(self, api_key: str) -> Caller | None:
        self.asked += 1
        return self.keys.get(api_key)
