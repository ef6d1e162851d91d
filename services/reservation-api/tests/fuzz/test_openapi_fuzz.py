"""Must show 3: schemathesis generates requests from the OpenAPI document, valid and invalid, for
every operation; no answer may be a 5xx, and every answer must match the schema and the content
type the document declares. Bounded for `make test` (CHARGEYARD_FUZZ_EXAMPLES per operation, 5
by default); the service runs in uvicorn on a real port with a real SQLite database."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import requests
import schemathesis
import uvicorn
from chargeyard_contracts import Envelope
from chargeyard_platform.bus import Context
from chargeyard_platform.clock import FixedClock
from chargeyard_platform.db import Database
from chargeyard_reservations.bootstrap import SPEC, ensure_admin
from chargeyard_reservations.handlers import make_handlers
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from ..builders import a_topology
from ..conftest import ADMIN_TOKEN, T0, Runtime, build_app
from ..conftest import settings as service_settings

EXAMPLES = int(os.environ.get("CHARGEYARD_FUZZ_EXAMPLES", "5"))
schema = schemathesis.openapi.from_dict(build_app(None).openapi())  # type: ignore[arg-type]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db_path: Path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database.connect(f"sqlite+aiosqlite:///{db_path}")
        runtime = Runtime(
            db=db,
            clock=FixedClock(T0),
            settings=service_settings(rate_limit_per_minute=10_000_000, login_attempts_per_minute=10_000_000),
        )
        await db.migrate(SPEC.migrations)
        await ensure_admin(db, runtime.clock, runtime.settings)

        event = a_topology("site-1", "ST-1")  # a connector for the QR and start routes to find
        async with db.transaction() as session:
            await make_handlers(runtime.settings)[type(event)](
                event, Context(session, Envelope.wrap(event, source="t", occurred_at=T0), runtime.outbox, runtime.clock)
            )
        app.state.runtime = runtime
        yield
        await db.dispose()

    app = build_app(None)  # type: ignore[arg-type]
    app.router.lifespan_context = lifespan
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.mark.integration
@schema.parametrize()
@settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)
def test_no_5xx_and_no_response_that_breaks_the_schema(case, base_url: str) -> None:  # type: ignore[no-untyped-def]
    case.call_and_validate(
        base_url=base_url,
        session=_session(),
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
        timeout=30,
    )


_SESSION: requests.Session | None = None


def _session() -> requests.Session:
    global _SESSION
    if _SESSION is None:
        _SESSION = requests.Session()
    return _SESSION


def test_the_fuzz_run_covers_every_operation() -> None:
    assert len(list(schema.get_all_operations())) >= 35
