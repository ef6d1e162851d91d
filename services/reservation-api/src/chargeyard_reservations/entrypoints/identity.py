"""Tenants, users, API keys, bearer tokens and the audit log."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from chargeyard_platform.problems import Problem
from chargeyard_platform.runtime import runtime_of
from fastapi import APIRouter, Depends, Form, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from ..adapters.orm import api_keys, audit_log, drivers, tenants, users
from ..adapters.security import digest, hash_password, new_api_key, verify_password
from ..domain.access import Permission, Principal, Role
from .common import (
    ERRORS,
    IdempotencyKey,
    Page,
    ProblemRoute,
    audit,
    authenticate,
    client_address,
    idempotent,
    limiter_of,
    not_found,
    owned_row,
    page,
    require,
    settings_of,
    signer_of,
    target_tenant,
    tenant_filter,
    too_many,
)

P = Permission
router = APIRouter(prefix="/v1", route_class=ProblemRoute, responses=ERRORS)
public = APIRouter(prefix="/v1", route_class=ProblemRoute, responses=ERRORS)
CREATED = {200: {"description": "A replay: the same Idempotency-Key and body as an earlier request"}}
Email = Annotated[str, Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


@public.post("/auth/token", response_model=TokenResponse, tags=["auth"], responses={401: ERRORS[401], 429: ERRORS[429]})
async def issue_token(
    request: Request,
    username: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1000)],
    grant_type: Annotated[str, Form(pattern="^password$")] = "password",
) -> TokenResponse:
    """OAuth 2.0 password grant (RFC 6749 §4.3) for the app and the back office: a short-lived JWT."""
    runtime = runtime_of(request)
    settings = settings_of(request)
    now = runtime.clock.now()
    limiter = limiter_of(request, "logins", settings.login_attempts_per_minute)
    for caller in (f"user:{username.lower()}", f"address:{client_address(request)}"):
        if wait := limiter.take(caller, now):
            raise too_many(wait, "Too many sign-in attempts")
    async with runtime.db.transaction() as session:
        row = (await session.execute(sa.select(users).where(users.c.email == username.lower()))).first()
        ok, rehashed = verify_password(row.password_hash if row is not None else None, password)
        if row is None or not ok or not row.active:
            raise Problem(401, "Unauthorized", "Wrong user name or password")
        if rehashed:
            await session.execute(users.update().where(users.c.id == row.id).values(password_hash=rehashed))
    token = signer_of(request).issue(user_id=row.id, tenant_id=row.tenant_id, roles=list(row.roles), now=now)
    return TokenResponse(access_token=token, expires_in=settings.jwt_ttl_s)


class Me(BaseModel):
    id: str
    kind: str
    tenant_id: str
    roles: list[Role]
    permissions: list[Permission]
    driver_id: str | None


@router.get("/me", response_model=Me, tags=["auth"])
async def me(principal: Annotated[Principal, Depends(authenticate)]) -> Me:
    return Me(
        id=principal.id,
        kind=principal.kind,
        tenant_id=principal.tenant_id,
        roles=sorted(principal.roles),
        permissions=sorted(principal.permissions),
        driver_id=principal.driver_id,
    )


# --- tenants ---------------------------------------------------------------------------------------


class TenantRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str = Field(min_length=1, max_length=200)


class Tenant(BaseModel):
    id: str
    name: str
    created_at: datetime


@router.post("/tenants", status_code=201, response_model=Tenant, responses=CREATED, tags=["tenants"])
async def create_tenant(
    body: TenantRequest,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(require(P.TENANTS_MANAGE))],
    idempotency_key: IdempotencyKey = None,
) -> Any:
    async def work(session: AsyncSession) -> tuple[int, BaseModel]:
        now = runtime_of(request).clock.now()
        tenant_id = body.id or uuid.uuid4().hex[:12]
        if (await session.execute(sa.select(tenants.c.id).where(tenants.c.id == tenant_id))).first():
            raise Problem(409, "Tenant exists", f"A tenant {tenant_id} exists already")
        await session.execute(tenants.insert().values(id=tenant_id, name=body.name, created_at=now))
        await audit(
            session,
            actor=principal.scope,
            tenant_id=tenant_id,
            action="created",
            entity="tenant",
            entity_id=tenant_id,
            at=now,
        )
        return 201, Tenant(id=tenant_id, name=body.name, created_at=now)

    return await idempotent(request, response, principal, idempotency_key, work)


@router.get("/tenants", response_model=list[Tenant], tags=["tenants"])
async def list_tenants(request: Request, principal: Annotated[Principal, Depends(authenticate)]) -> list[Tenant]:
    """The administrator sees every tenant; anyone else their own."""
    query = sa.select(tenants).order_by(tenants.c.id)
    if not principal.all_tenants:
        query = query.where(tenants.c.id == principal.tenant_id)
    async with runtime_of(request).db.sessions() as session:
        return [Tenant.model_validate(r._asdict()) for r in (await session.execute(query)).all()]


# --- users -----------------------------------------------------------------------------------------


class UserRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email
    password: str | None = Field(
        default=None,
        min_length=12,
        max_length=1000,
        description="At least 12 characters; none = cannot sign in until set",
    )
    roles: list[Role] = Field(min_length=1)
    driver_id: str | None = Field(default=None, max_length=64, description="For a driver: their driver record")
    tenant_id: str | None = Field(default=None, max_length=64, description="Administrators only")


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str | None = Field(default=None, min_length=12, max_length=1000)
    roles: list[Role] | None = Field(default=None, min_length=1)
    active: bool | None = None


class User(BaseModel):
    id: str
    tenant_id: str
    email: str
    roles: list[Role]
    driver_id: str | None
    active: bool
    created_at: datetime


UserAdmin = Annotated[Principal, Depends(require(P.USERS_MANAGE))]


@router.post("/users", status_code=201, response_model=User, responses=CREATED, tags=["users"])
async def create_user(
    body: UserRequest,
    request: Request,
    response: Response,
    principal: UserAdmin,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    async def work(session: AsyncSession) -> tuple[int, BaseModel]:
        now = runtime_of(request).clock.now()
        tenant_id = target_tenant(principal, body.tenant_id)
        roles = frozenset(body.roles)
        if not principal.may_grant(roles):
            raise Problem(403, "Forbidden", "Nobody grants roles with more permissions than they hold")
        if (await session.execute(sa.select(tenants.c.id).where(tenants.c.id == tenant_id))).first() is None:
            raise Problem(422, "Unknown tenant", f"No tenant {tenant_id}")
        if (
            body.driver_id is not None
            and (
                await session.execute(
                    sa.select(drivers.c.id)
                    .where(drivers.c.id == body.driver_id)
                    .where(drivers.c.tenant_id == tenant_id)
                )
            ).first()
            is None
        ):
            raise Problem(
                422,
                "Unknown driver",
                f"No driver {body.driver_id} in this tenant",
                errors=[{"field": "driver_id", "message": "unknown driver", "type": "value_error"}],
            )
        if (await session.execute(sa.select(users.c.id).where(users.c.email == body.email.lower()))).first():
            raise Problem(409, "User exists", "A user with this e-mail address exists already")
        user_id = str(uuid.uuid4())
        row = dict(
            id=user_id,
            tenant_id=tenant_id,
            email=body.email.lower(),
            password_hash=hash_password(body.password) if body.password else None,
            roles=sorted(r.value for r in roles),
            driver_id=body.driver_id,
            active=True,
            created_at=now,
        )
        await session.execute(users.insert().values(**row))
        await audit(
            session,
            actor=principal.scope,
            tenant_id=tenant_id,
            action="created",
            entity="user",
            entity_id=user_id,
            at=now,
            detail={"roles": row["roles"]},
        )
        return 201, User.model_validate(row)

    return await idempotent(request, response, principal, idempotency_key, work)


async def _visible_user(session: AsyncSession, principal: Principal, user_id: str) -> Any:
    return await owned_row(session, users, users.c.id, user_id, principal, "User")


@router.get("/users", response_model=Page[User], tags=["users"])
async def list_users(
    request: Request,
    principal: UserAdmin,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[User]:
    async with runtime_of(request).db.sessions() as session:
        rows, next_cursor = await page(
            session, sa.select(users).where(tenant_filter(users, principal)), users, limit, cursor
        )
    return Page[User](items=[_user(r) for r in rows], next_cursor=next_cursor)


def _user(row: Any) -> User:
    return User(
        id=row.id,
        tenant_id=row.tenant_id,
        email=row.email,
        roles=row.roles,
        driver_id=row.driver_id,
        active=row.active,
        created_at=row.created_at,
    )


@router.get("/users/{user_id}", response_model=User, tags=["users"])
async def get_user(user_id: str, request: Request, principal: UserAdmin) -> User:
    async with runtime_of(request).db.sessions() as session:
        return _user(await _visible_user(session, principal, user_id))


@router.patch("/users/{user_id}", response_model=User, tags=["users"])
async def change_user(user_id: str, body: UserChange, request: Request, principal: UserAdmin) -> User:
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        row = await _visible_user(session, principal, user_id)
        values: dict[str, Any] = {}
        if body.roles is not None:
            if not principal.may_grant(frozenset(body.roles)):
                raise Problem(403, "Forbidden", "Nobody grants roles with more permissions than they hold")
            values["roles"] = sorted(r.value for r in body.roles)
        if body.password is not None:
            values["password_hash"] = hash_password(body.password)
        if body.active is not None:
            values["active"] = body.active
        if values:
            await session.execute(users.update().where(users.c.id == user_id).values(**values))
            await audit(
                session,
                actor=principal.scope,
                tenant_id=row.tenant_id,
                action="changed",
                entity="user",
                entity_id=user_id,
                at=runtime.clock.now(),
                detail={k: v for k, v in values.items() if k != "password_hash"}
                | ({"password": "changed"} if "password_hash" in values else {}),
            )
        return _user(await _visible_user(session, principal, user_id))


# --- API keys --------------------------------------------------------------------------------------


class ApiKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    roles: list[Role] = Field(min_length=1)
    tenant_id: str | None = Field(default=None, max_length=64, description="Administrators only")


class ApiKey(BaseModel):
    id: str
    tenant_id: str
    name: str
    roles: list[Role]
    created_at: datetime
    revoked_at: datetime | None


class NewApiKey(ApiKey):
    key: str = Field(description="Shown this once; store it now. Send as Authorization: Bearer or X-API-Key")


KeyAdmin = Annotated[Principal, Depends(require(P.KEYS_MANAGE))]


@router.post("/api-keys", status_code=201, response_model=NewApiKey, responses=CREATED, tags=["api-keys"])
async def create_api_key(
    body: ApiKeyRequest,
    request: Request,
    response: Response,
    principal: KeyAdmin,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    async def work(session: AsyncSession) -> tuple[int, BaseModel]:
        now = runtime_of(request).clock.now()
        tenant_id = target_tenant(principal, body.tenant_id)
        roles = frozenset(body.roles)
        if not principal.may_grant(roles):
            raise Problem(403, "Forbidden", "Nobody grants roles with more permissions than they hold")
        if (await session.execute(sa.select(tenants.c.id).where(tenants.c.id == tenant_id))).first() is None:
            raise Problem(422, "Unknown tenant", f"No tenant {tenant_id}")
        key = new_api_key()
        row = dict(
            id="key_" + secrets.token_hex(8),
            tenant_id=tenant_id,
            name=body.name,
            roles=sorted(r.value for r in roles),
            secret_hash=digest(key),
            created_at=now,
            revoked_at=None,
        )
        await session.execute(api_keys.insert().values(**row))
        await audit(
            session,
            actor=principal.scope,
            tenant_id=tenant_id,
            action="created",
            entity="api_key",
            entity_id=row["id"],
            at=now,
            detail={"roles": row["roles"]},
        )
        return 201, NewApiKey(key=key, **{k: v for k, v in row.items() if k != "secret_hash"})

    return await idempotent(request, response, principal, idempotency_key, work)


@router.get("/api-keys", response_model=list[ApiKey], tags=["api-keys"])
async def list_api_keys(request: Request, principal: KeyAdmin) -> list[ApiKey]:
    async with runtime_of(request).db.sessions() as session:
        rows = (
            await session.execute(
                sa.select(api_keys)
                .where(tenant_filter(api_keys, principal))
                .order_by(api_keys.c.created_at, api_keys.c.id)
            )
        ).all()
    return [ApiKey.model_validate(r._asdict()) for r in rows]


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["api-keys"])
async def revoke_api_key(key_id: str, request: Request, principal: KeyAdmin) -> Response:
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        row = (
            await session.execute(
                sa.select(api_keys).where(api_keys.c.id == key_id).where(tenant_filter(api_keys, principal))
            )
        ).first()
        if row is None:
            raise not_found("API key", key_id)
        now = runtime.clock.now()
        await session.execute(api_keys.update().where(api_keys.c.id == key_id).values(revoked_at=row.revoked_at or now))
        await audit(
            session,
            actor=principal.scope,
            tenant_id=row.tenant_id,
            action="revoked",
            entity="api_key",
            entity_id=key_id,
            at=now,
        )
    return Response(status_code=204)


# --- audit log -------------------------------------------------------------------------------------


class AuditEntry(BaseModel):
    id: int
    tenant_id: str | None
    actor: str
    action: str
    entity: str
    entity_id: str
    detail: dict[str, Any] | None
    at: datetime


@router.get("/audit", response_model=Page[AuditEntry], tags=["audit"])
async def read_audit_log(
    request: Request,
    principal: Annotated[Principal, Depends(require(P.AUDIT_READ))],
    entity: Annotated[str | None, Query(max_length=40)] = None,
    entity_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[AuditEntry]:
    """Who changed what, oldest first."""
    query = sa.select(audit_log).where(tenant_filter(audit_log, principal))
    if entity:
        query = query.where(audit_log.c.entity == entity)
    if entity_id:
        query = query.where(audit_log.c.entity_id == entity_id)
    async with runtime_of(request).db.sessions() as session:
        rows, next_cursor = await page(session, query, audit_log, limit, cursor, created_column="at")
    return Page[AuditEntry](items=[AuditEntry.model_validate(r._asdict()) for r in rows], next_cursor=next_cursor)
