"""OCPP 1.6J conformance, driven by an independent charge point (ocpp-rpc in strict mode: every
frame both ways validated against the official 1.6 JSON schemas), asserting the OCPP answer and
the normalised event on Kafka. Runs on SQLite and PostgreSQL (the `gateway` fixture)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from chargeyard_contracts import commands as c
from chargeyard_contracts.planning import TokenEntry, TokensUpdated
from chargeyard_platform.runtime import Runtime, create_app

from .conformance_kit import (
    KafkaTap,
    NodeStation,
    a_station_id,
    close_node_station,
    for_station,
    issue,
    open_node_station,
    outcome,
    publish,
    wire,
)
from .conftest import operator

pytestmark = pytest.mark.asyncio(loop_scope="module")

CONFIGURATION = {
    "ChargingScheduleAllowedChargingRateUnit": "Current",
    "ChargingScheduleMaxPeriods": "3",
    "NumberOfConnectors": "2",
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tap(gateway: Runtime) -> AsyncIterator[KafkaTap]:
    tap = KafkaTap(gateway.settings.kafka_bootstrap_servers)
    await tap.start()
    yield tap
    await tap.stop()


async def booted(gateway: Runtime, tap: KafkaTap, prefix: str = "N16") -> tuple[str, Any]:
    station_id = a_station_id(prefix)
    station = await open_node_station(gateway, station_id, "ocpp1.6")
    station.handle(
        "GetConfiguration",
        {"configurationKey": [{"key": k, "readonly": True, "value": v} for k, v in CONFIGURATION.items()]},
    )
    station.handle("GetLocalListVersion", {"listVersion": -1})
    boot = await station.call("BootNotification", {"chargePointVendor": "Indep", "chargePointModel": "RPC-16"})
    assert boot["status"] == "Accepted" and boot["interval"] == 30
    registered = await tap.wait("station.registered", for_station(station_id))
    assert registered["capabilities"]["allowed_rate_units"] == ["A"]
    assert registered["capabilities"]["max_schedule_periods"] == 3
    return station_id, station


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(gateway: Runtime, tap: KafkaTap) -> AsyncIterator[tuple[str, NodeStation]]:
    """One booted station for the tables below: a fresh process per row would cost a second each."""
    station_id, station = await booted(gateway, tap, "SHR16")
    yield station_id, station
    await close_node_station(station)


# --- station -> central system ------------------------------------------------------------------


async def test_core_messages_are_answered_and_normalised(gateway: Runtime, tap: KafkaTap) -> None:
    station_id, station = await booted(gateway, tap)
    try:
        beat = await station.call("Heartbeat", {})
        assert abs(datetime.fromisoformat(beat["currentTime"].replace("Z", "+00:00")) - datetime.now(UTC)) < timedelta(
            seconds=5
        )

        await station.call(
            "StatusNotification",
            {
                "connectorId": 2,
                "errorCode": "GroundFailure",
                "status": "Faulted",
                "vendorErrorCode": "E-4711",
                "timestamp": wire(datetime.now(UTC)),
            },
        )
        status = await tap.wait("station.status", for_station(station_id, evse_id=2))
        assert (status["status"], status["error_code"], status["vendor_error_code"]) == (
            "Faulted",
            "GroundFailure",
            "E-4711",
        )

        assert (await station.call("Authorize", {"idTag": "ANY-TAG"}))["idTagInfo"]["status"] == "Accepted"
        assert (await station.call("DataTransfer", {"vendorId": "acme"}))["status"] == "UnknownVendorId"

        # kWh and per-phase-only registers; the station's clock 10 minutes fast.
        skewed = datetime.now(UTC) + timedelta(minutes=10)
        await station.call(
            "MeterValues",
            {
                "connectorId": 1,
                "meterValue": [
                    {
                        "timestamp": wire(skewed),
                        "sampledValue": [
                            {
                                "value": "1.5",
                                "unit": "kWh",
                                "measurand": "Energy.Active.Import.Register",
                                "phase": "L1",
                            },
                            {
                                "value": "1.25",
                                "unit": "kWh",
                                "measurand": "Energy.Active.Import.Register",
                                "phase": "L2",
                            },
                            {
                                "value": "1.25",
                                "unit": "kWh",
                                "measurand": "Energy.Active.Import.Register",
                                "phase": "L3",
                            },
                            {"value": "2.3", "unit": "kW", "measurand": "Power.Active.Import", "phase": "L1-N"},
                            {"value": "10", "unit": "A", "measurand": "Current.Import", "phase": "L1"},
                            {"value": "231.5", "unit": "V", "measurand": "Voltage", "phase": "L1-N"},
                            {"value": "400", "unit": "V", "measurand": "Voltage", "phase": "L1-L2"},
                            {"value": "55", "unit": "Percent", "measurand": "SoC"},
                        ],
                    }
                ],
            },
        )
        meter = await tap.wait("meter.values", for_station(station_id, evse_id=1))
        assert meter["energy_wh"] == 4000 and meter["energy_context"] == "Register"
        assert meter["power_w"] is None and meter["soc_percent"] == 55
        assert meter["phases"] == [{"phase": "L1", "power_w": 2300, "current_a": 10.0, "voltage_v": 231.5}]
        assert meter["clock_skew_flagged"] is True

        # A transaction started two hours ago while offline, reported late; then a register in Wh.
        two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
        start = await station.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": "TAG-16", "meterStart": 1000, "timestamp": wire(two_hours_ago)},
        )
        assert start["idTagInfo"]["status"] == "Accepted" and isinstance(start["transactionId"], int)
        started = await tap.wait("transaction.events", for_station(station_id, kind="Started"))
        assert started["offline"] is True and started["meter_wh"] == 1000
        assert started["station_timestamp"].startswith(wire(two_hours_ago)[:19])
        await station.call(
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": start["transactionId"],
                "meterValue": [
                    {
                        "timestamp": wire(datetime.now(UTC)),
                        "sampledValue": [{"value": "2500", "context": "Sample.Periodic"}],
                    }
                ],
            },
        )
        tx_meter = await tap.wait("meter.values", for_station(station_id, energy_wh=2500))
        assert tx_meter["transaction_id"] == started["transaction_id"] and tx_meter["clock_skew_flagged"] is False
        stop = await station.call(
            "StopTransaction",
            {
                "transactionId": start["transactionId"],
                "meterStop": 3000,
                "timestamp": wire(datetime.now(UTC)),
                "reason": "EVDisconnected",
                "idTag": "TAG-16",
            },
        )
        assert stop["idTagInfo"]["status"] == "Accepted"
        ended = await tap.wait("transaction.events", for_station(station_id, kind="Ended"))
        assert (ended["transaction_id"], ended["meter_wh"], ended["reason"]) == (
            started["transaction_id"],
            3000,
            "EVDisconnected",
        )

        assert await station.call("FirmwareStatusNotification", {"status": "Downloading"}) == {}
        firmware = await tap.wait("station.events", for_station(station_id, _type="FirmwareStatusChanged"))
        assert firmware["status"] == "Downloading"
        assert await station.call("DiagnosticsStatusNotification", {"status": "Uploaded"}) == {}
        logs = await tap.wait("station.events", for_station(station_id, _type="LogStatusChanged"))
        assert logs["status"] == "Uploaded"
    finally:
        await close_node_station(station)


async def test_authorize_answers_from_the_token_copy(gateway: Runtime, tap: KafkaTap) -> None:
    station_id, station = await booted(gateway, tap)
    try:
        token = f"BLK-{station_id[-8:]}"
        await publish(
            gateway.settings.kafka_bootstrap_servers,
            "tokens.updated",
            TokensUpdated(version=7, tokens=(TokenEntry(id_token=token, status="Blocked"),)),
            "reservation-api",
            "7",
        )
        deadline = time.monotonic() + 30  # the consumer joins its group and applies tokens.updated asynchronously
        while (status := (await station.call("Authorize", {"idTag": token}))["idTagInfo"]["status"]) != "Blocked":
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert status == "Blocked"
    finally:
        await close_node_station(station)


# --- protocol discipline: OCPP-J 1.6 §4.2.3 error codes ---------------------------------------------


@pytest.mark.parametrize(
    ("frame", "answer_id", "code"),
    [
        ("this is not json", "-1", "FormationViolation"),
        ('{"not": "an array"}', "-1", "FormationViolation"),
        ('[7, "m-1", "Heartbeat", {}]', "m-1", "FormationViolation"),
        ('[2, "m-2", "Heartbeat", []]', "m-2", "FormationViolation"),
        ('[2, "m-3", "Heartbeat", {"extra": 1}]', "m-3", "FormationViolation"),
        (
            '[2, "m-4", "StatusNotification", {"connectorId": "one", "errorCode": "NoError", "status": "Available"}]',
            "m-4",
            "TypeConstraintViolation",
        ),
        (
            '[2, "m-5", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"}]',
            "m-5",
            "PropertyConstraintViolation",
        ),
        ('[2, "m-6", "StartTransaction", {"connectorId": 1, "idTag": "T"}]', "m-6", "ProtocolError"),
        ('[2, "m-7", "Authorize", {"idTag": "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}]', "m-7", "TypeConstraintViolation"),
        ('[2, "m-8", "Reset", {"type": "Hard"}]', "m-8", "NotSupported"),
        ('[2, "m-9", "Teleport", {}]', "m-9", "NotImplemented"),
    ],
)
async def test_malformed_frames_get_the_16_call_error(
    shared: tuple[str, NodeStation], frame: str, answer_id: str, code: str
) -> None:
    _, station = shared
    error = await station.raw(frame, answer_id)
    assert error[2] == code, error
    assert (await station.call("Heartbeat", {}))["currentTime"]  # the session survives


async def test_the_journal_keeps_every_frame_with_vendor_codes(gateway: Runtime, tap: KafkaTap) -> None:
    station_id, station = await booted(gateway, tap, "JRN16")
    try:
        await station.call(
            "StatusNotification",
            {"connectorId": 1, "errorCode": "OverCurrentFailure", "status": "Faulted", "vendorErrorCode": "0x2A"},
        )
        await station.raw("garbage", "-1")
    finally:
        await close_node_station(station)
    app = create_app(gateway)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gw", headers=operator()
    ) as http:
        for _ in range(300):
            entries = (await http.get(f"/v1/stations/{station_id}/journal")).json()
            if any(e["message_type"] == "CallError" for e in entries):
                break
            await asyncio.sleep(0.1)
        kinds = {(e["direction"], e["message_type"], e["action"]) for e in entries}
        assert ("in", "Call", "BootNotification") in kinds and ("out", "CallResult", "BootNotification") in kinds
        assert ("out", "Call", "GetConfiguration") in kinds and ("in", "CallResult", "GetConfiguration") in kinds
        assert ("in", "Malformed", None) in kinds
        fault = next(e for e in entries if e["action"] == "StatusNotification" and e["direction"] == "in")
        assert (fault["error_code"], fault["vendor_error_code"]) == ("OverCurrentFailure", "0x2A")
        assert json.loads(fault["frame"])[3]["vendorErrorCode"] == "0x2A"
        error = next(e for e in entries if e["message_type"] == "CallError")
        assert error["error_code"] == "FormationViolation" and error["unique_id"] == "-1"
        assert entries == sorted(entries, key=lambda e: -e["id"])  # newest first
        page = (
            await http.get(f"/v1/stations/{station_id}/journal", params={"limit": 2, "before": entries[1]["id"]})
        ).json()
        assert [e["id"] for e in page] == [e["id"] for e in entries[2:4]]


# --- central system -> station: every station.commands command in its 1.6 form ------------------------

NOW = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
Check = Callable[[dict[str, Any]], bool]

COMMANDS_16: list[tuple[str, Callable[[str], Any], str, dict[str, Any], Check, str]] = [
    # (name, command builder, 1.6 action, scripted answer, check of the call's payload, outcome)
    (
        "reserve",
        lambda s: c.ReserveNow(station_id=s, evse_id=1, reservation_id="R-1", id_token="TAG", expires_at=NOW),
        "ReserveNow",
        {"status": "Accepted"},
        lambda p: (
            p["connectorId"] == 1
            and p["idTag"] == "TAG"
            and isinstance(p["reservationId"], int)
            and p["expiryDate"].startswith("2025-06-01T08:00:00")
        ),
        "Accepted",
    ),
    (
        "reserve-occupied",
        lambda s: c.ReserveNow(station_id=s, evse_id=2, reservation_id="R-2", id_token="TAG", expires_at=NOW),
        "ReserveNow",
        {"status": "Occupied"},
        lambda p: p["connectorId"] == 2,
        "Rejected",
    ),
    (
        "firmware",
        lambda s: c.UpdateFirmware(station_id=s, location="https://fw.example/1.2.bin", retrieve_at=NOW, retries=3),
        "UpdateFirmware",
        {},
        lambda p: p["location"] == "https://fw.example/1.2.bin" and p["retries"] == 3,
        "Accepted",
    ),
    (
        "local-list",
        lambda s: c.SendLocalList(
            station_id=s,
            version=4,
            full=False,
            entries=(c.LocalListEntry(id_token="A1"), c.LocalListEntry(id_token="B2", status="Blocked")),
        ),
        "SendLocalList",
        {"status": "Accepted"},
        lambda p: (
            p["listVersion"] == 4
            and p["updateType"] == "Differential"
            and p["localAuthorizationList"][1] == {"idTag": "B2", "idTagInfo": {"status": "Blocked"}}
        ),
        "Accepted",
    ),
    (
        "local-list-mismatch",
        lambda s: c.SendLocalList(station_id=s, version=5),
        "SendLocalList",
        {"status": "VersionMismatch"},
        lambda p: p["updateType"] == "Full",
        "Rejected",
    ),
    (
        "list-version",
        lambda s: c.GetLocalListVersion(station_id=s),
        "GetLocalListVersion",
        {"listVersion": 4},
        lambda p: p == {},
        "Accepted",
    ),
    (
        "clear-cache",
        lambda s: c.ClearCache(station_id=s),
        "ClearCache",
        {"status": "Accepted"},
        lambda p: p == {},
        "Accepted",
    ),
    (
        "diagnostics",
        lambda s: c.GetLog(station_id=s, location="ftp://logs.example/", request_id=1, oldest=NOW),
        "GetDiagnostics",
        {"fileName": "diag.zip"},
        lambda p: p["location"] == "ftp://logs.example/" and p["startTime"].startswith("2025-06-01"),
        "Accepted",
    ),
    (
        "set-config",
        lambda s: c.SetConfiguration(station_id=s, variable="MeterValueSampleInterval", value="60"),
        "ChangeConfiguration",
        {"status": "RebootRequired"},
        lambda p: p == {"key": "MeterValueSampleInterval", "value": "60"},
        "Accepted",
    ),
    (
        "set-config-unknown",
        lambda s: c.SetConfiguration(station_id=s, variable="Nope", value="1"),
        "ChangeConfiguration",
        {"status": "NotSupported"},
        lambda p: p["key"] == "Nope",
        "NotSupported",
    ),
    (
        "trigger-log",
        lambda s: c.TriggerMessage(station_id=s, message="LogStatusNotification"),
        "TriggerMessage",
        {"status": "Accepted"},
        lambda p: p["requestedMessage"] == "DiagnosticsStatusNotification",
        "Accepted",
    ),
    (
        "trigger-status",
        lambda s: c.TriggerMessage(station_id=s, message="StatusNotification", evse_id=1),
        "TriggerMessage",
        {"status": "Rejected"},
        lambda p: p == {"requestedMessage": "StatusNotification", "connectorId": 1},
        "Rejected",
    ),
    (
        "profile",
        lambda s: c.SetChargingProfile(
            station_id=s,
            evse_id=1,
            profile_id=3,
            purpose=c.ProfilePurpose.TX_DEFAULT,
            stack_level=2,
            unit="W",
            start=NOW,
            periods=tuple(
                c.SchedulePeriod(start_offset_s=900 * i, limit=w)
                for i, w in enumerate([11000, 7000, 9000, 4000, 22000])
            ),
        ),
        "SetChargingProfile",
        {"status": "Accepted"},
        # 5 periods in W for a 3-period, A-only station: converted down, merged without raising a limit.
        # A per phase: 15.9, 10.1, 13.0, 5.7, 31.8 -> the cheapest merges take the lower limit each time.
        lambda p: (
            p["csChargingProfiles"]["chargingSchedule"]["chargingRateUnit"] == "A"
            and p["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"]
            == [
                {"startPeriod": 0, "limit": 10.1},
                {"startPeriod": 2700, "limit": 5.7},
                {"startPeriod": 3600, "limit": 31.8},
            ]
        ),
        "Accepted",
    ),
    (
        "station-max",
        lambda s: c.SetChargingProfile(
            station_id=s,
            evse_id=1,
            profile_id=1,
            purpose=c.ProfilePurpose.STATION_MAX,
            stack_level=0,
            unit="A",
            start=NOW,
            periods=(c.SchedulePeriod(start_offset_s=0, limit=32),),
        ),
        "SetChargingProfile",
        {"status": "Accepted"},
        lambda p: (
            p["connectorId"] == 0 and p["csChargingProfiles"]["chargingProfilePurpose"] == "ChargePointMaxProfile"
        ),
        "Accepted",
    ),
    (
        "clear-profile",
        lambda s: c.ClearChargingProfile(station_id=s, purpose=c.ProfilePurpose.TX_DEFAULT, stack_level=2),
        "ClearChargingProfile",
        {"status": "Unknown"},
        lambda p: p == {"chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 2},
        "Rejected",
    ),
    (
        "remote-start",
        lambda s: c.RemoteStart(station_id=s, evse_id=2, id_token="APP-1"),
        "RemoteStartTransaction",
        {"status": "Accepted"},
        lambda p: p == {"idTag": "APP-1", "connectorId": 2},
        "Accepted",
    ),
    (
        "reset",
        lambda s: c.Reset(station_id=s, kind=c.ResetKind.HARD),
        "Reset",
        {"status": "Accepted"},
        lambda p: p == {"type": "Hard"},
        "Accepted",
    ),
    (
        "availability",
        lambda s: c.ChangeAvailability(station_id=s, evse_id=0, operative=False),
        "ChangeAvailability",
        {"status": "Scheduled"},
        lambda p: p == {"connectorId": 0, "type": "Inoperative"},
        "Accepted",
    ),
    (
        "unlock",
        lambda s: c.UnlockConnector(station_id=s, evse_id=2),
        "UnlockConnector",
        {"status": "UnlockFailed"},
        lambda p: p == {"connectorId": 2},
        "Rejected",
    ),
]


@pytest.mark.parametrize(
    ("name", "build", "action", "answer", "check", "expected"), COMMANDS_16, ids=[row[0] for row in COMMANDS_16]
)
async def test_commands_reach_the_station_in_16_form(
    gateway: Runtime,
    tap: KafkaTap,
    shared: tuple[str, NodeStation],
    name: str,
    build: Callable[[str], Any],
    action: str,
    answer: dict[str, Any],
    check: Check,
    expected: str,
) -> None:
    station_id, station = shared
    station.handle(action, answer)
    issued = await issue(gateway.settings.kafka_bootstrap_servers, build(station_id))
    payload = await station.next_call(action)
    assert check(payload), payload
    result = await outcome(tap, issued)
    assert result["outcome"] == expected, result


async def test_data_answers_and_id_mappings(gateway: Runtime, tap: KafkaTap) -> None:
    """Answers that carry data become events; platform ids map to 1.6 integers and back."""
    kafka = gateway.settings.kafka_bootstrap_servers
    station_id, station = await booted(gateway, tap, "MAP16")
    try:
        station.handle(
            "GetCompositeSchedule",
            {
                "status": "Accepted",
                "connectorId": 1,
                "scheduleStart": wire(NOW),
                "chargingSchedule": {
                    "duration": 3600,
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}, {"startPeriod": 1800, "limit": 8.5}],
                },
            },
        )
        issued = await issue(kafka, c.GetCompositeSchedule(station_id=station_id, evse_id=1, duration_s=3600, unit="A"))
        assert await station.next_call("GetCompositeSchedule") == {
            "connectorId": 1,
            "duration": 3600,
            "chargingRateUnit": "A",
        }
        assert (await outcome(tap, issued))["outcome"] == "Accepted"
        composite = await tap.wait("station.events", for_station(station_id, _type="CompositeScheduleReported"))
        assert composite["command_id"] == issued.command_id and composite["unit"] == "A"
        assert [(p["start_offset_s"], p["limit"]) for p in composite["periods"]] == [(0, 16.0), (1800, 8.5)]

        station.handle(
            "GetConfiguration",
            {
                "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
                "unknownKey": ["Nope"],
            },
        )
        issued = await issue(
            kafka,
            c.GetConfiguration(
                station_id=station_id,
                keys=(c.ConfigurationKey(variable="HeartbeatInterval"), c.ConfigurationKey(variable="Nope")),
            ),
        )
        assert (await station.next_call("GetConfiguration")) == {"key": ["HeartbeatInterval", "Nope"]}
        config = await tap.wait("station.events", for_station(station_id, _type="ConfigurationReported"))
        assert [(v["variable"], v["value"], v["status"]) for v in config["values"]] == [
            ("HeartbeatInterval", "300", "Accepted"),
            ("Nope", None, "UnknownVariable"),
        ]

        # ReserveNow then CancelReservation: the same integer reservationId.
        station.handle("ReserveNow", {"status": "Accepted"})
        station.handle("CancelReservation", {"status": "Accepted"})
        await issue(
            kafka, c.ReserveNow(station_id=station_id, evse_id=1, reservation_id="RES-X", id_token="T", expires_at=NOW)
        )
        reserved = await station.next_call("ReserveNow")
        issued = await issue(kafka, c.CancelReservation(station_id=station_id, reservation_id="RES-X"))
        assert (await station.next_call("CancelReservation"))["reservationId"] == reserved["reservationId"]
        assert (await outcome(tap, issued))["outcome"] == "Accepted"

        # RemoteStop with the platform's UUID reaches the station as its integer transactionId.
        start = await station.call(
            "StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": wire(datetime.now(UTC))}
        )
        started = await tap.wait("transaction.events", for_station(station_id, kind="Started"))
        station.handle("RemoteStopTransaction", {"status": "Accepted"})
        issued = await issue(kafka, c.RemoteStop(station_id=station_id, transaction_id=started["transaction_id"]))
        assert await station.next_call("RemoteStopTransaction") == {"transactionId": start["transactionId"]}
        assert (await outcome(tap, issued))["outcome"] == "Accepted"
    finally:
        await close_node_station(station)


async def test_a_station_that_does_not_answer_times_out(gateway: Runtime, tap: KafkaTap) -> None:
    station_id, station = await booted(gateway, tap, "MUTE16")
    try:
        # Not scripted: ocpp-rpc answers NotImplemented, which is reported as NotSupported.
        issued = await issue(gateway.settings.kafka_bootstrap_servers, c.ClearCache(station_id=station_id))
        assert (await outcome(tap, issued))["outcome"] == "NotSupported"
    finally:
        await close_node_station(station)
