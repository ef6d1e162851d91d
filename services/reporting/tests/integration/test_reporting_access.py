"""Who may call reporting's REST API: the reservation API's credentials, any operator role."""

from __future__ import annotations

import httpx
import pytest
from chargeyard_devstack.testing import as_role, bearer

pytestmark = pytest.mark.asyncio

ROUTES = ["/v1/reports/energy", "/v1/reports/stations", "/v1/reports/sessions", "/v1/reports/events"]


async def test_without_credentials_every_report_is_401(client: httpx.AsyncClient) -> None:
    del client.headers["authorization"]
    for path in [*ROUTES, "/v1/reports/energy.csv"]:
        response = await client.get(path)
        assert response.status_code == 401, (path, response.text)
    assert (await client.get("/v1/reports/energy", headers=bearer("cy_not-a-key"))).status_code == 401


async def test_drivers_and_partners_are_refused(client: httpx.AsyncClient) -> None:
    for role in ("driver", "partner"):
        for path in ["/v1/reports/energy", "/v1/reports/sessions", "/v1/reports/energy.csv"]:
            refused = await client.get(path, headers=as_role(role))
            assert refused.status_code == 403, (role, path, refused.text)
            assert role in refused.json()["detail"]
    refused = await client.get("/v1/reports/stations", headers=as_role("partner"))
    assert refused.status_code == 403


async def test_drivers_read_the_stations_status_and_power(client: httpx.AsyncClient) -> None:
    """The driver app shows the power of the station a driver charges at."""
    assert (await client.get("/v1/reports/stations", headers=as_role("driver"))).status_code == 200


async def test_every_operator_role_and_the_administrator_key_read(client: httpx.AsyncClient) -> None:
    for path in ROUTES:
        assert (await client.get(path)).status_code == 200, path
    for role in ("administrator", "site_operator", "maintainer", "fleet_manager"):
        assert (await client.get("/v1/reports/energy", headers=as_role(role))).status_code == 200, role
