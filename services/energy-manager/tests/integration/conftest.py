"""The `energy` fixture: see energy_running.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from energy_running import Energy, running_energy_manager


@pytest_asyncio.fixture
async def energy(tmp_path: Path) -> AsyncIterator[Energy]:
    async with running_energy_manager(tmp_path) as running:
        yield running
