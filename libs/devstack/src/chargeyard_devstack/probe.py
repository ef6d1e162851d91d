"""A probe consumer for the bus tests: the platform's own Consumer with a handler that is
deliberately not idempotent (a plain INSERT, no unique key), so an event applied twice shows
as two rows. Run as a process (`python -m chargeyard_devstack.probe`) so tests can SIGKILL it.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from chargeyard_contracts import ReservationCreated
from chargeyard_platform.bus import Context
from chargeyard_platform.runtime import Runtime, ServiceSpec, build_runtime, serve
from chargeyard_platform.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict

MIGRATIONS = Path(__file__).parent / "probe_migrations"
applied = sa.table("applied", sa.column("reservation_id"))


class ProbeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PROBE_", extra="ignore", frozen=True)


async def record(event: ReservationCreated, ctx: Context) -> None:
    if event.vehicle_id == "explodes":
        raise RuntimeError("this handler refuses exploding vehicles")
    await ctx.session.execute(applied.insert().values(reservation_id=event.reservation_id))


def probe_runtime(settings: ServiceSettings, name: str = "kill-probe") -> Runtime:
    spec = ServiceSpec(name=name, migrations=MIGRATIONS, handlers={ReservationCreated: record})
    return build_runtime(spec, settings)


def main() -> None:
    serve(probe_runtime(ProbeSettings()))


if __name__ == "__main__":
    main()
