"""Every report with its filters, as JSON and CSV; replays change nothing; and the read models
rebuilt from the retained topics on a real broker into an empty database give the same reports."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from chargeyard_contracts import StationRegistered, StationStatusChanged, TopologyUpdated, TransactionEventReported
from chargeyard_contracts.billing import ChargeDetailRecorded
from chargeyard_contracts.energy import GreenEnergyPublished, GreenInterval
from chargeyard_contracts.planning import StationPlacement
from chargeyard_contracts.registry import topic_of
from chargeyard_contracts.stations import (
    ConnectorStatus,
    MeterValuesReported,
    StationCapabilities,
    StationEventReported,
    TransactionEventKind,
)
from chargeyard_devstack.testing import ADMIN_HEADERS, FakeApiKeys, postgres_database, tansu
from chargeyard_platform.bus import ensure_topics, envelope_json
from chargeyard_platform.clock import FixedClock
from chargeyard_platform.runtime import create_app
from chargeyard_reporting.bootstrap import bootstrap
from chargeyard_reporting.config import Settings
from pydantic import BaseModel

T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
END = T0 + timedelta(hours=4)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def status(minute: float, s: ConnectorStatus, evse: int = 1, **more: Any) -> StationStatusChanged:
    return StationStatusChanged(
        station_id="CP-1", evse_id=evse, connector_id=0 if evse == 0 else 1, status=s,
        station_timestamp=at(minute), received_at=at(minute), **more,
    )  # fmt: skip


def meter(minute: float, wh: int) -> MeterValuesReported:
    return MeterValuesReported(
        station_id="CP-1", evse_id=1, transaction_id="tx-1", energy_wh=wh,
        station_timestamp=at(minute), received_at=at(minute),
    )  # fmt: skip


def a_day_of_events() -> list[BaseModel]:
    """One site, one station: a 2 h charge of 10 kWh, a 30 min fault, a CDR, a green forecast."""
    tx = {"station_id": "CP-1", "evse_id": 1, "transaction_id": "tx-1", "id_token": "RFID-1"}
    started = TransactionEventKind.STARTED, at(30), 1_000
    ended = TransactionEventKind.ENDED, at(150), 11_000
    return [
        TopologyUpdated(
            site_id="depot", time_zone="Europe/Berlin", grid_limit_w=50_000,
            stations=(StationPlacement(station_id="CP-1", circuit_id=None, max_power_w=11_000),), updated_at=at(-60),
        ),
        StationRegistered(
            station_id="CP-1", vendor="ACME", model="Wallbox 11", registered_at=at(-30),
            capabilities=StationCapabilities(ocpp_version="ocpp2.0.1"),
        ),
        status(0, ConnectorStatus.AVAILABLE),
        status(0, ConnectorStatus.AVAILABLE, evse=0),
        status(30, ConnectorStatus.OCCUPIED),
        *(
            TransactionEventReported(**tx, kind=kind, meter_wh=wh, station_timestamp=t, received_at=t)
            for kind, t, wh in (started,)
        ),
        meter(60, 4_000),
        meter(120, 9_000),
        *(
            TransactionEventReported(**tx, kind=kind, meter_wh=wh, station_timestamp=t, received_at=t)
            for kind, t, wh in (ended,)
        ),
        status(150, ConnectorStatus.AVAILABLE),
        status(180, ConnectorStatus.FAULTED, error_code="GroundFailure", vendor_error_code="ACME-E42"),
        status(210, ConnectorStatus.AVAILABLE),
        StationEventReported(
            station_id="CP-1", event_id=7, trigger="Alerting", event_notification_type="HardWiredNotification",
            component="ChargingStation", variable="Problem", actual_value="true", tech_code="ACME-T9",
            station_timestamp=at(181), received_at=at(181),
        ),
        ChargeDetailRecorded(
            cdr_id="CDR-tx-1", version=1, transaction_id="tx-1", station_id="CP-1", evse_id=1, connector_id=1,
            site_id="depot", driver_id="driver-7", vehicle_id="B-CY-7", tenant_id="acme", tariff_id="mixed",
            started_at=at(30), stopped_at=at(150), energy_wh=10_000, status="priced", currency="EUR",
            total_excl_vat="3.00", total_vat="0.57", total_incl_vat="3.57", recorded_at=at(151),
        ),
        GreenEnergyPublished(
            site_id="depot", forecast=True, published_at=at(-120),
            intervals=(GreenInterval(start=T0, end=at(120), renewable_share=0.5),),
        ),
    ]  # fmt: skip


REPORTS = ["energy-delivered", "sessions", "utilisation", "availability", "co2", "green-share", "events"]


async def all_reports(client: httpx.AsyncClient) -> dict[str, Any]:
    window = {"from": T0.isoformat(), "to": END.isoformat()}
    answers = {}
    for name in REPORTS:
        response = await client.get(f"/v1/reports/{name}", params=window)
        assert response.status_code == 200, (name, response.text)
        answers[name] = response.json()
        csv_answer = await client.get(f"/v1/reports/{name}", params={**window, "format": "csv"})
        assert csv_answer.status_code == 200 and csv_answer.headers["content-type"].startswith("text/csv")
        answers[f"{name}.csv"] = csv_answer.text
    return answers


@pytest.mark.asyncio
async def test_every_report_from_one_day_at_a_depot(deliver, client: httpx.AsyncClient) -> None:
    for event in a_day_of_events():
        await deliver(event)
    r = await all_reports(client)

    assert r["energy-delivered"]["energy_wh"] == 10_000
    assert r["energy-delivered"]["rows"] == [{"site_id": "depot", "station_id": "CP-1", "energy_wh": 10_000}]
    sessions = r["sessions"]
    assert (sessions["count"], sessions["average_duration_min"], sessions["average_cost_gross"]) == (1, 120.0, "3.57")
    assert sessions["rows"][0]["vehicle_id"] == "B-CY-7"
    # 4 h window: occupied 30 → 150 min = 2 h; charging is not reported apart on 2.0.1 (Occupied).
    [connector] = r["utilisation"]["rows"]
    assert (connector["known_s"], connector["in_use_s"], connector["utilisation"]) == (14_400, 7_200, 0.5)
    [station] = r["availability"]["rows"]
    assert station["availability"] == 0.875  # faulted 30 of 240 minutes
    co2 = r["co2"]
    # 10 kWh at 18 kWh/100 km = 55.556 km × 164 g = 9.111 kg; grid 10 × 380 g = 3.8 kg.
    assert co2["rows"][0]["km_equivalent"] == 55.556 and co2["avoided_kg"] == 5.311
    green = r["green-share"]
    # 3,000 Wh at 60 min and 5,000 Wh at 120 min... only readings before 120 min are covered (50 %).
    assert (green["energy_wh"], green["rows"][0]["covered_wh"], green["green_share"]) == (10_000, 3_000, 0.5)
    kinds = [(e["kind"], e["error_code"], e["vendor_error_code"]) for e in r["events"]["rows"]]
    assert ("status", "GroundFailure", "ACME-E42") in kinds and ("device_event", None, "ACME-T9") in kinds
    assert r["events"]["rows"][0]["vendor"] == "ACME"
    assert r["sessions.csv"].split("\r\n")[0].startswith("transaction_id,site_id,station_id")
    assert "GroundFailure" in r["events.csv"]

    by_vehicle = (await client.get("/v1/reports/energy-delivered", params={"vehicle_id": "B-CY-7"})).json()
    assert by_vehicle["energy_wh"] == 10_000 and "billing.cdr" in by_vehicle["source"]
    other_tenant = (await client.get("/v1/reports/sessions", params={"tenant_id": "other"})).json()
    assert other_tenant["count"] == 0
    other_site = (await client.get("/v1/reports/utilisation", params={"site_id": "elsewhere"})).json()
    assert other_site["rows"] == []
    diesel = (await client.get("/v1/reports/co2", params={"reference": "diesel", "grid_g_co2_per_kwh": 0})).json()
    assert diesel["avoided_kg"] == round(55.556 * 156 / 1000, 3)


@pytest.mark.asyncio
async def test_filters_that_do_not_apply_are_named(client: httpx.AsyncClient) -> None:
    wrong = await client.get("/v1/reports/availability", params={"driver_id": "d"})
    assert wrong.status_code == 422 and "driver_id" in wrong.json()["detail"]
    bad_format = await client.get("/v1/reports/sessions", params={"format": "xml"})
    assert bad_format.status_code == 422
    empty = await client.get("/v1/reports/sessions", params={"from": END.isoformat(), "to": T0.isoformat()})
    assert empty.status_code == 422 and empty.json()["title"] == "Empty period"


@pytest.mark.asyncio
async def test_replaying_the_same_events_twice_changes_no_report(deliver, client: httpx.AsyncClient) -> None:
    events = a_day_of_events()
    for event in events:
        await deliver(event)
    once = await all_reports(client)
    for event in events + list(reversed(events)):  # twice more, the second time in reverse order
        await deliver(event)
    assert await all_reports(client) == once


@pytest.mark.integration
@pytest.mark.parametrize("db", ["postgres"], indirect=True)  # the broker part is the point; once is enough
@pytest.mark.asyncio
async def test_read_models_rebuild_from_the_retained_topics_into_an_empty_database(
    deliver, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    events = a_day_of_events()
    for event in events:
        await deliver(event)
    expected = await all_reports(client)

    with tansu(tmp_path) as broker:
        await ensure_topics(broker.bootstrap)
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
        await producer.start()
        try:
            for event in events:
                t = topic_of(type(event))
                source = min(t.publishers)
                await producer.send_and_wait(
                    t.name, envelope_json(event, source=source, occurred_at=T0), key=t.key_of(event).encode()
                )
        finally:
            await producer.stop()
        async with postgres_database("cy_reporting_rebuild") as url:
            settings = Settings(
                database_url=url,
                kafka_bootstrap_servers=broker.bootstrap,  # type: ignore[call-arg]
                kafka_group_id=f"reporting-rebuild-{uuid.uuid4().hex[:6]}",
            )
            runtime = bootstrap(settings, clock=FixedClock(END), api_keys=FakeApiKeys())
            app = create_app(runtime)
            await runtime.start()
            try:
                async with httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://r", headers=ADMIN_HEADERS
                ) as rebuilt:
                    deadline = time.monotonic() + 60
                    while (got := await all_reports(rebuilt)) != expected:
                        assert time.monotonic() < deadline, f"the rebuilt reports differ: {got}"
                        await asyncio.sleep(0.5)
            finally:
                await runtime.stop()
