"""Handlers against a real database (SQLite and PostgreSQL), read back through the API."""

from __future__ import annotations

import httpx
import pytest
from billing_builders import a_meter_value, a_signature, a_transaction_event
from chargeyard_contracts.stations import ReadingContext, TransactionEventKind

STARTED, UPDATED, ENDED = TransactionEventKind.STARTED, TransactionEventKind.UPDATED, TransactionEventKind.ENDED


@pytest.mark.asyncio
async def test_a_session_from_start_to_end(deliver, client: httpx.AsyncClient) -> None:
    await deliver(a_transaction_event(STARTED, 0, meter_wh=10_000))
    await deliver(a_meter_value(10_000, 0, signed=a_signature("begin")))
    await deliver(a_meter_value(12_500, 15))
    await deliver(a_meter_value(400, 20, energy_context=ReadingContext.INTERVAL))  # not a register
    active = (await client.get("/v1/sessions/tx-1")).json()
    assert active["status"] == "active"
    assert active["energy_wh"] == 2_500
    assert active["stop_register_wh"] == 12_500

    await deliver(a_transaction_event(ENDED, 60, meter_wh=17_000, reason="EVDisconnected"))
    response = await client.get("/v1/sessions/tx-1")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "completed"
    assert body["start_register_wh"] == 10_000 and body["stop_register_wh"] == 17_000
    assert body["energy_wh"] == 7_000
    assert body["id_token"] == "RFID-1"
    assert body["started_at"] == "2025-03-03T08:00:00Z"
    assert body["stopped_at"] == "2025-03-03T09:00:00Z"
    assert body["start_signed"]["data"] == "begin"
    assert body["stop_signed"] is None
    assert body["stop_reason"] == "EVDisconnected"


@pytest.mark.asyncio
async def test_meter_values_before_the_start_create_the_session_lazily(deliver, client: httpx.AsyncClient) -> None:
    await deliver(a_meter_value(2_000, 10))
    await deliver(a_meter_value(3_000, 20, signed=a_signature("latest")))
    lazy = (await client.get("/v1/sessions/tx-1")).json()
    assert lazy["status"] == "active" and lazy["started_at"] is None and lazy["id_token"] is None
    assert lazy["energy_wh"] == 1_000
    assert lazy["stop_signed"]["data"] == "latest"

    await deliver(a_transaction_event(STARTED, 0, meter_wh=1_500))
    await deliver(a_transaction_event(UPDATED, 25, meter_wh=3_200, id_token=None))
    body = (await client.get("/v1/sessions/tx-1")).json()
    assert body["start_register_wh"] == 1_500
    assert body["energy_wh"] == 1_700
    assert body["id_token"] == "RFID-1"


@pytest.mark.asyncio
async def test_readings_after_the_end_do_not_change_the_bill(deliver, client: httpx.AsyncClient) -> None:
    await deliver(a_transaction_event(STARTED, 0, meter_wh=0))
    await deliver(a_transaction_event(ENDED, 30, meter_wh=5_000))
    await deliver(a_meter_value(5_600, 40))
    await deliver(a_meter_value(4_000, 20))
    assert (await client.get("/v1/sessions/tx-1")).json()["energy_wh"] == 5_000


@pytest.mark.asyncio
async def test_a_register_going_backwards_is_flagged(deliver, client: httpx.AsyncClient) -> None:
    await deliver(a_transaction_event(STARTED, 0, meter_wh=90_000))
    await deliver(a_transaction_event(ENDED, 30, meter_wh=20))
    body = (await client.get("/v1/sessions/tx-1")).json()
    assert body["energy_wh"] is None
    assert "backwards" in body["anomaly"]


@pytest.mark.asyncio
async def test_listing_filters_by_station_and_status(deliver, client: httpx.AsyncClient) -> None:
    await deliver(a_transaction_event(STARTED, 0, transaction_id="a", station_id="CP-1"))
    await deliver(a_transaction_event(STARTED, 0, transaction_id="b", station_id="CP-2"))
    await deliver(a_transaction_event(ENDED, 5, transaction_id="b", station_id="CP-2"))
    await deliver(a_meter_value(100, 1, transaction_id=None))  # outside a transaction: no session

    everything = (await client.get("/v1/sessions")).json()
    assert sorted(s["transaction_id"] for s in everything) == ["a", "b"]
    cp2 = (await client.get("/v1/sessions", params={"station_id": "CP-2"})).json()
    assert [s["transaction_id"] for s in cp2] == ["b"]
    active = (await client.get("/v1/sessions", params={"status": "active"})).json()
    assert [s["transaction_id"] for s in active] == ["a"]


@pytest.mark.asyncio
async def test_errors_are_problem_details(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v1/sessions/nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["title"] == "Session not found"
    bad = await client.get("/v1/sessions", params={"status": "paid"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "query.status"
