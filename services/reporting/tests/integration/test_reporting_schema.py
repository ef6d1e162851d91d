"""The tables the code uses (adapters/orm.py) are the tables the migrations create."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from chargeyard_platform.db import Database, platform_metadata
from chargeyard_reporting.adapters.orm import metadata


@pytest.mark.asyncio
async def test_orm_matches_migrations(db: Database) -> None:
    expected = sa.MetaData()
    for table in [*platform_metadata.tables.values(), *metadata.tables.values()]:
        table.to_metadata(expected)
    async with db.engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), expected)
        )
    assert diff == []
