from __future__ import annotations

from typing import Any

import pytest

from ..builders import a_vehicle, ok
from ..conftest import outbox_rows

GOOD: dict[str, Any] = {
    "site_id": "site-1",
    "arrival": "2026-11-22T07:00:00+01:00",
    "departure": "2026-11-22T16:30:00+01:00",
    "energy_wh": 30_000,
    "max_power_w": 11_000,
}


def a_body(**changes: Any) -> dict[str, Any]:
    return {**GOOD, **changes}


@pytest.mark.asyncio
async def test_a_reservation_is_stored_and_its_event_written_in_the_same_transaction(client, db) -> None:  # type: ignore[no-untyped-def]
    response = await client.post("/v1/reservations", json=a_body())
    assert response.status_code == 201
    created = response.json()
    assert created["status"] == "requested"
    (row,) = await outbox_rows(db)
    assert row["topic"] == "reservation.created" and row["key"] == "site-1"
    assert row["payload"]["reservation_id"] == created["id"]
    assert row["payload"]["arrival"] == "2026-11-22T06:00:00Z"  # any offset in, UTC on the bus
    fetched = await client.get(f"/v1/reservations/{created['id']}")
    assert fetched.status_code == 200 and fetched.json()["energy_wh"] == 30_000


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        (a_body(energy_wh=-5), "energy_wh", "greater than 0"),
        (a_body(arrival="2026-11-22T07:00:00"), "arrival", "timezone"),
        (a_body(departure="2026-11-22T06:00:00+01:00"), "body", "departure must be after arrival"),
        (a_body(colour="red"), "colour", "Extra inputs are not permitted"),
        ({k: v for k, v in GOOD.items() if k != "departure"}, "departure", "Field required"),
    ],
)
async def test_a_bad_body_gets_problem_details_naming_the_field_and_stores_nothing(  # type: ignore[no-untyped-def]
    client,
    db,
    body: dict[str, Any],
    field: str,
    says: str,
) -> None:
    await client.post("/v1/reservations", json=a_body(energy_wh=12_345))
    response = await client.post("/v1/reservations", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422 and problem["instance"] == "/v1/reservations"
    assert field in problem["detail"]
    assert any(e["field"] == field and says.lower() in e["message"].lower() for e in problem["errors"]), problem
    listed = (await client.get("/v1/reservations")).json()["items"]
    assert [r["energy_wh"] for r in listed] == [12_345], "what was stored before is still there, alone"
    assert len(await outbox_rows(db)) == 1


@pytest.mark.asyncio
async def test_a_retried_request_with_the_same_idempotency_key_creates_one_reservation(client, db) -> None:  # type: ignore[no-untyped-def]
    first = await client.post("/v1/reservations", json=a_body(), headers={"Idempotency-Key": "fleet-42"})
    again = await client.post("/v1/reservations", json=a_body(), headers={"Idempotency-Key": "fleet-42"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert len(await outbox_rows(db)) == 1


@pytest.mark.asyncio
async def test_an_unknown_reservation_is_a_404_problem(client) -> None:  # type: ignore[no-untyped-def]
    response = await client.get("/v1/reservations/nope")
    assert response.status_code == 404
    assert response.json()["detail"] == "No reservation with id nope"


@pytest.mark.asyncio
async def test_kilometres_instead_of_energy_go_to_the_scheduler_with_the_vehicle_and_the_weather(client, db) -> None:  # type: ignore[no-untyped-def]
    vehicle = ok(
        await client.post("/v1/vehicles", json=a_vehicle(battery_wh=60_000, consumption_wh_per_100km=18_000)), 201
    )
    body = a_body(vehicle_id=vehicle["id"], distance_km=150, outside_temperature_c=-5, soc_percent=20)
    del body["energy_wh"]
    created = ok(await client.post("/v1/reservations", json=body), 201)
    # Shown: the rated estimate (150 km x 18 kWh/100 km) and the trip it stands for.
    assert created["energy_wh"] == 27_000
    assert created["trip"] == {
        "distance_km": 150.0,
        "consumption_wh_per_100km": 18_000,
        "outside_temperature_c": -5.0,
        "soc_percent": 20.0,
        "battery_capacity_wh": 60_000,
    }
    (event,) = [r["payload"] for r in await outbox_rows(db, "reservation.created")]
    assert (event["distance_km"], event["consumption_wh_per_100km"], event["outside_temperature_c"]) == (
        150,
        18_000,
        -5,
    )
    assert (event["soc_percent"], event["battery_capacity_wh"], event["energy_wh"]) == (20, 60_000, 27_000)
    # A trip longer than a full battery asks for a full battery, not more.
    far = ok(await client.post("/v1/reservations", json={**body, "distance_km": 900}), 201)
    assert far["energy_wh"] == 60_000


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"distance_km": 100}, "body", "either energy_wh or distance_km"),
        ({"energy_wh": None}, "body", "either energy_wh or distance_km"),
        ({"energy_wh": None, "distance_km": 100}, "vehicle_id", "required with distance_km"),
        ({"energy_wh": None, "distance_km": 0}, "distance_km", "greater than 0"),
        ({"outside_temperature_c": 3}, "body", "go with distance_km"),
    ],
)
async def test_kilometres_without_a_vehicle_or_with_energy_too_are_refused_by_name(  # type: ignore[no-untyped-def]
    client, db, changes: dict[str, Any], field: str, says: str
) -> None:
    body = {k: v for k, v in a_body(**changes).items() if v is not None}
    response = await client.post("/v1/reservations", json=body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert any(e["field"] == field and says in e["message"] for e in problem["errors"]), problem
    assert await outbox_rows(db) == []
