"""Test helpers shared by every package's integration tests: a real broker, a real database, an
ASGI app on a real port."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import jwt
import uvicorn
from chargeyard_platform.auth import Authenticator, Caller
from chargeyard_platform.tokens import TokenVerifier

from .stack import Broker, free_port

POSTGRES_DSN = os.environ.get("CHARGEYARD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


@contextmanager
def tansu(log_dir: Path) -> Iterator[Broker]:
    broker = Broker(free_port(), log_dir / "tansu.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@asynccontextmanager
async def postgres_database(prefix: str = "cy_test") -> AsyncIterator[str]:
    """A fresh PostgreSQL database, dropped afterwards; yields its SQLAlchemy asyncpg URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(f"{POSTGRES_DSN}/postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield f"{POSTGRES_DSN.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"
    finally:
        conn = await asyncpg.connect(f"{POSTGRES_DSN}/postgres")
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@asynccontextmanager
async def database_url(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """`kind` is "sqlite" or "postgres": the two databases every integration test runs on."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    elif kind == "postgres":
        async with postgres_database() as url:
            yield url
    else:
        raise ValueError(f"unknown database kind {kind!r}")


@asynccontextmanager
async def serving(app: Any, timeout: float = 30.0) -> AsyncIterator[str]:
    """An ASGI app on a real port (uvicorn in this loop); yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + timeout
    while not server.started:
        assert time.monotonic() < deadline and not task.done(), f"uvicorn did not start on port {port}"
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


# --- the reservation API's credentials, for the API tests of the services that check them ------------

TEST_JWT_SECRET = "chargeyard-test-secret-of-at-least-thirty-two-characters"
TEST_JWT_ISSUER = "chargeyard-reservation-api"
TEST_ADMIN_KEY = "cy_admin-key-for-service-tests"


def a_token(user_id: str = "7", roles: tuple[str, ...] = ("administrator",), *, ttl_s: int = 3600) -> str:
    """What the reservation API's POST /v1/auth/token returns (same claims, signed with TEST_JWT_SECRET)."""
    now = int(time.time())
    claims = {"iss": TEST_JWT_ISSUER, "sub": user_id, "tenant": "default", "roles": list(roles), "iat": now}
    return jwt.encode(claims | {"exp": now + ttl_s}, TEST_JWT_SECRET, algorithm="HS256")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def as_role(*roles: str, user_id: str = "7") -> dict[str, str]:
    """Headers of a signed-in user holding `roles`."""
    return bearer(a_token(user_id, roles))


ADMIN_HEADERS = bearer(TEST_ADMIN_KEY)


@dataclass
class FakeApiKeys:
    """The reservation API's GET /v1/me: the administrator key, and whatever a test adds."""

    keys: dict[str, Caller] = field(
        default_factory=lambda: {TEST_ADMIN_KEY: Caller(id="admin", roles=frozenset({"administrator"}), kind="api_key")}
    )
    asked: int = 0

    async def caller_of_api_key(self, api_key: str) -> Caller | None:
        self.asked += 1
        return self.keys.get(api_key)


def authenticator_for_tests(api_keys: FakeApiKeys | None = None) -> Authenticator:
    """What a service checks callers with in its API tests: a_token()'s JWTs, FakeApiKeys' keys."""
    return Authenticator(TokenVerifier(TEST_JWT_SECRET, TEST_JWT_ISSUER), api_keys or FakeApiKeys())
