"""Signed webhooks, the rules every service that calls a customer's URL follows: how a body is
signed and checked, and when a failed delivery is tried again."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

SIGNATURE_HEADER = "X-Chargeyard-Signature"
"""`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the webhook's secret>`.

The timestamp is signed with the body so a captured request cannot be replayed later (the
receiver refuses an old `t`): the scheme Stripe and Svix use."""


def sign(secret: str, body: bytes, at: datetime) -> str:
    t = int(at.timestamp())
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, body: bytes, header: str, now: datetime, tolerance: timedelta = timedelta(minutes=5)) -> bool:
    """What a receiver does; for tests and for fleet systems to copy."""
    try:
        parts = dict(part.split("=", 1) for part in header.split(","))
        t = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(now.timestamp() - t) > tolerance.total_seconds():
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


def next_attempt(now: datetime, attempts: int, base_s: float, max_s: float) -> datetime:
    """Exponential backoff after the `attempts`-th failure: base, 2 x base, 4 x base ... capped."""
    return now + timedelta(seconds=min(max_s, base_s * 2 ** max(0, attempts - 1)))


def retryable_status(status_code: int) -> bool:
    """An answer worth trying again: server errors, 408 and 429 (RFC 9110 §15.5.9, RFC 6585 §4)."""
    return status_code >= 500 or status_code in (408, 429)
