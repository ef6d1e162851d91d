from pathlib import Path

from aiokafka import AIOKafkaProducer
from chargeyard_contracts.registry import ENERGY
from chargeyard_platform.auth import ApiKeys, authenticator_for
from chargeyard_platform.clock import Clock
from chargeyard_platform.db import Database
from chargeyard_platform.runtime import Runtime, ServiceSpec, build_runtime

from .adapters.topology import topology_of, upsert_site
from .background import reports, watchdog
from .config import Settings
from .entrypoints.api import router
from .entrypoints.capacity_api import router as capacity_router
from .handlers import make_handlers


async def seed_default_site(runtime: Runtime) -> None:
    """Dev profile: the default site exists from the start, with its limit from the settings."""
    settings: Settings = runtime.settings  # type: ignore[assignment]
    now = runtime.clock.now()
    async with runtime.db.transaction() as session:
        if await topology_of(session, settings.default_site_id, now) is not None:
            return
        await upsert_site(
            session,
            site_id=settings.default_site_id,
            name="Simulated site",
            time_zone=settings.default_site_time_zone,
            grid_limit_w=settings.default_site_limit_w,
            voltage_v=230.0,
            now=now,
        )
        topology = await topology_of(session, settings.default_site_id, now)
        assert topology is not None
        await runtime.outbox.add(session, topology)
    runtime.wake_relay()


def bootstrap(
    settings: Settings,
    *,
    clock: Clock | None = None,
    db: Database | None = None,
    producer: AIOKafkaProducer | None = None,
    api_keys: ApiKeys | None = None,
) -> Runtime:
    spec = ServiceSpec(
        name=ENERGY,
        title="Chargeyard energy manager",
        migrations=Path(__file__).parent / "migrations",
        handlers=make_handlers(settings),
        routers=[router, capacity_router],
        background=[watchdog, reports, *([seed_default_site] if settings.profile == "dev" else [])],
    )
    runtime = build_runtime(spec, settings, clock=clock, db=db, producer=producer)
    runtime.state["authenticator"] = authenticator_for(settings, api_keys)
    return runtime
