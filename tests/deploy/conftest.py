"""Fixtures for the deploy checks: the compose file as compose interpolates it, and each
Kubernetes overlay as kustomize builds it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

# Test directories are not packages, and deploy/tools is a directory of scripts: both go on the path.
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "tools"))

import render
from deploy_helpers import REAL_PASSWORD


@pytest.fixture(scope="session")
def compose_file() -> dict[str, Any]:
    return render.compose(
        {
            **render.read_env_file(render.COMPOSE_ENV_EXAMPLE),
            "POSTGRES_PASSWORD": REAL_PASSWORD,
            "CHARGEYARD_DB_PASSWORD": REAL_PASSWORD,
            "GRAFANA_ADMIN_PASSWORD": REAL_PASSWORD,
            "RESERVATIONS_ADMIN_TOKEN": REAL_PASSWORD,
            "RESERVATIONS_JWT_SECRET": REAL_PASSWORD,
        }
    )


@pytest.fixture(scope="session")
def overlays() -> dict[str, list[dict[str, Any]]]:
    return {overlay: render.kustomize(overlay) for overlay in render.OVERLAYS}
