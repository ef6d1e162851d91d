"""Must show 2: nothing but health and metrics answers without credentials, and one tenant can
neither see nor steer another's data through any endpoint. Also: roles, passwords, API keys,
bearer tokens, rate limits and the audit log."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from chargeyard_platform.runtime import create_app
from chargeyard_reservations.adapters.orm import api_keys, users
from chargeyard_reservations.bootstrap import bootstrap

from ..builders import a_driver, a_reservation, a_tenant, a_vehicle, bearer_for, ok

PUBLIC = {"/healthz", "/readyz", "/metrics"}
DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
"""The API's own description stays readable without credentials (it holds no data), so client
generators and people can read it; everything else needs credentials."""


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, item in spec["paths"].items() for method, op in item.items()]


def fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)


@pytest.mark.asyncio
async def test_nothing_but_health_and_metrics_answers_without_credentials(runtime, connect) -> None:  # type: ignore[no-untyped-def]
    """The real service app (platform routes included), every operation, no credentials."""
    app = create_app(bootstrap(runtime.settings, clock=runtime.clock, db=runtime.db))
    spec = app.openapi()
    ids = {
        "reservation_id": "r1",
        "vehicle_id": "v1",
        "driver_id": "d1",
        "id_token": "T1",
        "user_id": "u1",
        "key_id": "k1",
        "site_id": "site-1",
        "station_id": "ST1",
        "evse_id": "1",
        "webhook_id": "w1",
    }
    answered = {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as anonymous:
        for method, path, _ in operations(spec):
            response = await anonymous.request(
                method, fill(path, ids), json={} if method in ("POST", "PUT", "PATCH") else None
            )
            answered[(method, path)] = response.status_code
            if path in PUBLIC:
                assert response.status_code in (200, 503), (path, response.status_code)  # readyz: not started
            elif path == "/v1/auth/token":
                assert response.status_code in (401, 422) and "access_token" not in response.text
            else:
                assert response.status_code == 401, (method, path, response.status_code, response.text)
                assert response.headers["www-authenticate"].startswith("Bearer")
                assert response.headers["content-type"] == "application/problem+json"
        with_bad_key = await anonymous.get("/v1/reservations", headers={"Authorization": "Bearer cy_guessed"})
        assert with_bad_key.status_code == 401
    assert {p for (_, p) in answered} - PUBLIC - DOCS - {"/v1/auth/token"}, "no data endpoint was tried"
    assert len(answered) >= 35, answered


# The body each create-like operation gets when tenant B tries to use tenant A's ids.
def foreign_bodies(a: dict[str, str]) -> dict[tuple[str, str], Any]:
    return {
        ("POST", "/v1/reservations"): a_reservation(site_id=a["site_id"]),
        ("POST", "/v1/reservations/import"): [a_reservation(driver_id=a["driver_id"])],
        ("POST", "/v1/drivers"): a_driver(vehicle_ids=[a["vehicle_id"]], email="x@b.example"),
        ("POST", "/v1/drivers/import"): [a_driver(vehicle_ids=[a["vehicle_id"]])],
        ("POST", "/v1/rfid-tokens"): {"id_token": "BSTEALS1", "driver_id": a["driver_id"]},
        ("POST", "/v1/users"): {
            "email": "x@b.example",
            "password": "long enough pw",
            "roles": ["driver"],
            "driver_id": a["driver_id"],
        },
        ("POST", "/v1/api-keys"): {"name": "into A", "roles": ["partner"], "tenant_id": "tenant-a"},
        ("POST", "/v1/tenants"): {"name": "B's own"},
        ("POST", "/v1/vehicles"): a_vehicle(tenant_id="tenant-a"),
        ("POST", "/v1/vehicles/import"): [a_vehicle(tenant_id="tenant-a")],
        ("PUT", "/v1/sites/{site_id}"): {"tenant_id": "tenant-b"},
        ("PATCH", "/v1/reservations/{reservation_id}"): {"energy_wh": 1000},
        ("PATCH", "/v1/users/{user_id}"): {"active": False},
        ("PATCH", "/v1/rfid-tokens/{id_token}"): {"status": "Blocked"},
        ("PATCH", "/v1/vehicles/{vehicle_id}"): {"make": "Stolen"},
        ("PATCH", "/v1/drivers/{driver_id}"): {"name": "Mallory", "vehicle_ids": [a["vehicle_id"]]},
        ("POST", "/v1/reservations/{reservation_id}/cancel"): {},
        ("POST", "/v1/reservations/{reservation_id}/decision"): {"choice": "less_charge_on_time"},
        ("POST", "/v1/connectors/{station_id}/{evse_id}/start"): {"reservation_id": a["reservation_id"]},
        ("POST", "/v1/webhooks"): {"url": "https://b.example/steal", "tenant_id": "tenant-a"},
    }


@pytest.mark.asyncio
async def test_tenant_b_reaches_none_of_tenant_a_through_any_endpoint(client, connect, deliver, app) -> None:  # type: ignore[no-untyped-def]
    a = await a_tenant(client, connect, deliver, "tenant-a")
    b = await a_tenant(client, connect, deliver, "tenant-b")
    intruder = connect(b.key)
    spec = app.openapi()
    bodies = foreign_bodies(a.ids)
    a_values = [v for k, v in a.ids.items() if k not in ("evse_id",)]
    visited = set()
    for method, path, _ in operations(spec):
        if path == "/v1/auth/token":
            continue
        visited.add((method, path))
        body = bodies.get((method, path))
        if method in ("POST", "PUT", "PATCH") and body is None:
            pytest.fail(f"{method} {path}: add the body B tries with A's ids to foreign_bodies()")
        response = await intruder.request(method, fill(path, a.ids), json=body)
        text = response.text
        if "{" in path:  # an operation on one of A's things
            assert response.status_code in (403, 404, 422), (method, path, response.status_code, text)
        elif method == "GET":  # a list, an export or B's own view: nothing of A's in it
            assert response.status_code == 200, (method, path, text)
            leaked = [v for v in a_values if v in text]
            assert not leaked, (method, path, leaked)
        else:  # creating with A's ids: refused, and nothing of A's echoed back
            if (method, path) == ("POST", "/v1/tenants"):
                assert response.status_code == 403
            else:
                assert response.status_code in (403, 404, 409, 422), (method, path, response.status_code, text)
    assert visited == {(m, p) for m, p, _ in operations(spec) if p != "/v1/auth/token"}
    # And A's things are untouched.
    owner = connect(a.key)
    reservation = ok(await owner.get(f"/v1/reservations/{a.ids['reservation_id']}"))
    assert reservation["status"] == "requested" and reservation["energy_wh"] == 30_000
    assert ok(await owner.get(f"/v1/rfid-tokens/{a.ids['id_token']}"))["status"] == "Accepted"
    assert ok(await client.get(f"/v1/sites/{a.site_id}"))["tenant_id"] == "tenant-a"
    assert ok(await client.get(f"/v1/users/{a.ids['user_id']}"))["active"] is True
    assert ok(await owner.get(f"/v1/vehicles/{a.ids['vehicle_id']}"))["make"] == "Renault"
    assert ok(await owner.get(f"/v1/drivers/{a.ids['driver_id']}"))["name"] == "Ada Lovelace"
    # The administrator, who runs the platform, sees both.
    both = ok(await client.get("/v1/reservations"))["items"]
    assert {r["tenant_id"] for r in both} == {"tenant-a", "tenant-b"}


@pytest.mark.asyncio
async def test_a_driver_sees_and_steers_only_their_own_reservations(client, connect, deliver) -> None:  # type: ignore[no-untyped-def]
    a = await a_tenant(client, connect, deliver, "tenant-a")
    manager = connect(a.key)
    other = ok(await manager.post("/v1/drivers", json=a_driver(email="bob@a.example")), 201)
    theirs = ok(
        await manager.post("/v1/reservations", json=a_reservation(site_id=a.site_id, driver_id=other["id"])), 201
    )
    driver = connect(await bearer_for(client, "driver@tenant-a.example", "correct horse b"))
    me = ok(await driver.get("/v1/me"))
    assert me["roles"] == ["driver"] and me["driver_id"] == a.ids["driver_id"]
    listed = ok(await driver.get("/v1/reservations"))["items"]
    assert [r["id"] for r in listed] == [a.ids["reservation_id"]]
    assert (await driver.get(f"/v1/reservations/{theirs['id']}")).status_code == 404
    assert (await driver.post(f"/v1/reservations/{theirs['id']}/cancel", json={})).status_code == 404
    assert (
        await driver.post("/v1/reservations", json=a_reservation(site_id=a.site_id, driver_id=other["id"]))
    ).status_code == 403
    mine = ok(await driver.post("/v1/reservations", json=a_reservation(site_id=a.site_id)), 201)
    assert mine["driver_id"] == a.ids["driver_id"]
    for forbidden in ("/v1/vehicles", "/v1/drivers", "/v1/users", "/v1/audit", "/v1/api-keys"):
        assert (await driver.get(forbidden)).status_code == 403, forbidden


@pytest.mark.asyncio
async def test_nobody_hands_out_more_than_they_hold(client, connect, deliver) -> None:  # type: ignore[no-untyped-def]
    a = await a_tenant(client, connect, deliver, "tenant-a")
    manager = connect(a.key)
    response = await manager.post(
        "/v1/users", json={"email": "boss@a.example", "password": "long enough pw", "roles": ["administrator"]}
    )
    assert response.status_code == 403
    assert (await manager.post("/v1/api-keys", json={"name": "x", "roles": ["administrator"]})).status_code == 403
    maintainer_key = ok(await manager.post("/v1/api-keys", json={"name": "m", "roles": ["maintainer"]}), 201)["key"]
    maintainer = connect(maintainer_key)
    assert (await maintainer.post("/v1/reservations", json=a_reservation(site_id=a.site_id))).status_code == 403
    assert (await maintainer.get(f"/v1/connectors/{a.station_id}/1/qr")).status_code == 200


@pytest.mark.asyncio
async def test_passwords_are_argon2id_api_keys_are_digests_and_tokens_expire(
    client, connect, deliver, runtime, db
) -> None:  # type: ignore[no-untyped-def]
    a = await a_tenant(client, connect, deliver, "tenant-a")
    async with db.sessions() as session:
        stored = (
            await session.execute(sa.select(users.c.password_hash).where(users.c.id == a.ids["user_id"]))
        ).scalar()
        secrets_at_rest = [r.secret_hash for r in (await session.execute(sa.select(api_keys))).all()]
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert a.key not in secrets_at_rest and all(len(s) == 64 for s in secrets_at_rest)
    assert (
        await client.post("/v1/auth/token", data={"username": "driver@tenant-a.example", "password": "wrong"})
    ).status_code == 401
    token = await bearer_for(client, "driver@tenant-a.example", "correct horse b")
    driver = connect(token)
    assert (await driver.get("/v1/me")).status_code == 200
    runtime.clock.advance(runtime.settings.jwt_ttl_s + 1)
    assert (await driver.get("/v1/me")).status_code == 401, "an expired token is refused"
    fresh = connect(await bearer_for(client, "driver@tenant-a.example", "correct horse b"))
    ok(await connect(a.key).patch(f"/v1/users/{a.ids['user_id']}", json={"active": False}))
    assert (await fresh.get("/v1/me")).status_code == 401, "a disabled user's token stops working at once"
    assert (await client.delete(f"/v1/api-keys/{a.ids['key_id']}")).status_code == 204
    assert (await connect(a.key).get("/v1/vehicles")).status_code == 401, "a revoked key is refused"


@pytest.mark.asyncio
async def test_a_caller_over_its_rate_gets_429_with_retry_after(runtime, connect, app) -> None:  # type: ignore[no-untyped-def]
    runtime.settings = runtime.settings.model_copy(update={"rate_limit_per_minute": 5, "login_attempts_per_minute": 3})
    admin = connect("cy_test-admin-token-0123456789abcdef")
    assert [(await admin.get("/v1/me")).status_code for _ in range(5)] == [200] * 5
    limited = await admin.get("/v1/me")
    assert limited.status_code == 429, limited.text
    assert limited.headers["retry-after"] == "12"  # one request's worth at 5 a minute
    assert limited.headers["content-type"] == "application/problem+json"
    runtime.clock.advance(12)
    assert (await admin.get("/v1/me")).status_code == 200
    anonymous = connect()
    statuses = [
        (await anonymous.post("/v1/auth/token", data={"username": "x@y.z", "password": "nope"})).status_code
        for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]


@pytest.mark.asyncio
async def test_the_audit_log_says_who_changed_what_within_the_tenant(client, connect, deliver) -> None:  # type: ignore[no-untyped-def]
    a = await a_tenant(client, connect, deliver, "tenant-a")
    await a_tenant(client, connect, deliver, "tenant-b")
    manager = connect(a.key)
    ok(await manager.post(f"/v1/reservations/{a.ids['reservation_id']}/cancel", json={"reason": "plans changed"}))
    entries = ok(await manager.get("/v1/audit", params={"entity": "reservation"}))["items"]
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("created (api)", f"api_key:{a.ids['key_id']}"),
        ("cancelled", f"api_key:{a.ids['key_id']}"),
    ]
    everything = ok(await manager.get("/v1/audit", params={"limit": 500}))["items"]
    assert {e["tenant_id"] for e in everything} == {"tenant-a"}
