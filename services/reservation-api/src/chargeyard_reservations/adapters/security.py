"""Secrets at rest and on the wire: passwords, API keys, bearer tokens.

- Passwords: Argon2id (RFC 9106) through argon2-cffi with its default cost parameters; a hash
  made with older parameters is re-hashed on the next successful login.
- API keys: 256 random bits, shown once; stored as SHA-256. A KDF would add nothing against
  guessing a value with that much entropy, and a keyed lookup by digest keeps every request cheap.
- Bearer tokens: JWT (RFC 7519) signed with HS256, short-lived, naming the user, its tenant and
  roles; the user's row is still read on each request, so a disabled user is refused at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

API_KEY_PREFIX = "cy_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> tuple[bool, str | None]:
    """(matches, a new hash when the stored one used weaker parameters)."""
    if stored is None:
        # Same work as a real check, so a missing user is not told apart by timing.
        _hasher.hash(password)
        return False, None
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False, None
    return True, (_hasher.hash(password) if _hasher.check_needs_rehash(stored) else None)


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class TokenSigner:
    secret: str
    issuer: str
    ttl: timedelta

    def issue(self, *, user_id: str, tenant_id: str, roles: list[str], now: datetime) -> str:
        claims = {
            "iss": self.issuer,
            "sub": user_id,
            "tenant": tenant_id,
            "roles": roles,
            "iat": int(now.timestamp()),
            "exp": int((now + self.ttl).timestamp()),
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def verify(self, token: str, *, now: datetime) -> dict[str, Any] | None:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.secret,
                algorithms=["HS256"],
                issuer=self.issuer,
                options={
                    "require": ["exp", "sub", "iss"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError:
            return None
        # Expiry against the service's clock (simulated in tests and demos), not the wall clock.
        if int(claims["exp"]) <= now.timestamp():
            return None
        return claims


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("eyJ")
