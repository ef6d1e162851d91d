"""Run one service's migrations, then exit: `python -m chargeyard_platform.migrate chargeyard_billing`.

Kubernetes runs this as each service's init container, so a schema change happens before any
instance of the new version starts and a failed migration shows as Init:Error instead of a crash
loop. It is the step `Runtime.start` runs anyway (a no-op at head): the same settings class and
environment, the same bounded wait for the database, the same migrations directory, so the same
PostgreSQL advisory lock serialises it with starting instances.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
from collections.abc import Sequence
from pathlib import Path

from .db import Database
from .runtime import wait_for_database
from .settings import ServiceSettings

log = logging.getLogger("chargeyard_platform.migrate")


def migrations_of(package: str) -> Path:
    """Every service keeps its Alembic scripts in `<package>/migrations` (its ServiceSpec says so too)."""
    module = importlib.import_module(package)
    if module.__file__ is None:
        raise ValueError(f"{package} is not a regular package")
    path = Path(module.__file__).parent / "migrations"
    if not path.is_dir():
        raise ValueError(f"{package} has no migrations directory at {path}")
    return path


def settings_of(package: str) -> ServiceSettings:
    """The service's own settings class, read from the environment with its prefix."""
    settings_class = importlib.import_module(f"{package}.config").Settings
    settings: ServiceSettings = settings_class()
    return settings


async def migrate(database_url: str, migrations: Path) -> None:
    db = Database.connect(database_url)
    try:
        await wait_for_database(db, database_url)
        await db.migrate(migrations)
    finally:
        await db.dispose()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m chargeyard_platform.migrate", description="Bring one service's database to the newest schema."
    )
    parser.add_argument("package", help="the service's package, e.g. chargeyard_billing")
    args = parser.parse_args(argv)
    settings = settings_of(args.package)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s migrate %(levelname)s %(name)s: %(message)s")
    migrations = migrations_of(args.package)
    asyncio.run(migrate(settings.database_url, migrations))
    log.info("%s: database at head (%s)", args.package, migrations)


if __name__ == "__main__":
    main()
