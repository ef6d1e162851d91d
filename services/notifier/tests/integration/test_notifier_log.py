"""Handlers against a real database (SQLite and PostgreSQL), read back through the API."""

from __future__ import annotations

import httpx
import pytest
from notifier_builders import a_charge, a_reservation, a_schedule, at, driver_headers, operator_headers


@pytest.mark.asyncio
async def test_a_reservation_is_acknowledged_to_its_driver(deliver, published, client: httpx.AsyncClient) -> None:
    await deliver(a_reservation())
    response = await client.get("/v1/notifications", headers=driver_headers())
    assert response.status_code == 200
    [note] = response.json()
    assert note["kind"] == "reservation.requested" and note["channel"] == "push,email"
    assert note["reservation_id"] == "res-1"
    assert note["subject"] == "Reservation res-1 received: 30.0 kWh by 2025-03-03 17:00 UTC"
    assert note["created_at"] == "2025-03-03T08:00:00Z"

    [event] = await published()
    assert event.type == "NotificationSent" and event.source == "notifier"
    assert event.key == "driver-7"
    assert event.payload["notification_id"] == note["id"]
    assert event.payload["kind"] == "reservation.requested" and event.payload["channel"] == "push"


@pytest.mark.asyncio
async def test_a_plan_is_told_once_and_again_only_when_it_changes(
    deliver, published, client: httpx.AsyncClient
) -> None:
    await deliver(a_reservation())
    await deliver(a_schedule(a_charge()))
    await deliver(a_schedule(a_charge(), plan_id="plan-2"))  # re-plan, nothing new for res-1
    await deliver(a_schedule(a_charge(planned_start=at(2), planned_finish=at(5)), plan_id="plan-3"))

    notes = (await client.get("/v1/notifications", headers=driver_headers())).json()
    assert sorted(n["kind"] for n in notes) == [
        "reservation.requested",
        "reservation.scheduled",
        "reservation.scheduled",
    ]
    subjects = {n["subject"] for n in notes if n["kind"] == "reservation.scheduled"}
    assert (
        "Changed: Charging at CP-1 (EVSE 1, connector 1) from 2025-03-03 11:00 to 2025-03-03 14:00 Europe/Berlin: "
        "30.0 kWh" in subjects
    )
    # 09:00 UTC is 10:00 in Berlin in March (CET).
    assert (
        "Charging at CP-1 (EVSE 1, connector 1) from 2025-03-03 10:00 to 2025-03-03 13:00 Europe/Berlin: 30.0 kWh"
        in subjects
    )
    assert len(await published()) == 3


@pytest.mark.asyncio
async def test_fleet_reservations_and_unknown_drivers_go_to_the_operator(
    deliver, published, client: httpx.AsyncClient
) -> None:
    await deliver(a_reservation(reservation_id="fleet-1", driver_id=None, vehicle_id="van-3"))
    await deliver(a_schedule(a_charge(reservation_id="fleet-1"), a_charge(reservation_id="res-1", evse_id=2)))
    operator = (
        await client.get("/v1/notifications", params={"recipient": "operator"}, headers=operator_headers())
    ).json()
    assert sorted((n["reservation_id"], n["kind"]) for n in operator) == [
        ("fleet-1", "reservation.requested"),
        ("fleet-1", "reservation.scheduled"),
        ("res-1", "reservation.scheduled"),  # schedule.updated overtook reservation.created
    ]

    # When reservation.created finally arrives, the driver is told both.
    await deliver(a_reservation())
    driver = (await client.get("/v1/notifications", headers=driver_headers())).json()
    assert sorted(n["kind"] for n in driver) == ["reservation.requested", "reservation.scheduled"]
    assert [e.key for e in await published()].count("driver-7") == 2

    # The same reservation announced again is not acknowledged twice.
    await deliver(a_reservation())
    assert len((await client.get("/v1/notifications", headers=driver_headers())).json()) == 2
    everyone = (
        await client.get("/v1/notifications", params={"reservation_id": "res-1"}, headers=operator_headers())
    ).json()
    assert len(everyone) == 3
