"""REST /v1: notifications, the delivery log, preferences per channel, webhooks."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from typing import Annotated

import sqlalchemy as sa
from chargeyard_platform.problems import Problem
from chargeyard_platform.runtime import runtime_of
from fastapi import APIRouter, Query, Request, Response
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from .. import views
from ..adapters.orm import preferences, webhooks
from ..domain.messages import Channel, Kind
from .auth import Authenticated, recipient_for

router = APIRouter(prefix="/v1", tags=["notifications"])

Recipient = Annotated[str | None, Query(max_length=64, description='A driver pseudonym, or "operator"; operators only')]


@router.get("/notifications", response_model=list[views.NotificationView])
async def list_notifications(
    request: Request,
    caller: Authenticated,
    recipient: Recipient = None,
    reservation_id: Annotated[str | None, Query(max_length=64)] = None,
    kind: Kind | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[views.NotificationView]:
    """Newest first. A driver sees their own; an operator anyone's (all, when recipient is left out)."""
    who = None if caller.operator and recipient is None else recipient_for(caller, recipient)
    async with runtime_of(request).db.sessions() as session:
        return await views.list_notifications(
            session, recipient=who, reservation_id=reservation_id, kind=kind.value if kind else None, limit=limit
        )


@router.get("/deliveries", response_model=list[views.DeliveryView])
async def list_deliveries(
    request: Request,
    caller: Authenticated,
    recipient: Recipient = None,
    notification_id: Annotated[str | None, Query(max_length=36)] = None,
    channel: Channel | None = None,
    status: Annotated[str | None, Query(pattern="^(pending|sent|failed|skipped)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[views.DeliveryView]:
    """The delivery log, newest first: every channel's attempts, outcome and last error."""
    who = None if caller.operator and recipient is None else recipient_for(caller, recipient)
    async with runtime_of(request).db.sessions() as session:
        return await views.list_deliveries(
            session,
            recipient=who,
            notification_id=notification_id,
            channel=channel.value if channel else None,
            status=status,
            limit=limit,
        )


# --- preferences -----------------------------------------------------------------------------------

USER_CHANNELS = (Channel.PUSH, Channel.EMAIL)


class Preference(BaseModel):
    channel: Channel
    enabled: bool


class PreferenceChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool


@router.get("/preferences", response_model=list[Preference], tags=["preferences"])
async def get_preferences(request: Request, caller: Authenticated, recipient: Recipient = None) -> list[Preference]:
    """Every channel is on until switched off."""
    who = recipient_for(caller, recipient)
    p = preferences.c
    async with runtime_of(request).db.sessions() as session:
        chosen = {
            row.channel: row.enabled
            for row in await session.execute(sa.select(p.channel, p.enabled).where(p.recipient == who))
        }
    return [Preference(channel=c, enabled=chosen.get(c.value, True)) for c in USER_CHANNELS]


@router.put("/preferences/{channel}", response_model=Preference, tags=["preferences"])
async def set_preference(
    channel: Channel, body: PreferenceChange, request: Request, caller: Authenticated, recipient: Recipient = None
) -> Preference:
    if channel not in USER_CHANNELS:
        raise Problem(422, "Not a personal channel", "Webhooks are set up with POST /v1/webhooks; use push or email")
    who = recipient_for(caller, recipient)
    runtime = runtime_of(request)
    p = preferences.c
    async with runtime.db.transaction() as session:
        exists = (
            await session.execute(sa.select(p.enabled).where(p.recipient == who).where(p.channel == channel.value))
        ).first()
        values = {"enabled": body.enabled, "updated_at": runtime.clock.now()}
        if exists is None:
            await session.execute(preferences.insert().values(recipient=who, channel=channel.value, **values))
        else:
            await session.execute(
                preferences.update().where(p.recipient == who).where(p.channel == channel.value).values(**values)
            )
    return Preference(channel=channel, enabled=body.enabled)


# --- webhooks --------------------------------------------------------------------------------------


class WebhookRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: AnyHttpUrl
    secret: str | None = Field(
        default=None, min_length=16, max_length=200, description="HMAC-SHA256 key; generated when left out"
    )
    kinds: list[Kind] = Field(default_factory=list, description="Only these kinds; empty = every kind")
    recipient: str | None = Field(default=None, max_length=64, description='Only for this recipient, e.g. "operator"')


class Webhook(BaseModel):
    id: str
    url: str
    kinds: list[str]
    recipient: str | None
    active: bool
    created_at: datetime


class NewWebhook(Webhook):
    secret: str = Field(description="Shown once: checks the X-Chargeyard-Signature header")


def _operator(caller: Authenticated) -> None:
    if not caller.operator:
        raise Problem(403, "Forbidden", "Webhooks are managed by operators and fleet managers")


@router.post("/webhooks", status_code=201, response_model=NewWebhook, tags=["webhooks"])
async def create_webhook(body: WebhookRequest, request: Request, caller: Authenticated) -> NewWebhook:
    """Each notification of a matching kind is POSTed as JSON, signed (X-Chargeyard-Signature:
    t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">), retried with exponential backoff until 2xx."""
    _operator(caller)
    runtime = runtime_of(request)
    row = {
        "id": str(uuid.uuid4()),
        "url": str(body.url),
        "secret": body.secret or secrets.token_urlsafe(32),
        "kinds": [k.value for k in body.kinds],
        "recipient": body.recipient,
        "active": True,
        "created_by": caller.id,
        "created_at": runtime.clock.now(),
    }
    async with runtime.db.transaction() as session:
        await session.execute(webhooks.insert().values(**row))
    return NewWebhook.model_validate(row)


@router.get("/webhooks", response_model=list[Webhook], tags=["webhooks"])
async def list_webhooks(request: Request, caller: Authenticated) -> list[Webhook]:
    _operator(caller)
    async with runtime_of(request).db.sessions() as session:
        rows = (
            await session.execute(sa.select(webhooks).where(webhooks.c.active).order_by(webhooks.c.created_at))
        ).all()
    return [Webhook.model_validate(r._asdict()) for r in rows]


@router.delete("/webhooks/{webhook_id}", status_code=204, tags=["webhooks"])
async def delete_webhook(webhook_id: str, request: Request, caller: Authenticated) -> Response:
    _operator(caller)
    async with runtime_of(request).db.transaction() as session:
        result = await session.execute(
            webhooks.update().where(webhooks.c.id == webhook_id).where(webhooks.c.active).values(active=False)
        )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise Problem(404, "Webhook not found", f"No active webhook with id {webhook_id}")
    return Response(status_code=204)
