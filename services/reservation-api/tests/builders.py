"""Builders for request bodies and a small world of tenants: `a_reservation(**changes)`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from chargeyard_contracts import TopologyUpdated
from chargeyard_contracts.planning import StationPlacement


def a_reservation(**changes: Any) -> dict[str, Any]:
    return {
        "arrival": "2026-11-22T07:00:00+01:00",
        "departure": "2026-11-22T16:30:00+01:00",
        "energy_wh": 30_000,
        **changes,
    }


def a_vehicle(**changes: Any) -> dict[str, Any]:
    return {
        "make": "Renault",
        "model": "Kangoo E-Tech",
        "battery_wh": 45_000,
        "consumption_wh_per_100km": 19_000,
        "max_ac_power_w": 22_000,
        "phases": 3,
        "connector_type": "Type2",
        "priority": 2,
        **changes,
    }


def a_driver(**changes: Any) -> dict[str, Any]:
    return {"name": "Ada Lovelace", "email": "ada@example.org", "phone": "+49 30 1234567", **changes}


def a_topology(site_id: str, *stations: str, time_zone: str = "Europe/Berlin") -> TopologyUpdated:
    return TopologyUpdated(
        site_id=site_id,
        time_zone=time_zone,
        grid_limit_w=44_000,
        stations=tuple(StationPlacement(station_id=s, circuit_id=None, max_power_w=11_000) for s in stations),
        updated_at=datetime(2026, 11, 1, tzinfo=UTC),
    )


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.text)
    return response.json()


@dataclass
class Tenant:
    """One tenant with a fleet manager's key, a site with one station, a vehicle, a driver with a
    card and a login, and a reservation."""

    id: str
    key: str
    site_id: str
    station_id: str
    ids: dict[str, str] = field(default_factory=dict)


async def a_tenant(admin: httpx.AsyncClient, connect: Any, deliver: Any, name: str) -> Tenant:
    ok(await admin.post("/v1/tenants", json={"id": name, "name": name.title()}), 201)
    key = ok(
        await admin.post(
            "/v1/api-keys", json={"name": f"{name} back office", "roles": ["fleet_manager"], "tenant_id": name}
        ),
        201,
    )
    site_id, station_id = f"{name}-site", f"{name.upper()}-ST1"
    await deliver(a_topology(site_id, station_id))
    ok(await admin.put(f"/v1/sites/{site_id}", json={"tenant_id": name}))
    tenant = Tenant(id=name, key=key["key"], site_id=site_id, station_id=station_id)
    manager = connect(tenant.key)
    vehicle = ok(await manager.post("/v1/vehicles", json=a_vehicle(external_ref=f"{name}-van")), 201)
    driver = ok(
        await manager.post("/v1/drivers", json=a_driver(vehicle_ids=[vehicle["id"]], email=f"driver@{name}.example")),
        201,
    )
    card = ok(
        await manager.post(
            "/v1/rfid-tokens", json={"id_token": f"{name.upper().replace('-', '')}CARD1", "driver_id": driver["id"]}
        ),
        201,
    )
    user = ok(
        await manager.post(
            "/v1/users",
            json={
                "email": f"driver@{name}.example",
                "password": "correct horse b",
                "roles": ["driver"],
                "driver_id": driver["id"],
            },
        ),
        201,
    )
    reservation = ok(
        await manager.post(
            "/v1/reservations", json=a_reservation(site_id=site_id, vehicle_id=vehicle["id"], driver_id=driver["id"])
        ),
        201,
    )
    webhook = ok(
        await manager.post(
            "/v1/webhooks", json={"url": f"https://{name}.example/hooks", "events": ["reservation.decided"]}
        ),
        201,
    )
    tenant.ids = {
        "vehicle_id": vehicle["id"],
        "driver_id": driver["id"],
        "id_token": card["id_token"],
        "user_id": user["id"],
        "key_id": key["id"],
        "reservation_id": reservation["id"],
        "site_id": site_id,
        "station_id": station_id,
        "evse_id": "1",
        "webhook_id": webhook["id"],
    }
    return tenant


async def bearer_for(client: httpx.AsyncClient, email: str, password: str) -> str:
    token = ok(await client.post("/v1/auth/token", data={"username": email, "password": password}))
    return str(token["access_token"])
