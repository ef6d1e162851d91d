from chargeyard_platform.db import run_migrations

run_migrations(None)
