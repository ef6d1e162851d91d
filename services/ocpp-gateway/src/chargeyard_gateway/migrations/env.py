from chargeyard_platform.db import run_migrations

from chargeyard_gateway.adapters.orm import metadata

run_migrations(metadata)
