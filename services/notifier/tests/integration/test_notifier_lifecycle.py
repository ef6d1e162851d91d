"""What drivers and operators are told along a reservation's life, against a real database."""

from __future__ import annotations

import httpx
import pytest
from chargeyard_contracts.stations import FirmwareStatusChanged
from notifier_builders import (
    a_charge,
    a_conflict,
    a_reservation,
    a_schedule,
    a_status,
    a_token,
    an_update,
    at,
    driver_headers,
    operator_headers,
)


async def kinds_of(client: httpx.AsyncClient, headers: dict[str, str], **params: str) -> list[str]:
    response = await client.get("/v1/notifications", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return sorted(n["kind"] for n in response.json())


@pytest.mark.asyncio
async def test_each_status_of_a_charge_is_told_once(deliver, client: httpx.AsyncClient) -> None:
    await deliver(a_reservation())
    await deliver(an_update("waitlisted", updated_at=at(0.1), assigned_station_id=None, assigned_evse_id=None))
    await deliver(an_update("scheduled", updated_at=at(0.2)))  # off the waiting list
    await deliver(an_update("scheduled", updated_at=at(0.3), changes=("planned_start",)))  # no new status
    await deliver(an_update("arrived", updated_at=at(0.9)))
    await deliver(an_update("charging", updated_at=at(1.0)))
    await deliver(an_update("charging", updated_at=at(2.0), delivered_wh=12_000, changes=("delivered_wh",)))
    await deliver(an_update("charging", updated_at=at(3.0), delivered_wh=30_000, changes=("delivered_wh",)))
    await deliver(an_update("charging", updated_at=at(3.1), delivered_wh=30_400, changes=("delivered_wh",)))
    await deliver(an_update("completed", updated_at=at(3.5), delivered_wh=30_400))

    assert await kinds_of(client, driver_headers()) == sorted(
        [
            "reservation.requested",
            "reservation.waitlisted",
            "reservation.promoted",
            "charging.started",
            "charging.energy_reached",
            "charging.completed",
        ]
    )
    [done] = (
        await client.get("/v1/notifications", params={"kind": "charging.completed"}, headers=driver_headers())
    ).json()
    assert done["subject"] == "Reservation res-1: charging complete: 30.4 kWh delivered"


@pytest.mark.asyncio
async def test_a_conflict_offers_the_two_choices(deliver, client: httpx.AsyncClient) -> None:
    await deliver(a_reservation())
    await deliver(a_schedule(a_charge()))  # the site's time zone: Europe/Berlin
    await deliver(a_conflict())
    await deliver(an_update("conflict", updated_at=at(0.25)))
    [offer] = (
        await client.get("/v1/notifications", params={"kind": "reservation.conflict"}, headers=driver_headers())
    ).json()
    assert [c["choice"] for c in offer["data"]["choices"]] == ["full_charge_later", "less_charge_on_time"]
    # 19:00 UTC is 20:00 in Berlin in March; 17:00 UTC is 18:00.
    assert [c["label"] for c in offer["data"]["choices"]] == [
        "Full charge, later: 30.0 kWh by 2025-03-03 20:00 Europe/Berlin",
        "Less charge, on time: 18.0 kWh by 2025-03-03 18:00 Europe/Berlin",
    ]
    assert offer["data"]["decision_path"] == "/v1/reservations/res-1/decision"


@pytest.mark.asyncio
async def test_a_no_show_is_told(deliver, client: httpx.AsyncClient) -> None:
    await deliver(a_reservation())
    await deliver(an_update("scheduled", updated_at=at(0.1)))
    await deliver(an_update("no_show", updated_at=at(0.3)))
    assert "reservation.no_show" in await kinds_of(client, driver_headers())


@pytest.mark.asyncio
async def test_a_fault_alerts_operators_once_and_tells_the_drivers_on_that_station(
    deliver, client: httpx.AsyncClient
) -> None:
    await deliver(a_reservation())
    await deliver(an_update("scheduled", updated_at=at(0.1)))
    await deliver(a_reservation(reservation_id="res-2", driver_id="driver-8"))
    await deliver(an_update("completed", reservation_id="res-2", driver_id="driver-8", updated_at=at(0.2)))
    await deliver(a_status("Charging", received_at=at(0.5)))
    await deliver(a_status("Faulted", error_code="GroundFailure", vendor_error_code="E042", received_at=at(0.7)))
    await deliver(a_status("Faulted", error_code="GroundFailure", received_at=at(0.8)))  # a repeat
    await deliver(a_status("Offline", evse_id=0, connector_id=0, received_at=at(0.9)))

    alerts = (
        await client.get("/v1/notifications", params={"recipient": "operator"}, headers=operator_headers())
    ).json()
    assert sorted((a["kind"], a["subject"]) for a in alerts) == [
        ("alert.station_faulted", "Station CP-1 EVSE 1 is faulted (GroundFailure, E042)"),
        ("alert.station_offline", "Station CP-1 is offline"),
    ]
    driver = await kinds_of(client, driver_headers())
    assert driver.count("reservation.station_fault") == 2  # faulted, then the whole station offline
    assert "reservation.station_fault" not in await kinds_of(client, driver_headers("user-8"))  # already done

    # Operator alerts go by e-mail to every operator address; drivers' e-mails wait for the dispatcher.
    deliveries = (await client.get("/v1/deliveries", params={"channel": "email"}, headers=operator_headers())).json()
    alert_mails = sorted(d["target"] for d in deliveries if d["kind"].startswith("alert."))
    assert alert_mails == sorted(["ops@example.com", "oncall@example.com"] * 2)
    assert {d["status"] for d in deliveries} == {"pending"}


@pytest.mark.asyncio
async def test_a_failed_firmware_update_alerts_operators(deliver, client: httpx.AsyncClient) -> None:
    received = at(1)
    await deliver(FirmwareStatusChanged(station_id="CP-1", status="Downloading", received_at=received))
    await deliver(FirmwareStatusChanged(station_id="CP-1", status="InstallationFailed", received_at=received))
    assert await kinds_of(client, operator_headers(), recipient="operator") == ["alert.firmware_failed"]


@pytest.mark.asyncio
async def test_preferences_choose_the_channels(deliver, client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/preferences", headers=driver_headers())).json() == [
        {"channel": "push", "enabled": True},
        {"channel": "email", "enabled": True},
    ]
    response = await client.put("/v1/preferences/email", json={"enabled": False}, headers=driver_headers())
    assert response.status_code == 200, response.text
    await deliver(a_reservation())
    [delivery] = (await client.get("/v1/deliveries", headers=driver_headers())).json()
    assert (delivery["channel"], delivery["target"], delivery["status"]) == ("push", "driver-7", "sent")

    bad = await client.put("/v1/preferences/webhook", json={"enabled": False}, headers=driver_headers())
    assert bad.status_code == 422 and "POST /v1/webhooks" in bad.json()["detail"]
    bad = await client.put("/v1/preferences/sms", json={"enabled": False}, headers=driver_headers())
    assert bad.status_code == 422 and "channel" in bad.json()["detail"]


@pytest.mark.asyncio
async def test_who_may_read_what(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/notifications")).status_code == 401
    expired = {"Authorization": "Bearer " + a_token(expires=at(-1))}
    response = await client.get("/v1/notifications", headers=expired)
    assert response.status_code == 401 and "expired" in response.json()["detail"]
    forged = {"Authorization": "Bearer " + a_token(secret="another-key" * 4)}
    assert (await client.get("/v1/notifications", headers=forged)).status_code == 401
    response = await client.get("/v1/notifications", params={"recipient": "driver-8"}, headers=driver_headers())
    assert response.status_code == 403
    assert (
        await client.get("/v1/notifications", headers={"Authorization": "Bearer cy_admin-key-for-tests"})
    ).status_code == 200
    assert (await client.get("/v1/notifications", headers={"Authorization": "Bearer cy_wrong"})).status_code == 401
