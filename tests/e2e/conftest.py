import os
from pathlib import Path

import pytest

POSTGRES_DSN = os.environ.get("CHARGEYARD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return tmp_path / "run"
