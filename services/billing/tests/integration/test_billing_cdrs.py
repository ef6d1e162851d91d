"""From events to a priced CDR, statements and replays, on SQLite and PostgreSQL through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from billing_builders import a_meter_value, a_transaction_event
from chargeyard_contracts import TokensUpdated, TopologyUpdated
from chargeyard_contracts.planning import StationPlacement, TokenEntry
from chargeyard_contracts.stations import ConnectorStatus, SignedMeterValue, StationStatusChanged, TransactionEventKind
from chargeyard_platform.db import Database, outbox_table
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

STARTED, ENDED = TransactionEventKind.STARTED, TransactionEventKind.ENDED
# Example A: 2026-03-10 21:30 Berlin (UTC+1) = 20:30 UTC.
T_A = datetime(2026, 3, 10, 20, 30, tzinfo=UTC)

MIXED = {
    "currency": "EUR",
    "vat_rate": "0.19",
    "session_fee": "0.50",
    "energy": [{"starts": "06:00", "price_per_kwh": "0.30"}, {"starts": "22:00", "price_per_kwh": "0.20"}],
}


def example_a_events() -> list:
    topology = TopologyUpdated(
        site_id="site-berlin",
        time_zone="Europe/Berlin",
        grid_limit_w=50_000,
        stations=(StationPlacement(station_id="CP-1", circuit_id=None, max_power_w=11_000),),
        updated_at=T_A - timedelta(days=1),
    )
    tokens = TokensUpdated(version=1, tokens=(TokenEntry(id_token="RFID-1", driver_id="driver-7"),))
    sign = SignedMeterValue(
        format="OCMF", data='OCMF|{"FV":"1.0","RD":[{"TM":"x","TX":"E","RV":25,"RU":"kWh"}]}|{"SD":"00"}'
    )
    return [
        topology,
        tokens,
        a_transaction_event(STARTED, 0, meter_wh=12_000, station_timestamp=T_A, received_at=T_A),
        a_meter_value(17_500, 0, station_timestamp=T_A + timedelta(minutes=30), received_at=T_A),
        a_meter_value(25_000, 0, signed=sign, station_timestamp=T_A + timedelta(minutes=90), received_at=T_A),
        a_transaction_event(ENDED, 0, meter_wh=25_000, station_timestamp=T_A + timedelta(minutes=90), received_at=T_A),
    ]


async def cdr_events(db: Database) -> int:
    async with db.sessions() as s:
        query = sa.select(sa.func.count()).select_from(outbox_table).where(outbox_table.c.topic == "billing.cdr")
        return int((await s.execute(query)).scalar_one())


@pytest.mark.asyncio
async def test_example_a_from_events_to_an_ocpi_cdr_and_statements(deliver, client: httpx.AsyncClient, db) -> None:
    assert (await client.put("/v1/tariffs/mixed", json=MIXED)).status_code == 201
    put = await client.put("/v1/accounts/driver-7", json={"cost_centre": "CC-42", "vehicle_id": "B-CY-7"})
    assert put.status_code == 200
    for event in example_a_events():
        await deliver(event)

    record = (await client.get("/v1/cdrs/CDR-tx-1")).json()
    assert record["status"] == "priced", record["anomalies"]
    assert (record["net"], record["vat"], record["gross"]) == ("3.65", "0.69", "4.34")
    assert (record["driver_id"], record["cost_centre"], record["vehicle_id"]) == ("driver-7", "CC-42", "B-CY-7")
    assert record["signed_checks"][0]["nature"] == "End"
    assert record["signed_checks"][0]["structure_ok"] is True
    assert record["signed_checks"][0]["value_matches"] is True
    assert record["signed_checks"][0]["signature"] == "unchecked"  # no public key was sent
    cdr = record["cdr"]
    assert cdr["total_cost"] == {"excl_vat": "3.65", "incl_vat": "4.34"}
    assert cdr["total_energy"] == "13"
    assert cdr["currency"] == "EUR" and cdr["cdr_location"]["id"] == "site-berlin"
    energy = [p for p in cdr["charging_periods"] if p["dimensions"][0]["type"] == "ENERGY"]
    assert [p["dimensions"][0]["volume"] for p in energy] == ["5.5", "7.5"]
    assert cdr["signed_data"]["signed_values"][0]["nature"] == "End"
    assert await cdr_events(db) == 1

    csv_text = (await client.get("/v1/statements/cost-centre/CC-42/2026-03", params={"format": "csv"})).text
    rows = csv_text.strip().split("\r\n")
    assert rows[0].startswith("cdr_id,") and rows[1].startswith("CDR-tx-1,")
    assert rows[-1].endswith(",3.65,0.69,4.34")
    pdf = await client.get("/v1/statements/user/driver-7/2026-03", params={"format": "pdf"})
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")
    vehicle = (await client.get("/v1/statements/vehicle/B-CY-7/2026-03")).json()
    assert vehicle["gross"] == "4.34" and len(vehicle["lines"]) == 1
    assert (await client.get("/v1/statements/vehicle/B-CY-7/2026-04")).json()["lines"] == []


@pytest.mark.asyncio
async def test_replaying_every_event_twice_changes_no_bill(deliver, client: httpx.AsyncClient, db) -> None:
    await client.put("/v1/tariffs/mixed", json=MIXED)
    events = example_a_events()
    for event in events:
        await deliver(event)
    first = (await client.get("/v1/cdrs/CDR-tx-1")).json()
    # The same events again (as a replay from offset 0 publishes them: new envelopes, same content).
    for event in events + events:
        await deliver(event)
    again = (await client.get("/v1/cdrs/CDR-tx-1")).json()
    assert again == first
    assert again["version"] == 1
    assert await cdr_events(db) == 1


@pytest.mark.asyncio
async def test_the_idle_fee_starts_when_the_car_reports_full(deliver, client: httpx.AsyncClient) -> None:
    body = {"currency": "EUR", "vat_rate": "0.19", "energy": [{"starts": "00:00", "price_per_kwh": "0.35"}],
            "idle": {"price_per_minute": "0.10", "free_minutes": 10}}  # fmt: skip
    await client.put("/v1/tariffs/idle", json=body)
    t0 = datetime(2026, 3, 10, 8, tzinfo=UTC)
    full = t0 + timedelta(hours=2, minutes=12)
    await deliver(a_transaction_event(STARTED, 0, meter_wh=0, station_timestamp=t0))
    await deliver(a_meter_value(22_400, 0, station_timestamp=full))
    status = StationStatusChanged(
        station_id="CP-1", evse_id=1, connector_id=1, status=ConnectorStatus.SUSPENDED_EV,
        station_timestamp=full, received_at=full,
    )  # fmt: skip
    await deliver(status)
    await deliver(a_transaction_event(ENDED, 0, meter_wh=22_400, station_timestamp=t0 + timedelta(hours=3, minutes=40)))
    record = (await client.get("/v1/cdrs/CDR-tx-1")).json()
    assert (record["net"], record["vat"], record["gross"]) == ("15.64", "2.97", "18.61")
    assert record["cdr"]["total_parking_cost"]["excl_vat"] == "7.80"


@pytest.mark.asyncio
async def test_a_session_with_bad_readings_is_flagged_and_stays_off_statements(
    deliver, client: httpx.AsyncClient
) -> None:
    await client.put("/v1/tariffs/flat", json={**MIXED, "energy": [{"starts": "00:00", "price_per_kwh": "0.25"}]})
    await deliver(a_transaction_event(STARTED, 0, meter_wh=100_000))
    await deliver(a_meter_value(90_000, 10))
    await deliver(a_transaction_event(ENDED, 20, meter_wh=106_000))
    record = (await client.get("/v1/cdrs/CDR-tx-1")).json()
    assert record["status"] == "flagged" and record["gross"] is None and record["cdr"] is None
    assert any(a.startswith("register_backwards") for a in record["anomalies"])
    flagged = (await client.get("/v1/cdrs", params={"status": "flagged"})).json()
    assert [c["cdr_id"] for c in flagged] == ["CDR-tx-1"]


@pytest.mark.asyncio
async def test_bad_tariffs_and_statement_requests_are_4xx_naming_the_field(client: httpx.AsyncClient) -> None:
    bad = await client.put("/v1/tariffs/x", json={**MIXED, "vat_rate": "19"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "vat_rate"
    unknown_field = await client.put("/v1/tariffs/x", json={**MIXED, "extra": 1})
    assert unknown_field.status_code == 422
    month = await client.get("/v1/statements/user/u/2026-13")
    assert month.status_code == 422 and "2026-03" in month.json()["detail"]
    assert (await client.get("/v1/cdrs/none")).status_code == 404


@pytest.mark.asyncio
async def test_a_tenant_tariff_and_a_verified_signature(deliver, client: httpx.AsyncClient) -> None:
    await client.put("/v1/tariffs/everyone", json={**MIXED, "energy": [{"starts": "00:00", "price_per_kwh": "0.50"}]})
    acme = {
        "currency": "EUR",
        "vat_rate": "0.19",
        "energy": [{"starts": "00:00", "price_per_kwh": "0.25"}],
        "tenant_id": "acme",
    }
    await client.put("/v1/tariffs/acme", json=acme)
    await client.put("/v1/accounts/driver-7", json={"tenant_id": "acme"})
    key = ec.generate_private_key(ec.SECP256R1())
    payload = '{"FV":"1.0","RD":[{"TM":"2026-03-10T09:00:00,000+0000 S","TX":"E","RV":"106.000","RU":"kWh"}]}'
    sd = key.sign(payload.encode(), ec.ECDSA(hashes.SHA256())).hex()
    public = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo).hex()
    signed = SignedMeterValue(format="OCMF", data=f'OCMF|{payload}|{{"SD":"{sd}"}}', public_key=public)
    t0 = datetime(2026, 3, 10, 8, tzinfo=UTC)
    await deliver(TokensUpdated(version=1, tokens=(TokenEntry(id_token="RFID-1", driver_id="driver-7"),)))
    await deliver(a_transaction_event(STARTED, 0, meter_wh=100_000, station_timestamp=t0))
    await deliver(a_meter_value(106_000, 0, signed=signed, station_timestamp=t0 + timedelta(hours=1)))
    await deliver(a_transaction_event(ENDED, 0, meter_wh=106_000, station_timestamp=t0 + timedelta(hours=1)))
    record = (await client.get("/v1/cdrs/CDR-tx-1")).json()
    assert record["tariff_id"] == "acme" and record["tenant_id"] == "acme"
    assert (record["net"], record["vat"], record["gross"]) == ("1.50", "0.29", "1.79")  # example C
    [end] = record["signed_checks"]
    assert (end["nature"], end["value_matches"], end["signature"]) == ("End", True, "valid")
    assert record["cdr"]["signed_data"]["signed_values"][0]["signed_data"] == signed.data
