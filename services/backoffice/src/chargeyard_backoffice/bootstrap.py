"""One wiring function: the FastAPI app with its HTTP client to the other services."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
from chargeyard_platform.clock import Clock, SystemClock
from chargeyard_platform.db import Database
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, Histogram, generate_latest

from .adapters.maintenance import MaintenanceLog
from .adapters.platform import Platform, Rejected, SignedOut, Unavailable
from .config import Settings
from .entrypoints import app as driver_app
from .entrypoints import maintenance, web
from .entrypoints.common import PACKAGE, make_templates, on_rejected, on_signed_out, on_unavailable, render

PAGE_SECONDS = Histogram(
    "chargeyard_backoffice_request_seconds",
    "Back office and driver app requests by method and status class, the calls to other services included",
    ["method", "status"],
)

# Everything a page uses comes from this server: the policy makes the browser refuse anything else.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def bootstrap(
    settings: Settings, *, clock: Clock | None = None, transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database.connect(settings.database_url)
        try:
            await db.migrate(PACKAGE / "migrations")
            app.state.db = db
            app.state.maintenance = MaintenanceLog(db)
            # Push streams stay open as long as a driver's page does: they get a pool of their own,
            # so many open app pages never hold up the calls that render pages.
            streams = httpx.Limits(max_connections=settings.max_push_streams, max_keepalive_connections=0)
            async with (
                httpx.AsyncClient(timeout=settings.upstream_timeout_s, transport=transport) as client,
                httpx.AsyncClient(timeout=settings.upstream_timeout_s, transport=transport, limits=streams) as pushed,
            ):
                app.state.platform = Platform(settings, client, pushed)
                yield
        finally:
            await db.dispose()

    app = FastAPI(title="Chargeyard back office", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.clock = clock or SystemClock()
    app.state.templates = make_templates()
    app.mount("/static", StaticFiles(directory=str(PACKAGE / "static")), name="static")
    app.include_router(web.router)
    app.include_router(driver_app.router)
    app.include_router(maintenance.router)
    app.add_exception_handler(SignedOut, on_signed_out)
    app.add_exception_handler(Rejected, on_rejected)  # type: ignore[arg-type]
    app.add_exception_handler(Unavailable, on_unavailable)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, on_invalid)  # type: ignore[arg-type]

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        status = "error"
        try:
            response = await call_next(request)
            status = f"{response.status_code // 100}xx"
        finally:
            PAGE_SECONDS.labels(method=request.method, status=status).observe(time.perf_counter() - started)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if settings.secure_cookies:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    @app.get("/healthz", include_in_schema=False)
    async def alive() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/readyz", include_in_schema=False)
    async def ready(request: Request) -> PlainTextResponse:
        await request.app.state.db.ping()
        return PlainTextResponse("ok")

    return app


async def on_invalid(request: Request, error: RequestValidationError) -> Response:
    """A form or query value that is wrong: a 422 page that names each field and what is wrong."""
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0]}: {e['msg']}" for e in error.errors())
    return render(request, "error.html", status_code=422, title="Invalid request", detail=problems)
