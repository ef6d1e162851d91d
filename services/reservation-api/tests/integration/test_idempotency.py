"""Fleet integration: every POST takes an Idempotency-Key (derived from the OpenAPI document, so
a new POST cannot forget it), and a retried create returns the first answer instead of making a
second thing."""

from __future__ import annotations

from typing import Any

import pytest

from ..builders import a_driver, a_tenant, a_vehicle, ok
from .test_access import operations

NOT_IDEMPOTENT = {"/v1/auth/token"}
"""RFC 6749 §4.3 token endpoint: a retry gets another short-lived token, which changes nothing."""


@pytest.mark.asyncio
async def test_every_post_takes_an_idempotency_key(app) -> None:  # type: ignore[no-untyped-def]
    posts = [(path, op) for method, path, op in operations(app.openapi()) if method == "POST"]
    assert len(posts) >= 15
    missing = [
        path
        for path, op in posts
        if path not in NOT_IDEMPOTENT
        and not any(p["in"] == "header" and p["name"].lower() == "idempotency-key" for p in op.get("parameters", []))
    ]
    assert missing == [], f"POSTs without an Idempotency-Key header: {missing}"


def creates(ids: dict[str, str]) -> list[tuple[str, Any, Any, str]]:
    """(path, body, another valid body, the list that must not grow)"""
    return [
        ("/v1/vehicles", a_vehicle(external_ref="van-7"), a_vehicle(external_ref="van-8"), "/v1/vehicles"),
        ("/v1/drivers", a_driver(email="grace@example.org"), a_driver(name="Grace"), "/v1/drivers"),
        ("/v1/vehicles/import", [a_vehicle(make="Kia")], [a_vehicle(make="BYD")], "/v1/vehicles"),
        (
            "/v1/rfid-tokens",
            {"id_token": "RETRY0001", "driver_id": ids["driver_id"]},
            {"id_token": "RETRY0002", "driver_id": ids["driver_id"]},
            "/v1/rfid-tokens",
        ),
        ("/v1/webhooks", {"url": "https://tms.example/hook"}, {"url": "https://tms.example/other"}, "/v1/webhooks"),
    ]


@pytest.mark.asyncio
async def test_a_retried_create_returns_the_first_answer_and_makes_nothing_new(client, connect, deliver) -> None:  # type: ignore[no-untyped-def]
    tenant = await a_tenant(client, connect, deliver, "fleet-a")
    manager = connect(tenant.key)
    for n, (path, body, another, listing) in enumerate(creates(tenant.ids)):
        key = {"Idempotency-Key": f"retry-{n}"}
        before = len(ok(await manager.get(listing))["items"])
        first = await manager.post(path, json=body, headers=key)
        again = await manager.post(path, json=body, headers=key)
        assert (first.status_code, again.status_code) == (201, 200), (path, first.text, again.text)
        assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json(), path
        # The same key on another request is a mistake the caller hears about.
        reused = await manager.post(path, json=another, headers=key)
        assert reused.status_code == 422 and reused.json()["title"] == "Idempotency-Key reused", (path, reused.text)
        grown = len(ok(await manager.get(listing))["items"]) - before
        assert grown == 1, (path, grown)
