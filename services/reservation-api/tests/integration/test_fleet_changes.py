"""Editing vehicles and drivers: PATCH changes the fields sent and keeps the rest, within the
tenant, for fleet:write only; a bad change is a 422 naming the field and changes nothing; every
change is in the audit log."""

from __future__ import annotations

from typing import Any

import pytest

from ..builders import a_driver, a_tenant, a_vehicle, bearer_for, ok
from ..conftest import outbox_rows


def fields_of(problem: dict[str, Any]) -> set[str]:
    return {e["field"] for e in problem.get("errors", [])}


@pytest.mark.asyncio
async def test_a_fleet_manager_changes_a_vehicle_and_a_driver_and_the_rest_stays(client, connect, deliver, db) -> None:  # type: ignore[no-untyped-def]
    a = await a_tenant(client, connect, deliver, "tenant-a")
    manager = connect(a.key)
    vehicle_id, driver_id = a.ids["vehicle_id"], a.ids["driver_id"]
    before = ok(await manager.get(f"/v1/vehicles/{vehicle_id}"))

    changed = ok(
        await manager.patch(
            f"/v1/vehicles/{vehicle_id}", json={"battery_wh": 64_800, "max_ac_power_w": 11_000, "external_ref": None}
        )
    )
    assert (changed["battery_wh"], changed["max_ac_power_w"], changed["external_ref"]) == (64_800, 11_000, None)
    unchanged = {k: v for k, v in before.items() if k not in ("battery_wh", "max_ac_power_w", "external_ref")}
    assert {k: changed[k] for k in unchanged} == unchanged
    assert ok(await manager.get(f"/v1/vehicles/{vehicle_id}")) == changed

    other = ok(await manager.post("/v1/vehicles", json=a_vehicle(make="Kia", model="e-Niro")), 201)
    tokens_before = len(await outbox_rows(db, "tokens.updated"))
    driver = ok(
        await manager.patch(
            f"/v1/drivers/{driver_id}",
            json={"name": "Ada King", "email": None, "vehicle_ids": [other["id"], vehicle_id, other["id"]]},
        )
    )
    assert (driver["name"], driver["email"], driver["phone"]) == ("Ada King", None, "+49 30 1234567")
    assert driver["vehicle_ids"] == [other["id"], vehicle_id]  # a repeated id once
    assert ok(await manager.get(f"/v1/drivers/{driver_id}")) == driver
    # The app token and pseudonym are unchanged, so the gateway has nothing new to learn.
    assert len(await outbox_rows(db, "tokens.updated")) == tokens_before

    # An empty change changes nothing and logs nothing.
    assert ok(await manager.patch(f"/v1/vehicles/{vehicle_id}", json={})) == changed

    log = ok(await manager.get("/v1/audit", params={"limit": 500}))["items"]
    changes = [(e["entity"], e["entity_id"], e["detail"]) for e in log if e["action"] == "changed"]
    assert changes == [
        ("vehicle", vehicle_id, {"battery_wh": 64_800, "max_ac_power_w": 11_000, "external_ref": None}),
        ("driver", driver_id, {"fields": ["email", "name", "vehicle_ids"]}),
    ]
    assert "Ada King" not in str(log), "the audit log keeps no personal data of a driver"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("what", "body", "field"),
    [
        ("vehicles", {"colour": "red"}, "colour"),
        ("vehicles", {"tenant_id": "tenant-b"}, "tenant_id"),
        ("vehicles", {"make": None}, "make"),
        ("vehicles", {"battery_wh": 0}, "battery_wh"),
        ("vehicles", {"phases": 4}, "phases"),
        ("vehicles", {"connector_type": "Schuko"}, "connector_type"),
        ("drivers", {"name": ""}, "name"),
        ("drivers", {"vehicle_ids": None}, "vehicle_ids"),
        ("drivers", {"email": "not an address"}, "email"),
        ("drivers", {"pseudonym": "drv_mine"}, "pseudonym"),
        ("drivers", {"vehicle_ids": ["no-such-vehicle"]}, "vehicle_ids"),
    ],
)
async def test_a_bad_change_names_the_field_and_changes_nothing(  # type: ignore[no-untyped-def]
    client, connect, deliver, what, body, field
) -> None:
    a = await a_tenant(client, connect, deliver, "tenant-a")
    manager = connect(a.key)
    path = f"/v1/{what}/{a.ids['vehicle_id' if what == 'vehicles' else 'driver_id']}"
    before = ok(await manager.get(path))
    response = await manager.patch(path, json=body)
    assert response.status_code == 422, response.text
    assert field in fields_of(response.json()), response.text
    assert ok(await manager.get(path)) == before


@pytest.mark.asyncio
async def test_who_may_change_what(client, connect, deliver) -> None:  # type: ignore[no-untyped-def]
    a = await a_tenant(client, connect, deliver, "tenant-a")
    b = await a_tenant(client, connect, deliver, "tenant-b")
    manager, intruder = connect(a.key), connect(b.key)
    vehicle, driver = f"/v1/vehicles/{a.ids['vehicle_id']}", f"/v1/drivers/{a.ids['driver_id']}"
    # Another tenant's vehicle or driver is not told apart from one that does not exist.
    assert (await intruder.patch(vehicle, json={"make": "Stolen"})).status_code == 404
    assert (await intruder.patch(driver, json={"name": "Mallory"})).status_code == 404
    # Nor does a driver's own vehicle list take another tenant's vehicle.
    theirs = await intruder.patch(f"/v1/drivers/{b.ids['driver_id']}", json={"vehicle_ids": [a.ids["vehicle_id"]]})
    assert theirs.status_code == 422 and fields_of(theirs.json()) == {"vehicle_ids"}, theirs.text
    # A driver reads their own record but changes nothing of the fleet.
    signed_in = connect(await bearer_for(client, "driver@tenant-a.example", "correct horse b"))
    assert (await signed_in.patch(driver, json={"name": "Me"})).status_code == 403
    assert (await signed_in.patch(vehicle, json={"priority": 10})).status_code == 403
    # The same external_ref twice in a tenant is a conflict naming the field.
    second = ok(await manager.post("/v1/vehicles", json=a_vehicle(external_ref="van-2")), 201)
    taken = await manager.patch(f"/v1/vehicles/{second['id']}", json={"external_ref": "tenant-a-van"})
    assert taken.status_code == 409 and fields_of(taken.json()) == {"external_ref"}, taken.text
    assert ok(await manager.patch(f"/v1/vehicles/{second['id']}", json={"external_ref": "van-2"}))["external_ref"]
    assert ok(await manager.get(vehicle))["make"] == "Renault"
    assert ok(await manager.get(driver))["name"] == "Ada Lovelace"
    # An erased driver stays erased.
    erased = ok(await manager.post("/v1/drivers", json=a_driver(email="gone@a.example")), 201)
    ok(await manager.delete(f"/v1/drivers/{erased['id']}"))
    refused = await manager.patch(f"/v1/drivers/{erased['id']}", json={"name": "Back again"})
    assert refused.status_code == 409, refused.text
    assert ok(await manager.get(f"/v1/drivers/{erased['id']}"))["name"] is None
