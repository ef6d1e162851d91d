"""What every route shares: authentication and permissions, rate limits, problem details with
headers, idempotency keys on POST, keyset pagination and the audit log."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, Generic, TypeVar

import sqlalchemy as sa
from chargeyard_platform.problems import Problem, problem_response
from chargeyard_platform.runtime import runtime_of
from fastapi import Depends, Header, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..adapters.orm import api_keys, audit_log, idempotency_keys, users
from ..adapters.ratelimit import RateLimiter, retry_after
from ..adapters.security import TokenSigner, digest, looks_like_jwt
from ..config import Settings
from ..domain.access import Permission, Principal, Role

T = TypeVar("T")


class HeaderProblem(Problem):
    def __init__(self, status: int, title: str, detail: str, *, headers: dict[str, str], **extra: Any) -> None:
        super().__init__(status, title, detail, **extra)
        self.headers = headers


class ProblemRoute(APIRoute):
    """Problems raised while resolving dependencies (401, 403, 429) keep their headers
    (WWW-Authenticate, Retry-After), which the app-wide handler would drop."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except Problem as exc:
                response = problem_response(
                    exc.status, exc.title, exc.detail, instance=request.url.path, type_=exc.type, **exc.extra
                )
                for name, value in getattr(exc, "headers", {}).items():
                    response.headers[name] = value
                return response

        return handler


class FieldError(BaseModel):
    field: str
    message: str
    type: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str
    errors: list[FieldError] | None = None


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "model": ProblemDetails,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}},
    }


ERRORS: dict[int | str, dict[str, Any]] = {
    401: _problem("No or bad credentials (Authorization: Bearer <token or API key>, or X-API-Key)"),
    403: _problem("The credentials lack the permission this needs"),
    404: _problem("Not found, or not visible to this tenant"),
    409: _problem("Conflicts with the current state"),
    422: _problem("The request is invalid; `errors` names each field"),
    429: _problem("Too many requests; wait for Retry-After seconds"),
}


def settings_of(request: Request) -> Settings:
    settings: Settings = runtime_of(request).settings  # type: ignore[assignment]
    return settings


def _state(request: Request) -> dict[str, Any]:
    state: dict[str, Any] = runtime_of(request).state
    return state


def signer_of(request: Request) -> TokenSigner:
    state = _state(request)
    if "signer" not in state:
        settings = settings_of(request)
        # dev without a configured key: random per process (tokens end with the process);
        # the prod profile refuses to start without one (config.Settings).
        secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else secrets.token_urlsafe(48)
        state["signer"] = TokenSigner(secret, settings.jwt_issuer, timedelta(seconds=settings.jwt_ttl_s))
    signer: TokenSigner = state["signer"]
    return signer


def limiter_of(request: Request, name: str, per_minute: int) -> RateLimiter:
    state = _state(request)
    limiter: RateLimiter | None = state.get(f"limiter:{name}")
    if limiter is None or limiter.capacity != per_minute:
        limiter = state[f"limiter:{name}"] = RateLimiter(per_minute)
    return limiter


def too_many(wait_s: float, what: str) -> HeaderProblem:
    return HeaderProblem(
        429,
        "Too many requests",
        f"{what}: try again in {retry_after(wait_s)} s",
        headers={"Retry-After": retry_after(wait_s)},
        type_="https://chargeyard.dev/problems/rate-limited",
    )


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


_bearer = HTTPBearer(auto_error=False, description="A JWT from POST /v1/auth/token, or an API key")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key (fleet systems, DSOs)")


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    runtime = runtime_of(request)
    settings = settings_of(request)
    now = runtime.clock.now()
    token = api_key or (credentials.credentials if credentials else None)
    principal = await _principal(request, token, now) if token else None
    if principal is None:
        # Failed attempts count per client address: guessing keys gets slow quickly.
        wait = limiter_of(request, "failures", settings.login_attempts_per_minute * 6).take(
            client_address(request), now
        )
        if wait:
            raise too_many(wait, "Too many failed authentications from this address")
        raise HeaderProblem(
            401,
            "Unauthorized",
            "Send Authorization: Bearer <token> (POST /v1/auth/token) or an API key"
            if not token
            else "The token or API key is unknown, expired or revoked",
            headers={"WWW-Authenticate": 'Bearer realm="chargeyard"'},
            type_="https://chargeyard.dev/problems/unauthorized",
        )
    wait = limiter_of(request, "callers", settings.rate_limit_per_minute).take(principal.scope, now)
    if wait:
        raise too_many(wait, f"More than {settings.rate_limit_per_minute} requests a minute for {principal.scope}")
    request.state.principal = principal
    return principal


async def _principal(request: Request, token: str, now: datetime) -> Principal | None:
    runtime = runtime_of(request)
    async with runtime.db.sessions() as session:
        if looks_like_jwt(token):
            claims = signer_of(request).verify(token, now=now)
            if claims is None:
                return None
            row = (await session.execute(sa.select(users).where(users.c.id == claims["sub"]))).first()
            if row is None or not row.active:
                return None
            return Principal(
                id=row.id,
                kind="user",
                tenant_id=row.tenant_id,
                roles=frozenset(Role(r) for r in row.roles),
                driver_id=row.driver_id,
            )
        key = (await session.execute(sa.select(api_keys).where(api_keys.c.secret_hash == digest(token)))).first()
        if key is None or key.revoked_at is not None:
            return None
        return Principal(
            id=key.id, kind="api_key", tenant_id=key.tenant_id, roles=frozenset(Role(r) for r in key.roles)
        )


def require(*needed: Permission) -> Callable[..., Awaitable[Principal]]:
    """Any one of `needed` is enough."""

    async def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not any(principal.can(p) for p in needed):
            raise Problem(
                403,
                "Forbidden",
                f"This needs the permission {' or '.join(needed)}; "
                f"the caller's roles ({', '.join(sorted(principal.roles))}) do not grant it",
                type_="https://chargeyard.dev/problems/forbidden",
            )
        return principal

    return dependency


def not_found(what: str, ident: str) -> Problem:
    return Problem(404, f"{what} not found", f"No {what.lower()} with id {ident}")


def tenant_filter(table: sa.Table, principal: Principal) -> sa.ColumnElement[bool]:
    if principal.all_tenants:
        return sa.true()
    return table.c.tenant_id == principal.tenant_id


async def owned_row(
    session: AsyncSession, table: sa.Table, key: sa.Column[Any], ident: str, principal: Principal, what: str
) -> Any:
    """The row with this key in the principal's tenant, or 404: another tenant's row is not told
    apart from one that does not exist."""
    row = (await session.execute(sa.select(table).where(key == ident).where(tenant_filter(table, principal)))).first()
    if row is None:
        raise not_found(what, ident)
    return row


def target_tenant(principal: Principal, tenant_id: str | None) -> str:
    """The administrator may act for any tenant; everyone else only for their own."""
    if tenant_id is None or tenant_id == principal.tenant_id:
        return principal.tenant_id
    if principal.all_tenants:
        return tenant_id
    raise Problem(403, "Forbidden", "Only an administrator acts for another tenant; leave tenant_id out")


async def audit(
    session: AsyncSession,
    *,
    actor: str,
    tenant_id: str | None,
    action: str,
    entity: str,
    entity_id: str,
    at: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    await session.execute(
        audit_log.insert().values(
            tenant_id=tenant_id, actor=actor, action=action, entity=entity, entity_id=entity_id, detail=detail, at=at
        )
    )


IdempotencyKey = Annotated[
    str | None,
    Header(
        max_length=200,
        description="Makes a retried POST safe: the same key and body return the first answer "
        "(200 with Idempotent-Replayed: true); the same key with another body is a 422",
    ),
]

Work = Callable[[AsyncSession], Awaitable[tuple[int, BaseModel]]]


async def idempotent(request: Request, response: Response, principal: Principal, key: str | None, work: Work) -> Any:
    """Runs `work` in one transaction with the key's record, so a crash leaves neither."""
    runtime = runtime_of(request)
    if key is None:
        async with runtime.db.transaction() as session:
            status_code, result = await work(session)
        runtime.wake_relay()
        response.status_code = status_code
        return result
    request_hash = hashlib.sha256(f"{request.method} {request.url.path}\n".encode() + await request.body()).hexdigest()
    if (stored := await _stored(request, principal, key)) is not None:
        return _replay(stored, request_hash, response)
    try:
        async with runtime.db.transaction() as session:
            await session.execute(
                idempotency_keys.insert().values(
                    scope=principal.scope,
                    key=key,
                    request_hash=request_hash,
                    status_code=0,
                    response=None,
                    created_at=runtime.clock.now(),
                )
            )
            status_code, result = await work(session)
            await session.execute(
                idempotency_keys.update()
                .where(idempotency_keys.c.scope == principal.scope)
                .where(idempotency_keys.c.key == key)
                .values(status_code=status_code, response=result.model_dump(mode="json"))
            )
    except IntegrityError:
        # The same key raced in twice: the first one won.
        if (stored := await _stored(request, principal, key)) is None:
            raise Problem(409, "Conflict", "The request conflicts with data that exists already") from None
        return _replay(stored, request_hash, response)
    runtime.wake_relay()
    response.status_code = status_code
    return result


async def _stored(request: Request, principal: Principal, key: str) -> Any:
    async with runtime_of(request).db.sessions() as session:
        return (
            await session.execute(
                sa.select(idempotency_keys)
                .where(idempotency_keys.c.scope == principal.scope)
                .where(idempotency_keys.c.key == key)
            )
        ).first()


def _replay(stored: Any, request_hash: str, response: Response) -> Any:
    if stored.request_hash != request_hash:
        raise Problem(
            422,
            "Idempotency-Key reused",
            "This Idempotency-Key was used with another request; use a new key for a new request",
            type_="https://chargeyard.dev/problems/idempotency-key",
        )
    response.status_code = 200 if stored.status_code == 201 else stored.status_code
    response.headers["Idempotent-Replayed"] = "true"
    return stored.response


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")


Limit = Annotated[int, Field(ge=1, le=500)]


def _encode_cursor(created_at: datetime, ident: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([created_at.isoformat(), ident]).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created, ident = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(created), str(ident)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise Problem(
            422,
            "Bad cursor",
            "The cursor is not one this API gave out; start again without it",
            errors=[{"field": "cursor", "message": "unknown cursor", "type": "value_error"}],
        ) from None


async def page(
    session: AsyncSession,
    query: sa.Select[Any],
    table: sa.Table,
    limit: int,
    cursor: str | None,
    created_column: str = "created_at",
    id_column: str = "id",
) -> tuple[list[Any], str | None]:
    """Keyset pagination in (created_at, id) order: stable while rows are added."""
    created, ident = table.c[created_column], table.c[id_column]
    if cursor:
        after_created, after_id = _decode_cursor(cursor)
        if after_created.tzinfo is None:
            raise Problem(422, "Bad cursor", "The cursor is not one this API gave out")
        typed_id: Any = after_id
        if isinstance(ident.type, sa.Integer):
            if not after_id.isdigit():
                raise Problem(422, "Bad cursor", "The cursor is not one this API gave out")
            typed_id = int(after_id)
        query = query.where(sa.or_(created > after_created, sa.and_(created == after_created, ident > typed_id)))
    rows = list((await session.execute(query.order_by(created, ident).limit(limit + 1))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode_cursor(getattr(rows[-1], created_column), str(getattr(rows[-1], id_column))) if more else None
    return rows, next_cursor
