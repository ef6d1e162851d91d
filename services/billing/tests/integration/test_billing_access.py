"""Who may call billing's REST API: the reservation API's credentials, roles as the README says."""

from __future__ import annotations

import httpx
import pytest
from chargeyard_devstack.testing import as_role, bearer

pytestmark = pytest.mark.asyncio

TARIFF = {"currency": "EUR", "vat_rate": "0.19"}


async def test_without_credentials_every_route_is_401(client: httpx.AsyncClient) -> None:
    del client.headers["authorization"]
    for method, path in [
        ("GET", "/v1/sessions"),
        ("GET", "/v1/cdrs"),
        ("GET", "/v1/tariffs"),
        ("PUT", "/v1/tariffs/t1"),
    ]:
        response = await client.request(method, path, json=TARIFF if method == "PUT" else None)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"


async def test_an_unknown_key_or_a_forged_token_is_401(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/sessions", headers=bearer("cy_not-a-key"))).status_code == 401
    forged = as_role("administrator")["Authorization"][:-4] + "AAAA"
    assert (await client.get("/v1/sessions", headers={"Authorization": forged})).status_code == 401


async def test_drivers_and_partners_are_refused(client: httpx.AsyncClient) -> None:
    for role in ("driver", "partner"):
        refused = await client.get("/v1/cdrs", headers=as_role(role))
        assert refused.status_code == 403, refused.text
        assert role in refused.json()["detail"]


async def test_operators_read_and_only_administrators_and_site_operators_write(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/sessions")).status_code == 200, "the administrator key"
    for role in ("site_operator", "fleet_manager"):
        assert (await client.get("/v1/sessions", headers=as_role(role))).status_code == 200, role
    assert (await client.get("/v1/sessions", headers=as_role("maintainer"))).status_code == 403
    written = await client.put("/v1/tariffs/t-site", json=TARIFF, headers=as_role("site_operator"))
    assert written.status_code in (200, 201), written.text
    refused = await client.put("/v1/tariffs/t-fleet", json=TARIFF, headers=as_role("fleet_manager"))
    assert refused.status_code == 403
    assert [t["tariff_id"] for t in (await client.get("/v1/tariffs")).json()] == ["t-site"]
    account = await client.put("/v1/accounts/d-1", json={}, headers=as_role("fleet_manager"))
    assert account.status_code == 403
    account = await client.put("/v1/accounts/d-1", json={"cost_centre": "cc-1"}, headers=as_role("site_operator"))
    assert account.status_code == 200 and account.json()["cost_centre"] == "cc-1"
