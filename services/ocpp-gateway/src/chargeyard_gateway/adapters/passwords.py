"""Station passwords (security profiles 1 and 2), stored as argon2id hashes (RFC 9106).

Parameters: OWASP's argon2id minimum (19 MiB, t=2, p=1), about 20-30 ms per check. Station
passwords are machine-generated (16-40 characters, OCPP 2.0.1 A01), so the KDF guards a leaked
table, not a weak secret; a heavier setting would make a reconnect storm of 10,000 stations cost
minutes of CPU. Checks run in a worker thread so the event loop keeps serving the fleet, and a
successful check is remembered (keyed by the stored hash and an HMAC of the password under a
per-process random key) so a station reconnecting with the same password is not hashed again.
Changing the password changes the stored hash, which invalidates the memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections import OrderedDict

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_password(password: str) -> str:
    return _HASHER.hash(password.encode("utf-8", "surrogateescape"))


class PasswordChecker:
    def __init__(self, remember: int = 100_000) -> None:
        self._key = secrets.token_bytes(32)
        self._verified: OrderedDict[tuple[str, bytes], None] = OrderedDict()
        self._remember = remember

    def _tag(self, password: str) -> bytes:
        return hmac.new(self._key, password.encode("utf-8", "surrogateescape"), hashlib.sha256).digest()

    async def check(self, stored_hash: str, password: str) -> bool:
        key = (stored_hash, self._tag(password))
        if key in self._verified:
            self._verified.move_to_end(key)
            return True
        ok = await asyncio.to_thread(_verify, stored_hash, password)
        if ok:
            self._verified[key] = None
            while len(self._verified) > self._remember:
                self._verified.popitem(last=False)
        return ok


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored_hash, password.encode("utf-8", "surrogateescape"))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
