"""The gateway for real: OCPP 1.6 and 2.0.1 stations made with the ocpp library, Tansu, a database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import websockets
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from chargeyard_contracts.commands import SchedulePeriod, SetChargingProfile, StationCommandIssued
from chargeyard_devstack.testing import ADMIN_HEADERS, FakeApiKeys, as_role, bearer
from chargeyard_gateway.bootstrap import bootstrap, gateway_of
from chargeyard_platform.bus import envelope_json
from chargeyard_platform.runtime import Runtime, create_app
from ocpp import v16, v21, v201
from ocpp.routing import on

from .conftest import gateway_settings, operator

pytestmark = pytest.mark.asyncio(loop_scope="module")

TIMEOUT = 15


# --- test stations --------------------------------------------------------------------------------


class Station16(v16.ChargePoint):
    """Takes power limits only, at most 2 periods, 2 connectors."""

    def __init__(self, station_id: str, connection: Any) -> None:
        super().__init__(station_id, connection)
        self.profiles: asyncio.Queue[tuple[int, dict[str, Any]]] = asyncio.Queue()

    @on(v16.enums.Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> v16.call_result.GetConfiguration:
        values = {
            "ChargingScheduleAllowedChargingRateUnit": "Power",
            "ChargingScheduleMaxPeriods": "2",
            "NumberOfConnectors": "2",
        }
        return v16.call_result.GetConfiguration(
            configuration_key=[{"key": k, "readonly": True, "value": v} for k, v in values.items()],
            unknown_key=[k for k in key or [] if k not in values],
        )

    @on(v16.enums.Action.set_charging_profile)
    def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any
    ) -> v16.call_result.SetChargingProfile:
        self.profiles.put_nowait((connector_id, cs_charging_profiles))
        return v16.call_result.SetChargingProfile(status="Accepted")


class Station201(v201.ChargePoint):
    """Takes current limits only."""

    def __init__(self, station_id: str, connection: Any) -> None:
        super().__init__(station_id, connection)
        self.profiles: asyncio.Queue[tuple[int, dict[str, Any]]] = asyncio.Queue()

    @on(v201.enums.Action.get_variables)
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> v201.call_result.GetVariables:
        known = {("SmartChargingCtrlr", "RateUnit"): "A", ("SmartChargingCtrlr", "PeriodsPerSchedule"): "24"}
        results = []
        for item in get_variable_data:
            key = (item["component"]["name"], item["variable"]["name"])
            results.append(
                {
                    "attribute_status": "Accepted" if key in known else "UnknownVariable",
                    "component": item["component"],
                    "variable": item["variable"],
                    **({"attribute_value": known[key]} if key in known else {}),
                }
            )
        return v201.call_result.GetVariables(get_variable_result=results)

    @on(v201.enums.Action.set_charging_profile)
    def on_set_charging_profile(
        self, evse_id: int, charging_profile: dict[str, Any], **_: Any
    ) -> v201.call_result.SetChargingProfile:
        self.profiles.put_nowait((evse_id, charging_profile))
        return v201.call_result.SetChargingProfile(status="Accepted")


@contextlib.asynccontextmanager
async def connected(cls: type, runtime: Runtime, station_id: str, protocol: str) -> AsyncIterator[Any]:
    port = runtime.settings.ocpp_port  # type: ignore[attr-defined]
    await asyncio.wait_for(gateway_of(runtime).server.listening.wait(), TIMEOUT)
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/ocpp/{station_id}", subprotocols=[protocol], open_timeout=5
    ) as ws:
        station = cls(station_id, ws)
        task = asyncio.create_task(station.start())
        try:
            yield station
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await task


def wire(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def a_station_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --- reading topics -------------------------------------------------------------------------------


async def next_event(kafka: str, topic: str, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The first payload on `topic` (from the beginning) that `match`es."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    try:
        async with asyncio.timeout(TIMEOUT):
            while True:
                batches = await consumer.getmany(timeout_ms=200)
                for records in batches.values():
                    for record in records:
                        payload = json.loads(record.value)["payload"]
                        if match(payload):
                            return payload
    finally:
        await consumer.stop()


def for_station(station_id: str, **fields: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda p: p.get("station_id") == station_id and all(p.get(k) == v for k, v in fields.items())


async def issue(kafka: str, command: StationCommandIssued) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka, enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait(
            "station.commands",
            envelope_json(command, source="energy-manager", occurred_at=datetime.now(UTC)),
            key=command.station_id.encode(),
        )
    finally:
        await producer.stop()


def a_profile_command(station_id: str, unit: str, limits: list[float], **changes: Any) -> StationCommandIssued:
    command = SetChargingProfile(
        station_id=station_id,
        evse_id=1,
        profile_id=7,
        purpose="TxDefaultProfile",
        stack_level=2,
        unit=unit,
        start=datetime(2025, 3, 1, 12, tzinfo=UTC),
        periods=tuple(SchedulePeriod(start_offset_s=900 * i, limit=x) for i, x in enumerate(limits)),
        **changes,
    )
    return StationCommandIssued(command_id=uuid.uuid4().hex, station_id=station_id, command=command)


# --- OCPP 1.6 ------------------------------------------------------------------------------------------


async def test_v16_station_boots_reports_meter_values_and_takes_a_profile(gateway: Runtime) -> None:
    kafka = gateway.settings.kafka_bootstrap_servers
    station_id = a_station_id("CS16")
    async with connected(Station16, gateway, station_id, "ocpp1.6") as station:
        boot = await station.call(v16.call.BootNotification(charge_point_vendor="Acme", charge_point_model="A1"))
        assert boot.status == "Accepted" and boot.interval == 30

        registered = await next_event(kafka, "station.registered", for_station(station_id))
        assert registered["capabilities"]["allowed_rate_units"] == ["W"]
        assert registered["capabilities"]["max_schedule_periods"] == 2
        assert [e["evse_id"] for e in registered["evses"]] == [1, 2]

        await station.call(v16.call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
        status = await next_event(kafka, "station.status", for_station(station_id))
        assert (status["evse_id"], status["status"], status["error_code"]) == (1, "Available", None)

        an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
        await station.call(
            v16.call.MeterValues(
                connector_id=1,
                meter_value=[
                    {
                        "timestamp": wire(an_hour_ago),
                        "sampled_value": [
                            {"value": "12.5", "unit": "kWh", "measurand": "Energy.Active.Import.Register"},
                            {"value": "7.2", "unit": "kW", "measurand": "Power.Active.Import"},
                            {"value": "10.4", "unit": "A", "measurand": "Current.Import", "phase": "L1"},
                        ],
                    }
                ],
            )
        )
        meter = await next_event(kafka, "meter.values", for_station(station_id))
        assert meter["energy_wh"] == 12500 and meter["energy_context"] == "Register"
        assert meter["power_w"] == 7200
        assert meter["phases"] == [{"phase": "L1", "power_w": None, "current_a": 10.4, "voltage_v": None}]
        assert meter["clock_skew_flagged"] is True

        # Transactions: an integer id from the database, a string id on the bus.
        start = await station.call(
            v16.call.StartTransaction(
                connector_id=1, id_tag="TAG1", meter_start=12500, timestamp=wire(datetime.now(UTC))
            )
        )
        assert start.id_tag_info["status"] == "Accepted" and isinstance(start.transaction_id, int)
        started = await next_event(kafka, "transaction.events", for_station(station_id, kind="Started"))
        await station.call(
            v16.call.MeterValues(
                connector_id=1,
                transaction_id=start.transaction_id,
                meter_value=[{"timestamp": wire(datetime.now(UTC)), "sampled_value": [{"value": "13000"}]}],
            )
        )
        tx_meter = await next_event(kafka, "meter.values", for_station(station_id, energy_wh=13000))
        assert tx_meter["transaction_id"] == started["transaction_id"]
        assert tx_meter["clock_skew_flagged"] is False
        await station.call(
            v16.call.StopTransaction(
                meter_stop=15000, timestamp=wire(datetime.now(UTC)), transaction_id=start.transaction_id, reason="Local"
            )
        )
        ended = await next_event(kafka, "transaction.events", for_station(station_id, kind="Ended"))
        assert (ended["transaction_id"], ended["meter_wh"]) == (started["transaction_id"], 15000)

        # A current-based command for a power-only, 2-period station: converted and merged.
        command = a_profile_command(station_id, "A", [16, 10, 6])
        await issue(kafka, command)
        connector, profile = await asyncio.wait_for(station.profiles.get(), TIMEOUT)
        assert connector == 1
        assert profile["charging_profile_kind"] == "Absolute" and profile["stack_level"] == 2
        schedule = profile["charging_schedule"]
        assert schedule["charging_rate_unit"] == "W" and schedule["start_schedule"].startswith("2025-03-01T12:00:00")
        assert schedule["charging_schedule_period"] == [
            {"start_period": 0, "limit": 11040.0},
            {"start_period": 900, "limit": 4140.0},
        ]
        result = await next_event(kafka, "station.command-results", lambda p: p["command_id"] == command.command_id)
        assert result["outcome"] == "Accepted"


# --- OCPP 2.0.1 -----------------------------------------------------------------------------------------


async def test_v201_station_boots_reports_meter_values_and_takes_a_profile(gateway: Runtime) -> None:
    kafka = gateway.settings.kafka_bootstrap_servers
    station_id = a_station_id("CS201")
    async with connected(Station201, gateway, station_id, "ocpp2.0.1") as station:
        boot = await station.call(
            v201.call.BootNotification(
                charging_station={"model": "B2", "vendor_name": "Acme", "serial_number": "S-1"}, reason="PowerUp"
            )
        )
        assert boot.status == "Accepted"
        registered = await next_event(kafka, "station.registered", for_station(station_id))
        assert registered["capabilities"]["allowed_rate_units"] == ["A"]
        assert registered["capabilities"]["ocpp_version"] == "ocpp2.0.1"

        await station.call(
            v201.call.StatusNotification(
                timestamp=wire(datetime.now(UTC)), connector_status="Occupied", evse_id=1, connector_id=1
            )
        )
        assert (await next_event(kafka, "station.status", for_station(station_id)))["status"] == "Occupied"

        now = datetime.now(UTC)
        await station.call(
            v201.call.MeterValues(
                evse_id=1,
                meter_value=[
                    {
                        "timestamp": wire(now),
                        "sampled_value": [
                            {
                                "value": 12.5,
                                "measurand": "Energy.Active.Import.Register",
                                "unit_of_measure": {"unit": "Wh", "multiplier": 3},
                            },
                            {
                                "value": 3.68,
                                "measurand": "Power.Active.Import",
                                "phase": "L2-N",
                                "unit_of_measure": {"unit": "kW"},
                            },
                        ],
                    }
                ],
            )
        )
        meter = await next_event(kafka, "meter.values", for_station(station_id))
        assert meter["energy_wh"] == 12500
        assert meter["phases"] == [{"phase": "L2", "power_w": 3680, "current_a": None, "voltage_v": None}]
        assert meter["clock_skew_flagged"] is False

        # A transaction that started while the station was offline, reported late.
        yesterday = now - timedelta(days=1)
        await station.call(
            v201.call.TransactionEvent(
                event_type="Started",
                timestamp=wire(yesterday),
                trigger_reason="Authorized",
                seq_no=0,
                offline=True,
                transaction_info={"transaction_id": "tx-201-a"},
                evse={"id": 1, "connector_id": 1},
                id_token={"id_token": "TAG2", "type": "ISO14443"},
                meter_value=[{"timestamp": wire(yesterday), "sampled_value": [{"value": 2000.0}]}],
            )
        )
        started = await next_event(kafka, "transaction.events", for_station(station_id, kind="Started"))
        # 2.0.1 ids are unique only per station (E01): the platform's is a UUID mapped to it.
        assert str(uuid.UUID(started["transaction_id"])) == started["transaction_id"] and started["offline"] is True
        assert started["meter_wh"] == 2000 and started["station_timestamp"].startswith(yesterday.date().isoformat())
        await station.call(
            v201.call.TransactionEvent(
                event_type="Ended",
                timestamp=wire(now),
                trigger_reason="EVCommunicationLost",
                seq_no=1,
                transaction_info={"transaction_id": "tx-201-a", "stopped_reason": "EVDisconnected"},
                meter_value=[
                    {"timestamp": wire(now), "sampled_value": [{"value": 9.5, "unit_of_measure": {"unit": "kWh"}}]}
                ],
            )
        )
        ended = await next_event(kafka, "transaction.events", for_station(station_id, kind="Ended"))
        assert (ended["evse_id"], ended["meter_wh"], ended["reason"]) == (1, 9500, "EVDisconnected")

        command = a_profile_command(station_id, "W", [11000])
        await issue(kafka, command)
        evse, profile = await asyncio.wait_for(station.profiles.get(), TIMEOUT)
        assert evse == 1 and profile["charging_profile_purpose"] == "TxDefaultProfile"
        schedule = profile["charging_schedule"][0]
        assert schedule["charging_rate_unit"] == "A"
        assert schedule["charging_schedule_period"] == [{"start_period": 0, "limit": 15.9}]
        result = await next_event(kafka, "station.command-results", lambda p: p["command_id"] == command.command_id)
        assert result["outcome"] == "Accepted"


async def test_a_command_for_a_station_that_is_not_connected_ends_offline(gateway: Runtime) -> None:
    kafka = gateway.settings.kafka_bootstrap_servers
    command = a_profile_command(a_station_id("GONE"), "A", [16])
    await issue(kafka, command)
    result = await next_event(kafka, "station.command-results", lambda p: p["command_id"] == command.command_id)
    assert result["outcome"] == "Offline"


# --- registration off -----------------------------------------------------------------------------------


async def test_unknown_stations_are_rejected_until_registered(topics: str, tmp_path: Any) -> None:
    runtime = bootstrap(
        gateway_settings(f"sqlite+aiosqlite:///{tmp_path / 'closed.db'}", topics, auto_register_unknown=False)
    )
    await runtime.start()
    try:
        station_id = a_station_id("NEW")
        boot = v16.call.BootNotification(charge_point_vendor="Acme", charge_point_model="A1")
        # OCPP-J 1.6 §3.1.1: an identity the central system does not know is refused with 404.
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with connected(Station16, runtime, station_id, "ocpp1.6"):
                pass
        assert refused.value.response.status_code == 404

        app = create_app(runtime)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gw", headers=operator()
        ) as http:
            assert (await http.get(f"/v1/stations/{station_id}")).status_code == 404
            created = await http.put(f"/v1/stations/{station_id}", json={"accepted": False})
            assert created.status_code == 201 and created.json()["accepted"] is False
            assert (await http.put("/v1/stations/bad id!", json={})).status_code in (404, 422)
            # Registered but refused: it may connect, and its boot is Rejected.
            async with connected(Station16, runtime, station_id, "ocpp1.6") as station:
                assert (await station.call(boot)).status == "Rejected"
            assert (await http.put(f"/v1/stations/{station_id}", json={"accepted": True})).status_code == 200

            async with connected(Station16, runtime, station_id, "ocpp1.6") as station:
                assert (await station.call(boot)).status == "Accepted"
                listed = (await http.get("/v1/stations")).json()
                assert [s["id"] for s in listed] == [station_id] and listed[0]["vendor"] == "Acme"
                assert listed[0]["connected"] is True
    finally:
        await runtime.stop()


async def test_the_rest_api_wants_credentials_and_the_ocpp_server_does_not(topics: str, tmp_path: Any) -> None:
    """/v1/stations takes the reservation API's credentials (roles as the README says); a station
    still connects and boots with none, its security profile being its own."""
    runtime = bootstrap(
        gateway_settings(f"sqlite+aiosqlite:///{tmp_path / 'access.db'}", topics, auto_register_unknown=False),
        api_keys=FakeApiKeys(),
    )
    await runtime.start()
    try:
        station_id = a_station_id("ACL")
        path = f"/v1/stations/{station_id}"
        transport = httpx.ASGITransport(app=create_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            for method in ("GET", "PUT"):
                missing = await http.request(method, path, json={"accepted": True} if method == "PUT" else None)
                assert missing.status_code == 401, (method, missing.text)
            assert (await http.get("/v1/stations", headers=bearer("cy_not-a-key"))).status_code == 401
            for role in ("driver", "partner", "maintainer", "fleet_manager"):
                taken = await http.put(path, json={"security_profile": 1, "password": "x" * 24}, headers=as_role(role))
                assert taken.status_code == 403, (role, taken.text)
            assert (await http.get("/v1/stations", headers=as_role("driver"))).status_code == 403
            # None of the refused PUTs registered it: the station is still unknown.
            with pytest.raises(websockets.InvalidStatus) as refused:
                async with connected(Station16, runtime, station_id, "ocpp1.6"):
                    pass
            assert refused.value.response.status_code == 404

            created = await http.put(path, json={"accepted": True}, headers=ADMIN_HEADERS)
            assert created.status_code == 201, created.text
            boot = v16.call.BootNotification(charge_point_vendor="Acme", charge_point_model="A1")
            async with connected(Station16, runtime, station_id, "ocpp1.6") as station:
                assert (await station.call(boot)).status == "Accepted"
            for role in ("site_operator", "maintainer", "fleet_manager"):
                listed = await http.get("/v1/stations", headers=as_role(role))
                assert listed.status_code == 200 and [s["id"] for s in listed.json()] == [station_id], role
            journal = f"{path}/journal"
            assert (await http.get(journal, headers=as_role("maintainer"))).status_code == 200
            assert (await http.get(journal, headers=as_role("fleet_manager"))).status_code == 403
    finally:
        await runtime.stop()


async def test_v21_station_boots_and_defaults_capabilities_it_does_not_report(gateway: Runtime) -> None:
    kafka = gateway.settings.kafka_bootstrap_servers
    station_id = a_station_id("CS21")
    async with connected(v21.ChargePoint, gateway, station_id, "ocpp2.1") as station:
        boot = await station.call(
            v21.call.BootNotification(charging_station={"model": "C3", "vendor_name": "Acme"}, reason="PowerUp")
        )
        assert boot.status == "Accepted"
        registered = await next_event(kafka, "station.registered", for_station(station_id))
        # The station answers GetVariables with a CallError: the contract defaults apply.
        assert registered["capabilities"]["ocpp_version"] == "ocpp2.1"
        assert registered["capabilities"]["allowed_rate_units"] == ["A"]


@pytest.mark.parametrize(
    ("path", "protocol", "status"),
    [("/ocpp/bad%20id", "ocpp1.6", 404), ("/ocpp/CS-1", "ocpp1.5", 400), ("/other/CS-1", "ocpp1.6", 404)],
)
async def test_the_handshake_refuses_bad_ids_and_unknown_subprotocols(
    gateway: Runtime, path: str, protocol: str, status: int
) -> None:
    await asyncio.wait_for(gateway_of(gateway).server.listening.wait(), TIMEOUT)
    url = f"ws://127.0.0.1:{gateway.settings.ocpp_port}{path}"  # type: ignore[attr-defined]
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(url, subprotocols=[protocol], open_timeout=5):
            pass
    assert refused.value.response.status_code == status
