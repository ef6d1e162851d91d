"""Checking the bearer tokens the reservation API issues (JWT, RFC 7519, HS256), for any service
that serves users: one key (the reservation API's jwt_secret), read by every service that checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("eyJ")


@dataclass(frozen=True)
class TokenVerifier:
    secret: str
    issuer: str

    def verify(self, token: str, *, now: datetime) -> dict[str, Any] | None:
        """The claims of a valid, unexpired token; None for anything else."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.secret,
                algorithms=["HS256"],
                issuer=self.issuer,
                options={"require": ["exp", "sub", "iss"], "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            return None
        # Expiry against the service's clock (simulated in tests and demos), not the wall clock.
        if int(claims["exp"]) <= now.timestamp():
            return None
        return claims
