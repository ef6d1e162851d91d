"""The outside world the dispatcher talks to: an SMTP server and fleet systems' webhooks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any, Protocol

import aiosmtplib
import httpx
from chargeyard_platform.webhooks import SIGNATURE_HEADER, retryable_status, sign


class DeliveryFailed(Exception):
    """`permanent`: trying again will not help (a refused address, a 4xx from a webhook)."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


class Mailer(Protocol):
    async def send(self, *, to: str, subject: str, body: str, message_id: str) -> None: ...


class WebhookSender(Protocol):
    async def post(self, *, url: str, secret: str, payload: dict[str, Any], delivery_id: str, at: datetime) -> None: ...


@dataclass(frozen=True)
class SmtpMailer:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout_s: float = 10.0

    async def send(self, *, to: str, subject: str, body: str, message_id: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        # The same Message-ID on a resend (a crash after the server took it): receivers can tell.
        message["Message-ID"] = message_id
        message.set_content(body or subject)
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                start_tls=self.starttls,
                timeout=self.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise DeliveryFailed(f"SMTP refused {to}: {exc}", permanent=True) from exc
        except aiosmtplib.SMTPResponseException as exc:
            # RFC 5321 §4.2.1: 5yz is a permanent failure, 4yz a transient one.
            raise DeliveryFailed(f"SMTP {exc.code}: {exc.message}", permanent=exc.code >= 500) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"SMTP server {self.host}:{self.port}: {exc}") from exc


@dataclass(frozen=True)
class HttpWebhookSender:
    timeout_s: float = 5.0

    async def post(self, *, url: str, secret: str, payload: dict[str, Any], delivery_id: str, at: datetime) -> None:
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret, body, at),
            "X-Chargeyard-Delivery": delivery_id,
            "X-Chargeyard-Event": str(payload.get("kind", "")),
        }
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"POST {url}: {type(exc).__name__}: {exc}") from exc
        if response.is_success:
            return
        raise DeliveryFailed(
            f"POST {url}: HTTP {response.status_code}", permanent=not retryable_status(response.status_code)
        )
