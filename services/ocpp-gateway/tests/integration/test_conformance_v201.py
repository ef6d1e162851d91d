"""OCPP 2.0.1 conformance, driven by an independent charge point (ocpp-rpc in strict mode: every
frame both ways validated against the official 2.0.1 JSON schemas), asserting the OCPP answer and
the normalised event on Kafka. Runs on SQLite and PostgreSQL (the `gateway` fixture)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from chargeyard_contracts import commands as c
from chargeyard_platform.runtime import Runtime

from .conformance_kit import (
    KafkaTap,
    NodeStation,
    a_station_id,
    close_node_station,
    for_station,
    issue,
    open_node_station,
    outcome,
    wire,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

VARIABLES = {("SmartChargingCtrlr", "RateUnit"): "A,W", ("SmartChargingCtrlr", "PeriodsPerSchedule"): "2"}
NOW = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tap(gateway: Runtime) -> AsyncIterator[KafkaTap]:
    tap = KafkaTap(gateway.settings.kafka_bootstrap_servers)
    await tap.start()
    yield tap
    await tap.stop()


async def booted(gateway: Runtime, tap: KafkaTap, prefix: str = "N201") -> tuple[str, NodeStation]:
    station_id = a_station_id(prefix)
    station = await open_node_station(gateway, station_id, "ocpp2.0.1")
    station.handle(
        "GetVariables",
        {
            "getVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "component": {"name": comp},
                    "variable": {"name": var},
                    "attributeValue": v,
                }
                for (comp, var), v in VARIABLES.items()
            ]
        },
    )
    boot = await station.call(
        "BootNotification", {"chargingStation": {"model": "RPC-201", "vendorName": "Indep"}, "reason": "PowerUp"}
    )
    assert boot["status"] == "Accepted"
    registered = await tap.wait("station.registered", for_station(station_id))
    assert registered["capabilities"]["max_schedule_periods"] == 2
    return station_id, station


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(gateway: Runtime, tap: KafkaTap) -> AsyncIterator[tuple[str, NodeStation]]:
    """One booted station for the tables below: a fresh process per row would cost a second each."""
    station_id, station = await booted(gateway, tap, "SHR201")
    yield station_id, station
    await close_node_station(station)


async def test_station_messages_are_answered_and_normalised(gateway: Runtime, tap: KafkaTap) -> None:
    station_id, station = await booted(gateway, tap)
    try:
        now = datetime.now(UTC)
        assert (await station.call("Heartbeat", {}))["currentTime"]
        await station.call(
            "StatusNotification", {"timestamp": wire(now), "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1}
        )
        assert (await tap.wait("station.status", for_station(station_id, evse_id=1)))["status"] == "Occupied"
        auth = await station.call("Authorize", {"idToken": {"idToken": "RFID-1", "type": "ISO14443"}})
        assert auth["idTokenInfo"]["status"] == "Accepted"

        # Per-phase-only import register in kWh with a multiplier, SoC; the station's clock 10 min slow.
        skewed = now - timedelta(minutes=10)
        await station.call(
            "MeterValues",
            {
                "evseId": 1,
                "meterValue": [
                    {
                        "timestamp": wire(skewed),
                        "sampledValue": [
                            {
                                "value": 2.0,
                                "measurand": "Energy.Active.Import.Register",
                                "phase": "L1",
                                "unitOfMeasure": {"unit": "kWh"},
                            },
                            {
                                "value": 20,
                                "measurand": "Energy.Active.Import.Register",
                                "phase": "L2",
                                "unitOfMeasure": {"unit": "Wh", "multiplier": 2},
                            },
                            {"value": 16.0, "measurand": "Current.Import", "phase": "L2"},
                            {"value": 42, "measurand": "SoC", "unitOfMeasure": {"unit": "Percent"}},
                        ],
                    }
                ],
            },
        )
        meter = await tap.wait("meter.values", for_station(station_id, evse_id=1))
        assert meter["energy_wh"] == 4000 and meter["soc_percent"] == 42 and meter["clock_skew_flagged"] is True
        assert meter["phases"] == [{"phase": "L2", "power_w": None, "current_a": 16.0, "voltage_v": None}]

        # A transaction started offline yesterday, reported late; its id is this station's only.
        yesterday = now - timedelta(days=1)
        tx = await station.call(
            "TransactionEvent",
            {
                "eventType": "Started",
                "timestamp": wire(yesterday),
                "triggerReason": "Authorized",
                "seqNo": 0,
                "offline": True,
                "transactionInfo": {"transactionId": "1"},
                "evse": {"id": 1, "connectorId": 1},
                "idToken": {"idToken": "RFID-1", "type": "ISO14443"},
                "meterValue": [
                    {
                        "timestamp": wire(yesterday),
                        "sampledValue": [
                            {
                                "value": 1.5,
                                "measurand": "Energy.Active.Import.Register",
                                "unitOfMeasure": {"unit": "kWh"},
                            }
                        ],
                    }
                ],
            },
        )
        assert tx["idTokenInfo"]["status"] == "Accepted"
        started = await tap.wait("transaction.events", for_station(station_id, kind="Started"))
        assert started["offline"] is True and started["meter_wh"] == 1500 and started["transaction_id"] != "1"
        assert str(uuid.UUID(started["transaction_id"])) == started["transaction_id"]

        needs = await station.call(
            "NotifyEVChargingNeeds",
            {
                "evseId": 1,
                "maxScheduleTuples": 12,
                "chargingNeeds": {
                    "requestedEnergyTransfer": "AC_three_phase",
                    "departureTime": wire(now + timedelta(hours=3)),
                    "acChargingParameters": {
                        "energyAmount": 24000,
                        "evMinCurrent": 6,
                        "evMaxCurrent": 16,
                        "evMaxVoltage": 400,
                    },
                },
            },
        )
        assert needs["status"] == "Processing"
        reported = await tap.wait("ev.charging-needs", for_station(station_id))
        assert (reported["energy_wh"], reported["max_current_a"], reported["min_current_a"]) == (24000, 16, 6)
        assert reported["transaction_id"] == started["transaction_id"] and reported["max_schedule_tuples"] == 12
        assert reported["departure_time"].startswith(wire(now + timedelta(hours=3))[:19])

        await station.call(
            "NotifyEvent",
            {
                "generatedAt": wire(now),
                "seqNo": 0,
                "eventData": [
                    {
                        "eventId": 9,
                        "timestamp": wire(now),
                        "trigger": "Alerting",
                        "actualValue": "true",
                        "techCode": "E-17",
                        "techInfo": "RCD tripped",
                        "eventNotificationType": "HardWiredNotification",
                        "transactionId": "1",
                        "component": {"name": "RCD", "evse": {"id": 1}},
                        "variable": {"name": "Tripped"},
                    }
                ],
            },
        )
        event = await tap.wait("station.events", for_station(station_id, _type="StationEventReported"))
        assert (event["tech_code"], event["component"], event["evse_id"]) == ("E-17", "RCD", 1)
        assert event["transaction_id"] == started["transaction_id"]

        await station.call("SecurityEventNotification", {"type": "TamperDetectionActivated", "timestamp": wire(now)})
        security = await tap.wait("station.events", for_station(station_id, _type="SecurityEventReported"))
        assert security["type"] == "TamperDetectionActivated"
        await station.call("FirmwareStatusNotification", {"status": "Installed", "requestId": 5})
        firmware = await tap.wait("station.events", for_station(station_id, _type="FirmwareStatusChanged"))
        assert (firmware["status"], firmware["request_id"]) == ("Installed", 5)
        await station.call("LogStatusNotification", {"status": "Uploaded", "requestId": 6})
        logs = await tap.wait("station.events", for_station(station_id, _type="LogStatusChanged"))
        assert (logs["status"], logs["request_id"]) == ("Uploaded", 6)
        assert (await station.call("DataTransfer", {"vendorId": "acme"}))["status"] == "UnknownVendorId"

        # Ended: kWh register -> Wh; RequestStopTransaction first maps the UUID back to "1".
        station.handle("RequestStopTransaction", {"status": "Accepted"})
        issued = await issue(
            gateway.settings.kafka_bootstrap_servers,
            c.RemoteStop(station_id=station_id, transaction_id=started["transaction_id"]),
        )
        assert await station.next_call("RequestStopTransaction") == {"transactionId": "1"}
        assert (await outcome(tap, issued))["outcome"] == "Accepted"
        await station.call(
            "TransactionEvent",
            {
                "eventType": "Ended",
                "timestamp": wire(now),
                "triggerReason": "RemoteStop",
                "seqNo": 1,
                "transactionInfo": {"transactionId": "1", "stoppedReason": "Remote"},
                "meterValue": [
                    {"timestamp": wire(now), "sampledValue": [{"value": 9.25, "unitOfMeasure": {"unit": "kWh"}}]}
                ],
            },
        )
        ended = await tap.wait("transaction.events", for_station(station_id, kind="Ended"))
        assert (ended["transaction_id"], ended["meter_wh"], ended["reason"]) == (
            started["transaction_id"],
            9250,
            "Remote",
        )
    finally:
        await close_node_station(station)


async def test_the_same_station_transaction_id_on_two_stations_is_two_transactions(
    gateway: Runtime, tap: KafkaTap
) -> None:
    ids = []
    for _ in range(2):
        station_id, station = await booted(gateway, tap, "DUP201")
        try:
            await station.call(
                "TransactionEvent",
                {
                    "eventType": "Started",
                    "timestamp": wire(datetime.now(UTC)),
                    "triggerReason": "CablePluggedIn",
                    "seqNo": 0,
                    "transactionInfo": {"transactionId": "TX-1"},
                    "evse": {"id": 1, "connectorId": 1},
                },
            )
            started = await tap.wait("transaction.events", for_station(station_id, kind="Started"))
            ids.append(started["transaction_id"])
        finally:
            await close_node_station(station)
    assert ids[0] != ids[1]


# --- protocol discipline: OCPP 2.0.1 Part 4 §4.3 error codes ------------------------------------------


@pytest.mark.parametrize(
    ("frame", "answer_id", "code"),
    [
        ("{broken", "-1", "RpcFrameworkError"),
        ('[2, 17, "Heartbeat", {}]', "-1", "RpcFrameworkError"),
        ('[6, "m-1", "Heartbeat", {}]', "m-1", "MessageTypeNotSupported"),
        ('[2, "m-2", "Heartbeat", {"extra": true}]', "m-2", "FormatViolation"),
        (
            '[2, "m-3", "StatusNotification", {"timestamp": "2025-01-01T00:00:00Z", "connectorStatus": "Available", '
            '"evseId": "1", "connectorId": 1}]',
            "m-3",
            "TypeConstraintViolation",
        ),
        (
            '[2, "m-4", "StatusNotification", {"timestamp": "2025-01-01T00:00:00Z", "connectorStatus": "Asleep", '
            '"evseId": 1, "connectorId": 1}]',
            "m-4",
            "PropertyConstraintViolation",
        ),
        ('[2, "m-5", "MeterValues", {"evseId": 1, "meterValue": []}]', "m-5", "OccurrenceConstraintViolation"),
        ('[2, "m-6", "Authorize", {}]', "m-6", "ProtocolError"),
        ('[2, "m-7", "RequestStartTransaction", {}]', "m-7", "NotSupported"),
        ('[2, "m-8", "Teleport", {}]', "m-8", "NotImplemented"),
    ],
)
async def test_malformed_frames_get_the_201_call_error(
    shared: tuple[str, NodeStation], frame: str, answer_id: str, code: str
) -> None:
    _, station = shared
    error = await station.raw(frame, answer_id)
    assert error[2] == code, error
    assert (await station.call("Heartbeat", {}))["currentTime"]  # the session survives


# --- CSMS -> station ----------------------------------------------------------------------------------

Check = Callable[[dict[str, Any]], bool]
COMMANDS_201: list[tuple[str, Callable[[str], Any], str, dict[str, Any], Check, str]] = [
    (
        "reserve",
        lambda s: c.ReserveNow(station_id=s, evse_id=1, reservation_id="R-9", id_token="TAG", expires_at=NOW),
        "ReserveNow",
        {"status": "Accepted"},
        lambda p: (
            p["evseId"] == 1 and p["idToken"] == {"idToken": "TAG", "type": "ISO14443"} and isinstance(p["id"], int)
        ),
        "Accepted",
    ),
    (
        "cancel",
        lambda s: c.CancelReservation(station_id=s, reservation_id="R-unknown"),
        "CancelReservation",
        {"status": "Rejected"},
        lambda p: isinstance(p["reservationId"], int),
        "Rejected",
    ),
    (
        "firmware",
        lambda s: c.UpdateFirmware(station_id=s, location="https://fw.example/2.bin", retrieve_at=NOW, request_id=77),
        "UpdateFirmware",
        {"status": "Accepted"},
        lambda p: p["requestId"] == 77 and p["firmware"]["location"] == "https://fw.example/2.bin",
        "Accepted",
    ),
    (
        "local-list",
        lambda s: c.SendLocalList(
            station_id=s, version=3, entries=(c.LocalListEntry(id_token="A1", id_token_type="eMAID"),)
        ),
        "SendLocalList",
        {"status": "Accepted"},
        lambda p: (
            p["versionNumber"] == 3
            and p["updateType"] == "Full"
            and p["localAuthorizationList"]
            == [{"idToken": {"idToken": "A1", "type": "eMAID"}, "idTokenInfo": {"status": "Accepted"}}]
        ),
        "Accepted",
    ),
    (
        "list-version",
        lambda s: c.GetLocalListVersion(station_id=s),
        "GetLocalListVersion",
        {"versionNumber": 3},
        lambda p: p == {},
        "Accepted",
    ),
    (
        "clear-cache",
        lambda s: c.ClearCache(station_id=s),
        "ClearCache",
        {"status": "Rejected"},
        lambda p: p == {},
        "Rejected",
    ),
    (
        "get-log",
        lambda s: c.GetLog(station_id=s, location="https://logs.example/up", log_type="SecurityLog", request_id=12),
        "GetLog",
        {"status": "Accepted", "filename": "sec.log"},
        lambda p: (
            p["logType"] == "SecurityLog"
            and p["requestId"] == 12
            and p["log"]["remoteLocation"] == "https://logs.example/up"
        ),
        "Accepted",
    ),
    (
        "set-variable",
        lambda s: c.SetConfiguration(
            station_id=s, component="OCPPCommCtrlr", variable="HeartbeatInterval", value="120"
        ),
        "SetVariables",
        {
            "setVariableResult": [
                {
                    "attributeStatus": "UnknownVariable",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                }
            ]
        },
        lambda p: p["setVariableData"][0]["attributeValue"] == "120",
        "NotSupported",
    ),
    (
        "trigger",
        lambda s: c.TriggerMessage(station_id=s, message="DiagnosticsStatusNotification"),
        "TriggerMessage",
        {"status": "Accepted"},
        lambda p: p["requestedMessage"] == "LogStatusNotification",
        "Accepted",
    ),
    (
        "profile",
        lambda s: c.SetChargingProfile(
            station_id=s,
            evse_id=1,
            profile_id=4,
            purpose=c.ProfilePurpose.TX_DEFAULT,
            stack_level=2,
            unit="W",
            start=NOW,
            periods=tuple(
                c.SchedulePeriod(start_offset_s=600 * i, limit=w) for i, w in enumerate([11000, 3000, 11000])
            ),
        ),
        "SetChargingProfile",
        {"status": "Accepted"},
        # 3 periods for a 2-period station: the first two merge to the lower limit (never raised), the
        # open-ended last one stays; W kept (the station takes W).
        lambda p: (
            p["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"]
            == [{"startPeriod": 0, "limit": 3000.0}, {"startPeriod": 1200, "limit": 11000.0}]
        ),
        "Accepted",
    ),
    (
        "clear-profile",
        lambda s: c.ClearChargingProfile(station_id=s, profile_id=4),
        "ClearChargingProfile",
        {"status": "Accepted"},
        lambda p: p == {"chargingProfileId": 4},
        "Accepted",
    ),
    (
        "remote-start",
        lambda s: c.RemoteStart(station_id=s, evse_id=1, id_token="APP-2"),
        "RequestStartTransaction",
        {"status": "Accepted"},
        lambda p: p["idToken"] == {"idToken": "APP-2", "type": "Central"},
        "Accepted",
    ),
    (
        "reset",
        lambda s: c.Reset(station_id=s),
        "Reset",
        {"status": "Scheduled"},
        lambda p: p == {"type": "OnIdle"},
        "Accepted",
    ),
    (
        "availability",
        lambda s: c.ChangeAvailability(station_id=s, evse_id=1, operative=True),
        "ChangeAvailability",
        {"status": "Accepted"},
        lambda p: p == {"operationalStatus": "Operative", "evse": {"id": 1}},
        "Accepted",
    ),
    (
        "unlock",
        lambda s: c.UnlockConnector(station_id=s, evse_id=1),
        "UnlockConnector",
        {"status": "Unlocked"},
        lambda p: p == {"evseId": 1, "connectorId": 1},
        "Accepted",
    ),
]


@pytest.mark.parametrize(
    ("name", "build", "action", "answer", "check", "expected"), COMMANDS_201, ids=[row[0] for row in COMMANDS_201]
)
async def test_commands_reach_the_station_in_201_form(
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
    assert (await outcome(tap, issued))["outcome"] == expected


async def test_data_answers_become_events(gateway: Runtime, tap: KafkaTap) -> None:
    kafka = gateway.settings.kafka_bootstrap_servers
    station_id, station = await booted(gateway, tap, "DATA201")
    try:
        station.handle(
            "GetCompositeSchedule",
            {
                "status": "Accepted",
                "schedule": {
                    "evseId": 1,
                    "duration": 900,
                    "scheduleStart": wire(NOW),
                    "chargingRateUnit": "W",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400.0, "numberPhases": 1}],
                },
            },
        )
        issued = await issue(kafka, c.GetCompositeSchedule(station_id=station_id, evse_id=1, duration_s=900))
        assert await station.next_call("GetCompositeSchedule") == {"duration": 900, "evseId": 1}
        composite = await tap.wait("station.events", for_station(station_id, _type="CompositeScheduleReported"))
        assert composite["command_id"] == issued.command_id
        assert composite["periods"] == [{"start_offset_s": 0, "limit": 7400.0, "phases": 1}]

        station.handle("ReserveNow", {"status": "Accepted"})
        await issue(
            kafka,
            c.ReserveNow(station_id=station_id, evse_id=1, reservation_id="PLAT-RES-1", id_token="T", expires_at=NOW),
        )
        number = (await station.next_call("ReserveNow"))["id"]
        await station.call("ReservationStatusUpdate", {"reservationId": number, "reservationUpdateStatus": "Expired"})
        expired = await tap.wait("station.events", for_station(station_id, _type="ReservationStatusChanged"))
        assert (expired["reservation_id"], expired["status"]) == ("PLAT-RES-1", "Expired")
    finally:
        await close_node_station(station)
