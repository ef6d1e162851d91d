from chargeyard_platform.db import run_migrations

from chargeyard_billing.adapters.orm import metadata

run_migrations(metadata)
