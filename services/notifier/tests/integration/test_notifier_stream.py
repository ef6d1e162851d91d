"""The push stream over a real HTTP server: live events, and a reconnect with Last-Event-ID."""

from __future__ import annotations

import httpx
import pytest
from notifier_builders import (
    EventReader,
    a_charge,
    a_reservation,
    a_schedule,
    a_status,
    an_update,
    at,
    driver_headers,
    operator_headers,
    serving,
)

from conftest import app_for


@pytest.mark.asyncio
async def test_a_driver_gets_their_notifications_live_and_what_they_missed(deliver, db, clock, directory) -> None:
    await deliver(a_reservation())
    await deliver(a_reservation(reservation_id="res-8", driver_id="driver-8"))  # someone else's
    await deliver(a_schedule(a_charge()))
    async with serving(app_for(db, clock, directory)) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        async with http.stream("GET", "/v1/stream", headers=driver_headers()) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            events = EventReader(stream)
            first = await events.next(2)
            assert [e["event"] for e in first] == ["reservation.requested", "reservation.scheduled"]
            assert all(e["data"]["reservation_id"] == "res-1" for e in first)
            await deliver(an_update("charging", updated_at=at(1)))  # while the app listens
            [live] = await events.next(1)
            assert live["event"] == "charging.started"

        # Offline for a while: two more happen; the app reconnects with the last id it saw.
        await deliver(an_update("charging", updated_at=at(3), delivered_wh=30_000))
        await deliver(an_update("completed", updated_at=at(3.5), delivered_wh=30_000))
        headers = driver_headers() | {"Last-Event-ID": live["id"]}
        async with http.stream("GET", "/v1/stream", headers=headers) as stream:
            missed = await EventReader(stream).next(2)
        assert [e["event"] for e in missed] == ["charging.energy_reached", "charging.completed"]
        assert int(missed[0]["id"]) > int(live["id"])

        bad = await http.get("/v1/stream", headers=driver_headers() | {"Last-Event-ID": "yesterday"})
        assert bad.status_code == 400 and "Last-Event-ID" in bad.json()["detail"]
        assert (await http.get("/v1/stream")).status_code == 401
        assert (await http.get("/v1/operator/stream", headers=driver_headers())).status_code == 403


@pytest.mark.asyncio
async def test_the_back_office_feed_carries_station_alerts(deliver, db, clock, directory) -> None:
    await deliver(a_status("Faulted", error_code="GroundFailure"))
    async with serving(app_for(db, clock, directory)) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        token = operator_headers()["Authorization"].removeprefix("Bearer ")
        # EventSource cannot send headers: the token may come as a query parameter.
        async with http.stream("GET", "/v1/operator/stream", params={"access_token": token}) as stream:
            [alert] = await EventReader(stream).next(1)
    assert alert["event"] == "alert.station_faulted"
    assert alert["data"]["data"]["error_code"] == "GroundFailure"
