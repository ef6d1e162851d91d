"""Handlers against a real database (SQLite and PostgreSQL), read back through the API."""

from __future__ import annotations

import csv
import io

import httpx
import pytest
from chargeyard_contracts.stations import ConnectorStatus, PhaseReading, ReadingContext, TransactionEventKind
from reporting_builders import a_meter_value, a_registration, a_status, a_topology, a_transaction_event, at


def energy_of(report: dict) -> dict[str, dict[str, int]]:
    return {site["site_id"]: {s["station_id"]: s["energy_wh"] for s in site["stations"]} for site in report["sites"]}


@pytest.mark.asyncio
async def test_energy_per_site_and_station_from_register_deltas(deliver, client: httpx.AsyncClient) -> None:
    await deliver(a_topology("site-a", "CP-1", "CP-2"))
    for minute, wh in [(0, 1_000), (15, 2_000), (30, 3_500)]:
        await deliver(a_meter_value(wh, minute, station_id="CP-1"))
    await deliver(a_meter_value(9_999, 20, station_id="CP-1", energy_context=ReadingContext.INTERVAL))
    # Two EVSEs of one station are two registers.
    await deliver(a_meter_value(500, 0, station_id="CP-2", evse_id=1))
    await deliver(a_meter_value(80_000, 0, station_id="CP-2", evse_id=2))
    await deliver(a_meter_value(700, 30, station_id="CP-2", evse_id=1))
    await deliver(a_meter_value(80_300, 30, station_id="CP-2", evse_id=2))

    response = await client.get("/v1/reports/energy")
    assert response.status_code == 200
    report = response.json()
    assert energy_of(report) == {"site-a": {"CP-1": 2_500, "CP-2": 500}}
    assert report["energy_wh"] == 3_000


@pytest.mark.asyncio
async def test_out_of_order_readings_and_meter_resets(deliver, client: httpx.AsyncClient) -> None:
    await deliver(a_meter_value(3_000, 30))
    await deliver(a_meter_value(1_000, 0))
    await deliver(a_meter_value(2_000, 15))  # slots in between: 1000 → 2000 → 3000
    await deliver(a_meter_value(2_000, 15))  # the same reading again
    await deliver(a_meter_value(10, 45))  # reset: nothing counted across it
    await deliver(a_meter_value(410, 60))
    report = (await client.get("/v1/reports/energy")).json()
    assert energy_of(report) == {"unassigned": {"CP-1": 2_400}}


@pytest.mark.asyncio
async def test_the_period_filter_counts_deltas_by_their_later_reading(deliver, client: httpx.AsyncClient) -> None:
    for minute, wh in [(0, 0), (30, 1_000), (60, 3_000), (90, 6_000)]:
        await deliver(a_meter_value(wh, minute))
    params = {"from": at(15).isoformat(), "to": at(60).isoformat()}
    report = (await client.get("/v1/reports/energy", params=params)).json()
    assert energy_of(report) == {"unassigned": {"CP-1": 1_000}}
    assert report["from"] == "2025-03-03T08:15:00Z" and report["to"] == "2025-03-03T09:00:00Z"
    params = {"from": at(30).isoformat(), "to": at(91).isoformat()}
    assert energy_of((await client.get("/v1/reports/energy", params=params)).json()) == {"unassigned": {"CP-1": 6_000}}


@pytest.mark.asyncio
async def test_topology_arriving_late_and_stations_moving(deliver, client: httpx.AsyncClient) -> None:
    await deliver(a_meter_value(0, 0, station_id="CP-1"))
    await deliver(a_meter_value(100, 10, station_id="CP-1"))
    await deliver(a_meter_value(0, 0, station_id="CP-2"))
    await deliver(a_meter_value(50, 10, station_id="CP-2"))
    assert energy_of((await client.get("/v1/reports/energy")).json()) == {"unassigned": {"CP-1": 100, "CP-2": 50}}

    await deliver(a_topology("site-a", "CP-1", "CP-2", minute=5))
    await deliver(a_topology("site-b", "CP-2", minute=6))  # CP-2 moves to site-b
    await deliver(a_topology("site-a", "CP-1", "CP-2", minute=1))  # stale: ignored
    await deliver(a_topology("site-a", "CP-1", minute=7))  # site-a lets CP-2 go; site-b keeps it
    assert energy_of((await client.get("/v1/reports/energy")).json()) == {
        "site-a": {"CP-1": 100},
        "site-b": {"CP-2": 50},
    }
    only_b = (await client.get("/v1/reports/energy", params={"site_id": "site-b"})).json()
    assert energy_of(only_b) == {"site-b": {"CP-2": 50}} and only_b["energy_wh"] == 50

    await deliver(a_topology("site-a", minute=8))  # CP-1 removed from every topology
    assert energy_of((await client.get("/v1/reports/energy")).json()) == {
        "site-a": {},
        "site-b": {"CP-2": 50},
        "unassigned": {"CP-1": 100},
    }


@pytest.mark.asyncio
async def test_transaction_meter_start_and_stop_count_as_register_readings(deliver, client: httpx.AsyncClient) -> None:
    await deliver(a_transaction_event(TransactionEventKind.STARTED, 0, meter_wh=5_000))
    await deliver(a_meter_value(5_000, 0, transaction_id="tx-1"))  # the same reading again
    await deliver(a_meter_value(6_000, 20, transaction_id="tx-1"))
    await deliver(a_transaction_event(TransactionEventKind.ENDED, 40, meter_wh=7_500))
    assert energy_of((await client.get("/v1/reports/energy")).json()) == {"unassigned": {"CP-1": 2_500}}


@pytest.mark.asyncio
async def test_energy_csv_export(deliver, client: httpx.AsyncClient) -> None:
    await deliver(a_topology("site-a", "CP-1"))
    await deliver(a_meter_value(0, 0))
    await deliver(a_meter_value(1_234, 10))
    await deliver(a_meter_value(0, 0, station_id="CP-7"))
    response = await client.get("/v1/reports/energy.csv", params={"from": at(0).isoformat()})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["site_id"], r["station_id"], r["energy_wh"]) for r in rows] == [
        ("site-a", "CP-1", "1234"),
        ("unassigned", "CP-7", "0"),
    ]
    assert rows[0]["from"] == "2025-03-03T08:00:00+00:00" and rows[0]["to"] == ""


@pytest.mark.asyncio
async def test_station_report_has_status_and_latest_power(deliver, client: httpx.AsyncClient) -> None:
    await deliver(a_registration("CP-1"))
    await deliver(a_topology("site-a", "CP-1", "CP-2"))
    await deliver(a_status(ConnectorStatus.CHARGING, 10))
    await deliver(a_status(ConnectorStatus.AVAILABLE, 5))  # older: ignored
    await deliver(a_status(ConnectorStatus.FAULTED, 12, evse_id=2, connector_id=1, error_code="GroundFailure"))
    await deliver(a_transaction_event(TransactionEventKind.STARTED, 9))
    await deliver(a_meter_value(None, 11, power_w=7_200))
    await deliver(a_meter_value(None, 8, power_w=11_000))  # older: ignored
    phases = (PhaseReading(phase="L1", power_w=1_000), PhaseReading(phase="L2", power_w=1_100))
    await deliver(a_meter_value(None, 11, evse_id=2, phases=phases))

    stations = {s["station_id"]: s for s in (await client.get("/v1/reports/stations")).json()}
    cp1 = stations["CP-1"]
    assert cp1["site_id"] == "site-a" and cp1["vendor"] == "Acme"
    assert cp1["power_w"] == 9_300 and cp1["power_at"] == "2025-03-03T08:11:00Z"
    assert [(c["evse_id"], c["status"], c["error_code"]) for c in cp1["connectors"]] == [
        (1, "Charging", None),
        (2, "Faulted", "GroundFailure"),
    ]
    assert cp1["active_transactions"] == ["tx-1"]
    assert stations["CP-2"]["power_w"] is None and stations["CP-2"]["connectors"] == []

    await deliver(a_transaction_event(TransactionEventKind.ENDED, 30))
    cp1 = (await client.get("/v1/reports/stations", params={"site_id": "site-a"})).json()[0]
    assert cp1["power_w"] == 2_100  # EVSE 1 stopped charging
    assert cp1["active_transactions"] == []


@pytest.mark.asyncio
async def test_an_empty_period_is_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/reports/energy", params={"from": at(10).isoformat(), "to": at(0).isoformat()})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    naive = await client.get("/v1/reports/energy", params={"from": "2025-03-03T08:00:00"})
    assert naive.status_code == 422
