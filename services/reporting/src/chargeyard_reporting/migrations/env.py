from chargeyard_platform.db import run_migrations

from chargeyard_reporting.adapters.orm import metadata

run_migrations(metadata)
