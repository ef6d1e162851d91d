"""REST /v1/webhooks: a fleet system subscribes a URL to its tenant's reservation changes and
reads the delivery log. Bodies are signed (X-Chargeyard-Signature, see chargeyard_platform.webhooks)."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import sqlalchemy as sa
from chargeyard_platform.runtime import runtime_of
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, UrlConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from ..adapters.orm import webhook_deliveries, webhooks
from ..domain.access import Permission, Principal
from .common import (
    ERRORS,
    IdempotencyKey,
    Page,
    ProblemRoute,
    audit,
    idempotent,
    owned_row,
    page,
    require,
    target_tenant,
    tenant_filter,
)

router = APIRouter(prefix="/v1", tags=["webhooks"], route_class=ProblemRoute, responses=ERRORS)
Manager = Annotated[Principal, Depends(require(Permission.WEBHOOKS_MANAGE))]
CREATED = {200: {"description": "A replay: the same Idempotency-Key and body as an earlier request"}}
WebhookUrl = Annotated[AnyHttpUrl, UrlConstraints(max_length=2000, allowed_schemes=["http", "https"])]


class WebhookEvent(StrEnum):
    CREATED = "reservation.created"
    UPDATED = "reservation.updated"
    CANCELLED = "reservation.cancelled"
    DECIDED = "reservation.decided"


class WebhookRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: WebhookUrl = Field(description="Where each event is POSTed as JSON")
    events: list[WebhookEvent] = Field(default_factory=lambda: list(WebhookEvent), min_length=1, max_length=4)
    description: str | None = Field(default=None, max_length=200)
    tenant_id: str | None = Field(default=None, max_length=64, description="Administrators only")


class Webhook(BaseModel):
    id: str
    tenant_id: str
    url: str
    events: list[WebhookEvent]
    description: str | None
    active: bool
    created_at: datetime


class WebhookCreated(Webhook):
    secret: str = Field(
        description="Shown once. The receiver checks X-Chargeyard-Signature: t=<unix seconds>,v1=<hex "
        'HMAC-SHA256 of "<t>.<body>" with this secret>, and refuses an old t'
    )


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Delivery(BaseModel):
    id: str = Field(description="Also sent as X-Chargeyard-Delivery: receivers deduplicate by it")
    event_id: str
    event_type: WebhookEvent
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


@router.post("/webhooks", status_code=201, response_model=WebhookCreated, responses=CREATED)
async def create_webhook(
    body: WebhookRequest,
    request: Request,
    response: Response,
    principal: Manager,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Every later change of the tenant's reservations of the chosen types is POSTed to `url`;
    a receiver that does not answer 2xx gets it again with exponential backoff."""

    async def work(session: AsyncSession) -> tuple[int, BaseModel]:
        now = runtime_of(request).clock.now()
        row = {
            "id": str(uuid.uuid4()),
            "tenant_id": target_tenant(principal, body.tenant_id),
            "url": str(body.url),
            "secret": "whsec_" + secrets.token_urlsafe(32),
            "events": sorted({e.value for e in body.events}),
            "description": body.description,
            "active": True,
            "created_at": now,
        }
        await session.execute(webhooks.insert().values(**row))
        await audit(
            session,
            actor=principal.scope,
            tenant_id=row["tenant_id"],
            action="created",
            entity="webhook",
            entity_id=row["id"],
            at=now,
            detail={"url": row["url"], "events": row["events"]},
        )
        return 201, WebhookCreated.model_validate(row)

    return await idempotent(request, response, principal, idempotency_key, work)


@router.get("/webhooks", response_model=Page[Webhook])
async def list_webhooks(
    request: Request,
    principal: Manager,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[Webhook]:
    async with runtime_of(request).db.sessions() as session:
        rows, next_cursor = await page(
            session, sa.select(webhooks).where(tenant_filter(webhooks, principal)), webhooks, limit, cursor
        )
    return Page[Webhook](items=[Webhook.model_validate(r._asdict()) for r in rows], next_cursor=next_cursor)


async def _webhook(session: AsyncSession, principal: Principal, webhook_id: str) -> Any:
    return await owned_row(session, webhooks, webhooks.c.id, webhook_id, principal, "Webhook")


@router.get("/webhooks/{webhook_id}", response_model=Webhook)
async def get_webhook(webhook_id: str, request: Request, principal: Manager) -> Webhook:
    async with runtime_of(request).db.sessions() as session:
        return Webhook.model_validate((await _webhook(session, principal, webhook_id))._asdict())


@router.delete("/webhooks/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: str, request: Request, principal: Manager) -> Response:
    """No more deliveries; the pending ones and the delivery log go with it (the audit log keeps
    who deleted it)."""
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        row = await _webhook(session, principal, webhook_id)
        await session.execute(webhook_deliveries.delete().where(webhook_deliveries.c.webhook_id == webhook_id))
        await session.execute(webhooks.delete().where(webhooks.c.id == webhook_id))
        await audit(
            session,
            actor=principal.scope,
            tenant_id=row.tenant_id,
            action="deleted",
            entity="webhook",
            entity_id=webhook_id,
            at=runtime.clock.now(),
        )
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=Page[Delivery])
async def list_deliveries(
    webhook_id: str,
    request: Request,
    principal: Manager,
    status: DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[Delivery]:
    """The delivery log, oldest first: what was sent, how often, and what the receiver answered."""
    async with runtime_of(request).db.sessions() as session:
        await _webhook(session, principal, webhook_id)
        query = sa.select(webhook_deliveries).where(webhook_deliveries.c.webhook_id == webhook_id)
        if status is not None:
            query = query.where(webhook_deliveries.c.status == status.value)
        rows, next_cursor = await page(session, query, webhook_deliveries, limit, cursor)
    return Page[Delivery](items=[Delivery.model_validate(r._asdict()) for r in rows], next_cursor=next_cursor)
