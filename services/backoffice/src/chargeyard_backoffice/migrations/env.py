from chargeyard_platform.db import run_migrations

from chargeyard_backoffice.adapters.maintenance import metadata

run_migrations(metadata)
