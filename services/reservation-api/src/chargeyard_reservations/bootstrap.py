from __future__ import annotations

import logging
import secrets
from dataclasses import replace
from pathlib import Path

import httpx
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from chargeyard_contracts.registry import RESERVATIONS
from chargeyard_platform.clock import Clock
from chargeyard_platform.db import Database
from chargeyard_platform.runtime import Runtime, ServiceSpec, build_runtime
from chargeyard_platform.settings import Profile

from .adapters.orm import api_keys, sites, tenants
from .adapters.security import digest
from .config import Settings
from .domain.access import Role
from .entrypoints import api, connectors, fleet, identity, webhooks
from .handlers import make_handlers
from .lifecycle import sweep
from .webhooks import dispatch_due

log = logging.getLogger(__name__)

ROUTERS = [fleet.bulk, identity.public, identity.router, api.router, fleet.router, connectors.router, webhooks.router]
"""bulk first: /v1/vehicles/export is a route, not a vehicle id."""

SPEC = ServiceSpec(
    name=RESERVATIONS,
    title="Chargeyard reservation API",
    migrations=Path(__file__).parent / "migrations",
    routers=ROUTERS,
)

ADMIN_KEY_ID = "key_admin"


async def ensure_admin(db: Database, clock: Clock, settings: Settings) -> str | None:
    """The administrator's tenant and API key (CHARGEYARD_ADMIN_TOKEN). In the dev profile an
    unset token is generated and printed, and the default site is the administrator's."""
    token = settings.admin_token.get_secret_value() if settings.admin_token else None
    if token is None:
        if settings.profile is Profile.PROD:
            log.warning("no RESERVATIONS_ADMIN_TOKEN / CHARGEYARD_ADMIN_TOKEN: no administrator key is made")
            return None
        token = "cy_" + secrets.token_urlsafe(32)
        print(f"CHARGEYARD_ADMIN_TOKEN={token}  (generated: set it to keep one across restarts)", flush=True)
    now = clock.now()
    async with db.transaction() as session:
        if (
            await session.execute(sa.select(tenants.c.id).where(tenants.c.id == settings.admin_tenant_id))
        ).first() is None:
            await session.execute(tenants.insert().values(id=settings.admin_tenant_id, name="Default", created_at=now))
        # One administrator key, replaced when the token changes.
        await session.execute(api_keys.delete().where(api_keys.c.id == ADMIN_KEY_ID))
        await session.execute(api_keys.delete().where(api_keys.c.secret_hash == digest(token)))
        await session.execute(
            api_keys.insert().values(
                id=ADMIN_KEY_ID,
                tenant_id=settings.admin_tenant_id,
                name="administrator (environment)",
                roles=[Role.ADMINISTRATOR.value],
                secret_hash=digest(token),
                created_at=now,
                revoked_at=None,
            )
        )
        if settings.profile is Profile.DEV:
            site = (await session.execute(sa.select(sites).where(sites.c.id == settings.default_site_id))).first()
            if site is None:
                await session.execute(
                    sites.insert().values(
                        id=settings.default_site_id,
                        tenant_id=settings.admin_tenant_id,
                        name=None,
                        stations=[],
                        time_zone=settings.default_time_zone,
                        updated_at=now,
                    )
                )
            elif site.tenant_id is None:
                await session.execute(
                    sites.update()
                    .where(sites.c.id == settings.default_site_id)
                    .values(tenant_id=settings.admin_tenant_id)
                )
    return token


async def administrator(runtime: Runtime) -> None:
    await ensure_admin(runtime.db, runtime.clock, runtime.settings)  # type: ignore[arg-type]


async def sweeper(runtime: Runtime) -> None:
    """No-shows and conflict time-outs, every sweep_interval_s of the service's clock."""
    settings: Settings = runtime.settings  # type: ignore[assignment]
    while True:
        done = await sweep(runtime.db, runtime.outbox, runtime.clock, settings)
        if any(done.values()):
            log.info("sweep: %s", done)
            runtime.wake_relay()
        await runtime.clock.sleep(settings.sweep_interval_s)


async def webhook_dispatcher(runtime: Runtime) -> None:
    """Due webhook deliveries, every webhook_interval_s of the service's clock."""
    settings: Settings = runtime.settings  # type: ignore[assignment]
    async with httpx.AsyncClient(follow_redirects=False) as http:
        while True:
            done = await dispatch_due(runtime.db, runtime.clock, http, settings)
            if any(done.values()):
                log.info("webhooks: %s", done)
            await runtime.clock.sleep(settings.webhook_interval_s)


def bootstrap(
    settings: Settings,
    *,
    clock: Clock | None = None,
    db: Database | None = None,
    producer: AIOKafkaProducer | None = None,
) -> Runtime:
    spec = replace(SPEC, handlers=make_handlers(settings), background=(administrator, sweeper, webhook_dispatcher))
    return build_runtime(spec, settings, clock=clock, db=db, producer=producer)
