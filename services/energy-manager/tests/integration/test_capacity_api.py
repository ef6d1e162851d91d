"""The energy manager against a real Tansu broker and a real PostgreSQL database: the topology,
groups and third-party API, and the same capacity profile arriving through Kafka."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from chargeyard_contracts import Envelope, StationCommandIssued, decode
from chargeyard_contracts.energy import CapacityProfileRequested, PriorityRequested, ProfileInterval
from chargeyard_platform.bus import envelope_json
from chargeyard_platform.runtime import Runtime

pytestmark = pytest.mark.integration
Energy = tuple[httpx.AsyncClient, Runtime, str]
"""The `energy` fixture (conftest.py): client, runtime, broker address."""


async def a_site_with_a_group(client: httpx.AsyncClient) -> str:
    r = await client.put(
        "/v1/sites/depot", json={"name": "Depot", "time_zone": "Europe/Berlin", "grid_limit_w": 40_000}
    )
    assert r.status_code == 200, r.text
    for n in (1, 2):
        r = await client.put(f"/v1/sites/depot/stations/CP-{n}", json={"max_power_w": 11_000})
        assert r.status_code == 200, r.text
    r = await client.put(
        "/v1/groups/g1",
        json={"name": "Depot", "evses": [{"station_id": "CP-1", "evse_id": 1}, {"station_id": "CP-2", "evse_id": 1}]},
    )
    assert r.status_code == 200, r.text
    r = await client.post("/v1/parties", json={"name": "DSO", "role": "dso", "group_ids": ["g1"]})
    assert r.status_code == 201, r.text
    return str(r.json()["api_key"])


def intervals(runtime: Runtime, *values: float, minutes: int = 15) -> list[dict[str, Any]]:
    t0 = runtime.clock.now().replace(microsecond=0)
    return [
        {
            "start": (t0 + timedelta(minutes=minutes * k)).isoformat(),
            "end": (t0 + timedelta(minutes=minutes * (k + 1))).isoformat(),
            "value": v,
        }
        for k, v in enumerate(values)
    ]


@pytest.mark.asyncio
async def test_topology_is_validated_with_clear_errors(energy: Energy) -> None:
    client, _, _ = energy
    await a_site_with_a_group(client)
    r = await client.put("/v1/sites/depot/circuits/c1", json={"parent_id": "nowhere", "limit_a": 32})
    assert r.status_code == 422 and "nowhere" in r.json()["detail"], r.text
    r = await client.put("/v1/sites/depot/circuits/c1", json={"limit_a": -5})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "limit_a", r.text
    assert (await client.put("/v1/sites/depot/circuits/board", json={"limit_w": 30_000})).status_code == 200
    r = await client.put("/v1/sites/depot/circuits/c1", json={"parent_id": "board", "limit_a": 16})
    assert r.status_code == 200, r.text
    r = await client.put("/v1/sites/depot/circuits/board", json={"parent_id": "c1", "limit_w": 30_000})
    assert r.status_code == 422 and "loop" in r.json()["title"].lower(), r.text
    r = await client.put("/v1/sites/depot/stations/CP-1", json={"max_power_w": 11_000, "circuit_id": "c9"})
    assert r.status_code == 422 and "c9" in r.json()["detail"], r.text
    r = await client.put(
        "/v1/sites/depot/stations/CP-1", json={"max_power_w": 11_000, "circuit_id": "c1", "phase_rotation": "STR"}
    )
    assert r.status_code == 200, r.text
    topology = r.json()
    assert {c["circuit_id"] for c in topology["circuits"]} == {"board", "c1"}
    assert [(s["circuit_id"], s["phase_rotation"]) for s in topology["stations"] if s["station_id"] == "CP-1"] == [
        ("c1", "STR")
    ]
    r = await client.put("/v1/sites/other", json={"name": "Other", "time_zone": "Europe/Berlin", "grid_limit_w": 1})
    r = await client.put("/v1/sites/other/stations/CP-1", json={"max_power_w": 11_000})
    assert r.status_code == 409, "a station on two sites"
    r = await client.put(
        "/v1/sites/depot",
        json={"name": "Depot", "time_zone": "Europe/Berlin", "grid_limit_w": 40_000, "building_timeout_s": 60},
    )
    assert r.status_code == 422 and "building_fallback_w" in r.text, "a meter without a safe fallback"


@pytest.mark.asyncio
async def test_capacity_profiles_from_third_parties_are_checked_replaced_and_audited(
    energy: Energy,
) -> None:
    client, runtime, bootstrap_servers = energy
    key = await a_site_with_a_group(client)
    put = "/v1/groups/g1/capacity-profile"
    r = await client.put(put, json={"unit": "kW", "intervals": intervals(runtime, 10)})
    assert r.status_code == 401
    r = await client.post("/v1/parties", json={"name": "Trader", "role": "trader", "group_ids": ["g1"]})
    r = await client.put(
        "/v1/groups/g2/capacity-profile",
        headers={"X-API-Key": key},
        json={"unit": "kW", "intervals": intervals(runtime, 10)},
    )
    assert r.status_code == 403
    gap = intervals(runtime, 20, 10, 15)
    del gap[1]
    r = await client.put(put, headers={"X-API-Key": key}, json={"unit": "kW", "intervals": gap})
    assert r.status_code == 422 and r.json()["detail"].startswith("intervals[1]") and "gap" in r.json()["detail"]
    r = await client.put(
        put, headers={"X-API-Key": key}, json={"unit": "A", "intervals": intervals(runtime, 32, 16, 0, 16)}
    )
    assert r.status_code == 200, r.text
    assert [i["limit_w"] for i in r.json()["intervals"]] == [22_080, 11_040, 0, 11_040]
    # A new profile replaces the old one entirely, also where it is shorter.
    r = await client.put(put, headers={"X-API-Key": key}, json={"unit": "kW", "intervals": intervals(runtime, 7)})
    assert r.status_code == 200
    assert len((await client.get(put)).json()["intervals"]) == 1

    # The same through Kafka, by a party outside Chargeyard.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers)
    await producer.start()
    try:
        request = CapacityProfileRequested(
            group_id="g1",
            api_key=key,
            unit="kW",
            requested_at=runtime.clock.now(),
            intervals=tuple(ProfileInterval.model_validate(i) for i in intervals(runtime, 12, 9, minutes=30)),
        )
        refused = request.model_copy(update={"api_key": "x" * 20})
        for event in (refused, request):
            await producer.send_and_wait(
                "capacity.requests",
                envelope_json(event, source="dso-gateway", occurred_at=runtime.clock.now()),
                key=b"g1",
            )
    finally:
        await producer.stop()
    for _ in range(200):
        audit = (await client.get("/v1/groups/g1/audit")).json()
        if len(audit) >= 6:
            break
        await asyncio.sleep(0.1)
    # g1's log; the refusal for g2 (403) is in g2's.
    assert [(a["channel"], a["accepted"], a["detail"].get("status")) for a in audit] == [
        ("rest", False, 401),
        ("rest", False, 422),
        ("rest", True, None),
        ("rest", True, None),
        ("kafka", False, 401),
        ("kafka", True, None),
    ], audit
    assert [a["detail"]["status"] for a in (await client.get("/v1/groups/g2/audit")).json()] == [403]
    assert [i["value"] for i in (await client.get(put)).json()["intervals"]] == [12, 9]
    capacity = (await client.get("/v1/sites/depot/capacity")).json()
    assert capacity["intervals"][0]["limit_w"] == 12_000, capacity


@pytest.mark.asyncio
async def test_prices_priority_and_operator_commands_are_published(
    energy: Energy,
) -> None:
    client, runtime, bootstrap_servers = energy
    await a_site_with_a_group(client)
    consumer = AIOKafkaConsumer(
        "energy.prices",
        "charging.priority",
        "station.commands",
        bootstrap_servers=bootstrap_servers,
        group_id=f"t-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        t0 = runtime.clock.now().replace(microsecond=0)
        csv = "start,end,price_per_kwh\n" + "\n".join(
            f"{(t0 + timedelta(hours=h)).isoformat()},{(t0 + timedelta(hours=h + 1)).isoformat()},0.{20 + h}"
            for h in range(3)
        )
        r = await client.post("/v1/sites/depot/prices.csv", content=csv, headers={"Content-Type": "text/csv"})
        assert r.status_code == 201 and len(r.json()["intervals"]) == 3, r.text
        r = await client.post("/v1/sites/depot/prices.csv", content="start,end,price\nyesterday,today,cheap")
        assert r.status_code == 422 and "line 2" in r.json()["detail"], r.text
        r = await client.post(
            "/v1/priority-requests",
            json={"site_id": "depot", "reservation_id": "r-1", "priority": 9, "requested_by": "driver-7"},
        )
        assert r.status_code == 201 and r.json()["granted"] == 5, r.text
        assert len((await client.get("/v1/priority-requests", params={"site_id": "depot"})).json()) == 1
        r = await client.post("/v1/stations/CP-2/reset", json={"kind": "Hard"})
        assert r.status_code == 202, r.text
        reset_id = r.json()["command_id"]
        seen: dict[str, Any] = {}
        async with asyncio.timeout(15):
            while not {"EnergyPricesPublished", "PriorityRequested", "reset"} <= set(seen):
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for record in records:
                        event = decode(Envelope.model_validate_json(record.value or b""))
                        if isinstance(event, StationCommandIssued) and event.command_id == reset_id:
                            seen["reset"] = event
                        elif not isinstance(event, StationCommandIssued):
                            seen[type(event).__name__] = event
        assert isinstance(seen["PriorityRequested"], PriorityRequested)
        assert seen["reset"].command.command == "Reset"
    finally:
        await consumer.stop()
