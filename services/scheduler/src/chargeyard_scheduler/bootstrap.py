from pathlib import Path

from aiokafka import AIOKafkaProducer
from chargeyard_contracts.registry import SCHEDULER
from chargeyard_platform.auth import ApiKeys, authenticator_for
from chargeyard_platform.clock import Clock
from chargeyard_platform.db import Database
from chargeyard_platform.runtime import Runtime, ServiceSpec, build_runtime

from .adapters.planning import planner_loop
from .config import Settings
from .entrypoints.api import router
from .handlers import HANDLERS

SPEC = ServiceSpec(
    name=SCHEDULER,
    title="Chargeyard scheduler",
    migrations=Path(__file__).parent / "migrations",
    handlers=HANDLERS,
    routers=[router],
    background=[planner_loop],
)


def bootstrap(
    settings: Settings,
    *,
    clock: Clock | None = None,
    db: Database | None = None,
    producer: AIOKafkaProducer | None = None,
    api_keys: ApiKeys | None = None,
) -> Runtime:
    runtime = build_runtime(SPEC, settings, clock=clock, db=db, producer=producer)
    runtime.state["authenticator"] = authenticator_for(settings, api_keys)
    return runtime
