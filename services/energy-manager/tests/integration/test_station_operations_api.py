"""Remote stop and firmware roll-outs through the energy manager's REST API, against a real Tansu
broker and a real PostgreSQL database: the commands reach station.commands, the stations' answers
(station.command-results) reach each roll-out's stations, and bad input gets a 422 naming the field."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from chargeyard_contracts import Envelope, StationCommandIssued, decode
from chargeyard_contracts.commands import CommandOutcome, StationCommandCompleted
from chargeyard_devstack.testing import TEST_ADMIN_KEY as ADMIN_KEY
from chargeyard_devstack.testing import a_token, as_role, bearer
from chargeyard_platform.bus import envelope_json
from chargeyard_platform.runtime import Runtime

pytestmark = pytest.mark.integration
Energy = tuple[httpx.AsyncClient, Runtime, str]
"""The `energy` fixture (conftest.py): client, runtime, broker address."""


async def a_site(client: httpx.AsyncClient, site_id: str, *station_ids: str) -> None:
    r = await client.put(
        f"/v1/sites/{site_id}", json={"name": site_id, "time_zone": "Europe/Berlin", "grid_limit_w": 40_000}
    )
    assert r.status_code == 200, r.text
    for station_id in station_ids:
        r = await client.put(f"/v1/sites/{site_id}/stations/{station_id}", json={"max_power_w": 11_000})
        assert r.status_code == 200, r.text


async def commands_on_the_bus(bootstrap_servers: str, command_ids: set[str]) -> dict[str, StationCommandIssued]:
    consumer = AIOKafkaConsumer(
        "station.commands",
        bootstrap_servers=bootstrap_servers,
        group_id=f"t-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    seen: dict[str, StationCommandIssued] = {}
    try:
        async with asyncio.timeout(15):
            while not command_ids <= set(seen):
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for record in records:
                        event = decode(Envelope.model_validate_json(record.value or b""))
                        if isinstance(event, StationCommandIssued) and event.command_id in command_ids:
                            seen[event.command_id] = event
    finally:
        await consumer.stop()
    return seen


def problem(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 422, r.text
    body: dict[str, Any] = r.json()
    return body


@pytest.mark.asyncio
async def test_a_remote_stop_reaches_the_station_commands(energy: Energy) -> None:
    client, _, bootstrap_servers = energy
    await a_site(client, "depot", "CP-1")
    r = await client.post("/v1/stations/CP-1/remote-stop", json={"transaction_id": "tx-42"})
    assert r.status_code == 202, r.text
    command_id = r.json()["command_id"]
    sent = (await commands_on_the_bus(bootstrap_servers, {command_id}))[command_id]
    assert (sent.command.command, sent.station_id, getattr(sent.command, "transaction_id", None)) == (
        "RemoteStop",
        "CP-1",
        "tx-42",
    )
    assert (await client.get(f"/v1/commands/{command_id}")).json()["command"]["transaction_id"] == "tx-42"

    assert problem(await client.post("/v1/stations/CP-1/remote-stop", json={}))["errors"][0]["field"].endswith(
        "transaction_id"
    )
    assert problem(await client.post("/v1/stations/CP-1/remote-stop", json={"transaction_id": ""}))
    assert problem(await client.post("/v1/stations/CP-1/remote-stop", json={"transaction_id": "x" * 37}))
    r = await client.post("/v1/stations/CP-9/remote-stop", json={"transaction_id": "tx-1"})
    assert r.status_code == 404 and "CP-9" in r.json()["detail"], r.text


@pytest.mark.asyncio
async def test_a_firmware_rollout_to_a_site_sends_one_update_per_station_and_follows_each_answer(
    energy: Energy,
) -> None:
    client, runtime, bootstrap_servers = energy
    await a_site(client, "depot", "CP-1", "CP-2")
    await a_site(client, "yard", "CP-3")
    retrieve_at = (runtime.clock.now() + timedelta(hours=2)).replace(microsecond=0)
    r = await client.post(
        "/v1/firmware-rollouts",
        json={
            "location": "https://updates.example.com/fw-2.1.bin",
            "retrieve_at": retrieve_at.isoformat(),
            "site_id": "depot",
            "retries": 3,
        },
        headers={"X-Operator": "user:999"},  # a display hint: the token says who it is
    )
    assert r.status_code == 201, r.text
    rollout = r.json()
    assert [s["station_id"] for s in rollout["stations"]] == ["CP-1", "CP-2"], "the site's stations, not the yard's"
    assert all(s["outcome"] is None for s in rollout["stations"])
    assert rollout["created_by"] == "user:7" and rollout["site_id"] == "depot"
    by_command = {s["command_id"]: s for s in rollout["stations"]}
    sent = await commands_on_the_bus(bootstrap_servers, set(by_command))
    for command_id, issued in sent.items():
        command = issued.command
        assert command.command == "UpdateFirmware"
        assert issued.station_id == by_command[command_id]["station_id"]
        assert getattr(command, "location", None) == "https://updates.example.com/fw-2.1.bin"
        assert getattr(command, "retrieve_at", None) == retrieve_at
        assert getattr(command, "request_id", None) == by_command[command_id]["request_id"]
        assert getattr(command, "retries", None) == 3

    # The stations answer (the gateway publishes the outcome on station.command-results).
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers)
    await producer.start()
    try:
        for station, outcome in zip(
            rollout["stations"], (CommandOutcome.ACCEPTED, CommandOutcome.OFFLINE), strict=True
        ):
            done = StationCommandCompleted(
                command_id=station["command_id"],
                station_id=station["station_id"],
                command="UpdateFirmware",
                outcome=outcome,
                detail=None if outcome is CommandOutcome.ACCEPTED else "not connected",
                completed_at=runtime.clock.now(),
            )
            await producer.send_and_wait(
                "station.command-results",
                envelope_json(done, source="ocpp-gateway", occurred_at=runtime.clock.now()),
                key=station["station_id"].encode(),
            )
    finally:
        await producer.stop()
    outcomes: list[Any] = []
    async with asyncio.timeout(15):
        while outcomes != ["Accepted", "Offline"]:
            await asyncio.sleep(0.1)
            got = (await client.get(f"/v1/firmware-rollouts/{rollout['rollout_id']}")).json()
            outcomes = [s["outcome"] for s in got["stations"]]
    assert got["stations"][1]["detail"] == "not connected"

    # A chosen set of stations on any sites; the list shows the newest first.
    r = await client.post(
        "/v1/firmware-rollouts",
        json={"location": "ftp://fw.example.com/2.2.bin", "station_ids": ["CP-3", "CP-1", "CP-3"]},
    )
    assert r.status_code == 201, r.text
    assert [s["station_id"] for s in r.json()["stations"]] == ["CP-1", "CP-3"]
    assert abs((runtime.clock.now() - _at(r.json()["retrieve_at"])).total_seconds()) < 60, "no time: now"
    listed = (await client.get("/v1/firmware-rollouts")).json()
    assert [x["rollout_id"] for x in listed] == [r.json()["rollout_id"], rollout["rollout_id"]]
    assert [
        x["rollout_id"] for x in (await client.get("/v1/firmware-rollouts", params={"site_id": "depot"})).json()
    ] == [rollout["rollout_id"]]
    assert (await client.get("/v1/firmware-rollouts/fw-nothing")).status_code == 404


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.mark.asyncio
async def test_a_firmware_rollout_with_bad_input_says_which_field_and_leaves_nothing_behind(energy: Energy) -> None:
    client, runtime, _ = energy
    await a_site(client, "depot", "CP-1")
    await a_site(client, "empty")
    url = "https://updates.example.com/fw.bin"
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"location": url}, "station_ids", "either station_ids or site_id"),
        ({"location": url, "site_id": "depot", "station_ids": ["CP-1"]}, "station_ids", "not both"),
        ({"location": url, "station_ids": []}, "station_ids", "at least one"),
        ({"location": url, "station_ids": ["CP-1", "CP-7"]}, "station_ids", "CP-7"),
        ({"location": url, "site_id": "nowhere"}, "site_id", "nowhere"),
        ({"location": url, "site_id": "empty"}, "site_id", "no stations"),
        ({"location": "file:///etc/passwd", "site_id": "depot"}, "location", "file:///etc/passwd"),
        ({"location": "updates.example.com/fw.bin", "site_id": "depot"}, "location", "https"),
        (
            {
                "location": url,
                "site_id": "depot",
                "retrieve_at": (runtime.clock.now() - timedelta(hours=1)).isoformat(),
            },
            "retrieve_at",
            "before now",
        ),
    ]
    for body, field, says in cases:
        found = problem(await client.post("/v1/firmware-rollouts", json=body))
        assert found["errors"][0]["field"] == field, (body, found)
        assert says in found["detail"], (body, found)
    found = problem(
        await client.post("/v1/firmware-rollouts", json={"location": url, "site_id": "depot", "retries": -1})
    )
    assert "retries" in str(found["errors"]), found
    found = problem(await client.post("/v1/firmware-rollouts", json={"location": url, "site_id": "depot", "when": 1}))
    assert "when" in str(found["errors"]), found
    assert (await client.get("/v1/firmware-rollouts")).json() == [], "a refused roll-out is not kept"


@pytest.mark.asyncio
async def test_only_operators_with_the_right_role_get_in(energy: Energy) -> None:
    client, _, _ = energy
    await a_site(client, "depot", "CP-1")
    site = {"name": "Depot", "time_zone": "Europe/Berlin", "grid_limit_w": 30_000}
    nobody = {"Authorization": ""}

    for method, path, body in [
        ("GET", "/v1/sites", None),
        ("PUT", "/v1/sites/depot", site),
        ("POST", "/v1/stations/CP-1/reset", {"kind": "Hard"}),
        ("POST", "/v1/parties", {"name": "DSO", "role": "dso", "group_ids": ["g1"]}),
    ]:
        r = await client.request(method, path, json=body, headers=nobody)
        assert r.status_code == 401, f"{method} {path}: {r.text}"
        assert "Authorization: Bearer" in r.json()["detail"]
    for token, why in [
        ("cy_not-a-key", "unknown or revoked"),
        (a_token(ttl_s=-60), "invalid or expired"),
        (a_token() + "x", "invalid or expired"),
    ]:
        r = await client.get("/v1/sites", headers=bearer(token))
        assert r.status_code == 401 and why in r.json()["detail"], r.text
    assert (await client.get("/healthz", headers=nobody)).status_code == 200

    r = await client.post("/v1/stations/CP-1/reset", json={"kind": "Hard"}, headers=as_role("driver"))
    assert r.status_code == 403 and "driver" in r.json()["detail"], r.text
    assert (await client.get("/v1/sites", headers=as_role("driver"))).status_code == 403

    r = await client.post("/v1/stations/CP-1/reset", json={"kind": "Hard"}, headers=bearer(ADMIN_KEY))
    assert r.status_code == 202, r.text
    assert r.json()["issued_by"] == "api_key:admin"

    r = await client.put("/v1/sites/depot", json=site | {"grid_limit_w": 25_000}, headers=as_role("site_operator"))
    assert r.status_code == 200, r.text
    assert (await client.get("/v1/sites/depot")).json()["grid_limit_w"] == 25_000

    maintainer = as_role("maintainer", user_id="m-1")
    r = await client.post("/v1/stations/CP-1/reset", json={"kind": "Soft"}, headers=maintainer)
    assert r.status_code == 202 and r.json()["issued_by"] == "user:m-1", r.text
    command = (await client.get(f"/v1/commands/{r.json()['command_id']}", headers=maintainer)).json()
    assert command["issued_by"] == "user:m-1"
    assert (await client.put("/v1/sites/depot", json=site, headers=maintainer)).status_code == 403
    fleet = as_role("fleet_manager")
    assert (await client.get("/v1/sites/depot", headers=fleet)).status_code == 200
    assert (await client.post("/v1/sites/depot/green", json={}, headers=fleet)).status_code == 403
    assert (await client.get("/v1/sites/depot")).json()["grid_limit_w"] == 25_000, "refused writes changed nothing"
