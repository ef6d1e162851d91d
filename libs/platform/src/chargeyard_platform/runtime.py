"""The service runtime: one wiring for every service.

A service describes itself with a ServiceSpec (name, migrations, event handlers, HTTP routers,
extra background tasks); `Runtime` starts it: migrate, connect the producer and consumer with a
bounded retry, run the outbox relay, serve HTTP with /healthz, /readyz and /metrics.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from .bus import Consumer, Handler, Outbox, OutboxRelay, kafka_producer
from .clock import Clock
from .db import Database
from .problems import install_problem_handlers
from .settings import ServiceSettings

log = logging.getLogger(__name__)

BackgroundTask = Callable[["Runtime"], Awaitable[None]]


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    migrations: Path
    handlers: Mapping[type[BaseModel], Handler] = field(default_factory=dict)
    routers: Sequence[APIRouter] = ()
    background: Sequence[BackgroundTask] = ()
    title: str = ""


class Runtime:
    def __init__(
        self,
        spec: ServiceSpec,
        settings: ServiceSettings,
        *,
        clock: Clock,
        db: Database,
        producer: AIOKafkaProducer | None = None,
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.clock = clock
        self.db = db
        self.outbox = Outbox(spec.name, clock)
        self._producer = producer
        self.relay: OutboxRelay | None = None
        self.consumer: Consumer | None = None
        self.state: dict[str, Any] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.started = False

    @property
    def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("the producer exists once the runtime has started")
        return self._producer

    async def start(self) -> None:
        settings = self.settings
        await wait_for_database(self.db, settings.database_url)
        await self.db.migrate(self.spec.migrations)
        if self._producer is None:
            # aiokafka clients bind to the running loop, so they are made here, not at bootstrap.
            self._producer = kafka_producer(
                settings.kafka_bootstrap_servers, self.spec.name, idempotent=settings.kafka_idempotent
            )
        await _with_retry(f"Kafka at {settings.kafka_bootstrap_servers}", self._producer.start)
        self.relay = OutboxRelay(
            self.db,
            self._producer,
            self.clock,
            poll_interval_s=settings.outbox_poll_interval_s,
            linger_s=settings.outbox_linger_s,
            kill_after_publish=settings.fault_kill_after_publish,
        )
        self._spawn("outbox-relay", self.relay.run())
        if self.spec.handlers:
            self.consumer = Consumer(
                service=self.spec.name,
                db=self.db,
                outbox=self.outbox,
                clock=self.clock,
                bootstrap=settings.kafka_bootstrap_servers,
                group_id=settings.kafka_group_id or self.spec.name,
                handlers=self.spec.handlers,
                producer=self._producer,
                retries=settings.consumer_retries,
            )
            # Joining the group can take seconds (rebalance delay): the HTTP app and the other
            # tasks do not wait for it; /readyz stays red until the consumer runs.
            self._spawn("consumer", self._consume(self.consumer))
        for task in self.spec.background:
            self._spawn(task.__name__, task(self))
        self.started = True
        log.info("%s started", self.spec.name)

    async def _consume(self, consumer: Consumer) -> None:
        await _with_retry("the consumer group", consumer.start)
        await consumer.run()

    def _spawn(self, name: str, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        task.add_done_callback(self._task_done)
        self._tasks.append(task)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            # A dead loop must not look alive: /readyz turns red and the error is logged.
            log.error("%s task %s died", self.spec.name, task.get_name(), exc_info=task.exception())

    def wake_relay(self) -> None:
        if self.relay is not None:
            self.relay.wakeup.set()

    def problems(self) -> list[str]:
        found = [
            f"task {t.get_name()} failed: {t.exception()!r}"
            for t in self._tasks
            if t.done() and not t.cancelled() and t.exception() is not None
        ]
        if not self.started:
            found.append("starting")
        if self.spec.handlers and (self.consumer is None or not self.consumer.running):
            found.append("consumer not running")
        return found

    async def stop(self) -> None:
        """Each step bounded: a task that does not end, or a broker that does not answer a leave
        or a flush, is logged and left behind rather than holding the process (or a test) forever."""
        for task in self._tasks:
            task.cancel()
        await _bounded("background tasks", asyncio.gather(*self._tasks, return_exceptions=True))
        if self.consumer is not None:
            await _bounded("Kafka consumer", self.consumer.stop())
        if self._producer is not None:
            await _bounded("Kafka producer", self._producer.stop())
        await _bounded("database", self.db.dispose())


STOP_STEP_S = 20.0
"""How long each step of a shutdown may take before it is given up."""


async def _bounded(what: str, step: Awaitable[Any]) -> None:
    try:
        await asyncio.wait_for(step, STOP_STEP_S)
    except TimeoutError:
        log.warning("stopping: %s did not finish within %.0f s; going on", what, STOP_STEP_S)


def _broker_unavailable(exc: Exception) -> bool:
    return isinstance(exc, (KafkaConnectionError, OSError))


def _database_unavailable(exc: Exception) -> bool:
    # Refused or not resolvable yet (the server, or its DNS name, is not up), or PostgreSQL's
    # SQLSTATE 57P03 cannot_connect_now while it starts up or recovers.
    if isinstance(exc, OSError):
        return True
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) == "57P03"


async def _with_retry(
    what: str,
    start: Callable[[], Awaitable[None]],
    attempts: int = 30,
    retryable: Callable[[Exception], bool] = _broker_unavailable,
) -> None:
    for attempt in range(1, attempts + 1):
        try:
            await start()
            return
        except Exception as exc:
            if not retryable(exc):
                raise
            if attempt == attempts:
                raise RuntimeError(f"gave up waiting for {what} after {attempts} attempts") from exc
            log.warning("waiting for %s (attempt %d/%d): %s", what, attempt, attempts, exc)
            await asyncio.sleep(min(2.0, 0.2 * attempt))


async def wait_for_database(db: Database, url: str, attempts: int = 30) -> None:
    """Bounded wait until the database answers, logged like the broker wait (the password is hidden)."""
    where = make_url(url).render_as_string(hide_password=True)
    await _with_retry(f"the database at {where}", db.ping, attempts, retryable=_database_unavailable)


def build_runtime(
    spec: ServiceSpec,
    settings: ServiceSettings,
    *,
    clock: Clock | None = None,
    db: Database | None = None,
    producer: AIOKafkaProducer | None = None,
) -> Runtime:
    return Runtime(
        spec,
        settings,
        clock=clock or settings.clock(),
        db=db or Database.connect(settings.database_url),
        producer=producer,
    )


def create_app(runtime: Runtime) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=runtime.spec.title or f"Chargeyard {runtime.spec.name}", lifespan=lifespan)
    app.state.runtime = runtime
    install_problem_handlers(app)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": runtime.spec.name}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        problems = runtime.problems()
        try:
            await runtime.db.ping()
        except Exception as exc:  # reported, not swallowed: readiness fails with the reason
            problems.append(f"database: {exc}")
        status = 200 if not problems else 503
        return JSONResponse(
            {"status": "ready" if not problems else "not ready", "problems": problems}, status_code=status
        )

    @app.get("/metrics", tags=["ops"])
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in runtime.spec.routers:
        app.include_router(router)
    return app


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def serve(runtime: Runtime) -> None:
    logging.basicConfig(
        level=runtime.settings.log_level, format=f"%(asctime)s {runtime.spec.name} %(levelname)s %(name)s: %(message)s"
    )
    # Per-message chatter of libraries is DEBUG material: a busy site would drown the log.
    for noisy in ("ocpp", "aiokafka", "websockets.server"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    uvicorn.run(
        create_app(runtime),
        host=runtime.settings.http_host,
        port=runtime.settings.http_port,
        log_level=runtime.settings.log_level.lower(),
        access_log=False,
    )
