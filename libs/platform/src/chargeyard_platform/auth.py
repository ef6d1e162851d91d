"""Who is calling a service's REST API: the reservation API's bearer tokens, checked anywhere.

The reservation API issues two kinds of credential. JWTs (POST /v1/auth/token: the app, the back
office) are verified locally with its HS256 key (`TokenVerifier`). API keys (fleet systems, the
administrator key) are hashed in its database only, so it is asked who holds one (GET /v1/me);
the answer is cached for a short while, so a busy caller costs one look-up per `ttl_s`, and a
revoked key stops working at most `ttl_s` later.

A service puts an `Authenticator` in its runtime state (`runtime.state["authenticator"]`) and
guards its routes with `requires(...)`: 401 without valid credentials, 403 for a role it does not
serve, 503 while the reservation API cannot be asked."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Protocol

import httpx
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import Field, SecretStr, model_validator

from .problems import Problem
from .runtime import runtime_of
from .settings import Profile, ServiceSettings
from .tokens import TokenVerifier, looks_like_jwt

# The reservation API's role names (services/reservation-api, domain/access.py).
ADMINISTRATOR = "administrator"
SITE_OPERATOR = "site_operator"
MAINTAINER = "maintainer"
FLEET_MANAGER = "fleet_manager"
DRIVER = "driver"
PARTNER = "partner"
OPERATOR_ROLES = frozenset({ADMINISTRATOR, SITE_OPERATOR, MAINTAINER, FLEET_MANAGER})


class ReservationApiUnavailable(Exception):
    """The reservation API cannot be asked (down, or answering with an error): nobody is checked."""


@dataclass(frozen=True)
class Caller:
    id: str
    roles: frozenset[str]
    kind: Literal["user", "api_key"] = "user"

    @property
    def operator(self) -> bool:
        return bool(self.roles & OPERATOR_ROLES)

    @property
    def label(self) -> str:
        """How records name the caller (issued_by, created_by): `user:<id>` or `api_key:<id>`."""
        return f"{self.kind}:{self.id}"


class ApiKeys(Protocol):
    async def caller_of_api_key(self, api_key: str) -> Caller | None:
        """The holder of a key; None for an unknown or revoked one."""
        ...


@dataclass
class ReservationApiKeys:
    """API keys, as the reservation API's GET /v1/me knows them."""

    base_url: str
    ttl_s: float = 30.0
    timeout_s: float = 5.0
    max_cached: int = 1024
    _known: dict[str, tuple[float, Caller]] = field(default_factory=dict)
    """sha256 of the key -> (when asked, its holder). Unknown keys are not cached: a new key works at once."""

    async def caller_of_api_key(self, api_key: str) -> Caller | None:
        digest = hashlib.sha256(api_key.encode()).hexdigest()
        cached = self._known.get(digest)
        if cached is not None and time.monotonic() - cached[0] < self.ttl_s:
            return cached[1]
        try:
            async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout_s) as client:
                response = await client.get("/v1/me", headers={"Authorization": f"Bearer {api_key}"})
        except httpx.HTTPError as exc:
            raise ReservationApiUnavailable(f"reservation API at {self.base_url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code in (401, 403):
            self._known.pop(digest, None)
            return None
        if not response.is_success:
            raise ReservationApiUnavailable(f"reservation API GET /v1/me: HTTP {response.status_code}")
        me = response.json()
        caller = Caller(id=str(me["id"]), roles=frozenset(str(r) for r in me["roles"]), kind="api_key")
        if len(self._known) >= self.max_cached:
            self._known.clear()
        self._known[digest] = (time.monotonic(), caller)
        return caller


def unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail, type_="https://chargeyard.dev/problems/unauthorized")


@dataclass(frozen=True)
class Authenticator:
    verifier: TokenVerifier | None
    """None when the service has no JWT secret: then only API keys are accepted."""
    api_keys: ApiKeys
    secret_setting: str = "the JWT secret"
    """The setting that holds the verifier's key, named in the 401 when it is missing."""

    async def caller(self, token: str | None, *, now: Any) -> Caller:
        """The caller a bearer token stands for; a Problem (401, or 503 when the reservation API
        cannot be asked) otherwise."""
        if not token:
            raise unauthorized("Send Authorization: Bearer <token> (the reservation API's POST /v1/auth/token)")
        if looks_like_jwt(token):
            if self.verifier is None:
                raise unauthorized(f"This service has no {self.secret_setting}: use an API key, or configure the key")
            claims = self.verifier.verify(token, now=now)
            if claims is None:
                raise unauthorized("The token is invalid or expired: sign in again")
            return Caller(id=str(claims["sub"]), roles=frozenset(str(r) for r in claims.get("roles", [])))
        try:
            caller = await self.api_keys.caller_of_api_key(token)
        except ReservationApiUnavailable as exc:
            raise Problem(503, "Reservation API unavailable", f"Cannot check who is calling: {exc}") from exc
        if caller is None:
            raise unauthorized("The API key is unknown or revoked")
        return caller


class CallerSettings(ServiceSettings):
    """A service's settings when its REST API takes the reservation API's credentials: with the
    service's prefix, e.g. BILLING_JWT_SECRET and BILLING_RESERVATIONS_URL."""

    # The reservation API issues the tokens: JWTs are checked here with its HS256 key (one secret,
    # several readers), API keys by asking it (GET /v1/me), whose hashes only it holds.
    jwt_secret: SecretStr | None = Field(
        default=None, description="The reservation API's HS256 key (RESERVATIONS_JWT_SECRET); unset: JWTs are refused"
    )
    jwt_issuer: str = "chargeyard-reservation-api"
    reservations_url: str = Field(
        default="http://127.0.0.1:8000", description="Base URL of the reservation API, which knows the API keys"
    )
    api_key_ttl_s: float = Field(
        default=30.0, gt=0, description="How long the reservation API's answer about an API key is trusted"
    )

    @model_validator(mode="after")
    def _caller_secret(self) -> CallerSettings:
        self.refuse_placeholders(jwt_secret=None if self.jwt_secret is None else self.jwt_secret.get_secret_value())
        if self.profile is Profile.PROD and self.jwt_secret is not None and len(self.jwt_secret) < 32:
            raise ValueError("jwt_secret must have at least 32 characters in the prod profile")
        return self


def authenticator_for(settings: CallerSettings, api_keys: ApiKeys | None = None) -> Authenticator:
    """The Authenticator a service's settings describe; `api_keys` replaces the reservation API in tests."""
    secret = settings.jwt_secret
    return Authenticator(
        TokenVerifier(secret.get_secret_value(), settings.jwt_issuer) if secret else None,
        api_keys or ReservationApiKeys(settings.reservations_url, ttl_s=settings.api_key_ttl_s),
        secret_setting=f"{settings.model_config.get('env_prefix', '')}JWT_SECRET",
    )


bearer = HTTPBearer(auto_error=False, description="A JWT from the reservation API's POST /v1/auth/token, or an API key")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def authenticator_of(request: Request) -> Authenticator:
    authenticator: Authenticator = runtime_of(request).state["authenticator"]
    return authenticator


def requires(roles: Iterable[str], *, action: str) -> Callable[..., Awaitable[Caller]]:
    """A FastAPI dependency: the caller, if they hold one of `roles`; 401/403/503 otherwise.
    `action` says what is refused ("change the topology") in the 403."""
    allowed = frozenset(roles)

    async def caller_with_role(request: Request, credentials: Bearer) -> Caller:
        caller = await authenticator_of(request).caller(
            credentials.credentials if credentials else None, now=runtime_of(request).clock.now()
        )
        if not caller.roles & allowed:
            held = ", ".join(sorted(caller.roles)) or "no role"
            raise Problem(
                403,
                "Forbidden",
                f"Only {', '.join(sorted(allowed))} may {action}; this caller has {held}",
                type_="https://chargeyard.dev/problems/forbidden",
            )
        return caller

    return caller_with_role
