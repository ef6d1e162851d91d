"""Conformance driven by the project's own charge point: the simulator (chargeyard_simulator, a
charge point on the `ocpp` library, none of the gateway's code), for every message of OCPP 1.6J
and 2.0.1 the gateway handles, asserting the answer the simulator got and the normalised event on
Kafka. The negative cases run on the simulator's own behaviour: a meter in kWh that reports per
phase only, a transaction started and ended while offline and reported late, a clock 10 minutes
fast. The ocpp-rpc suites (test_conformance_v16/v201) are the second, independent implementation.

SQLite only: the database adapters are covered on both databases by the ocpp-rpc suites."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from chargeyard_contracts import commands as c
from chargeyard_gateway.bootstrap import bootstrap, gateway_of
from chargeyard_platform.runtime import Runtime, create_app
from chargeyard_simulator import Car, EvseConfig, Misbehaviour, Station, StationConfig
from chargeyard_simulator.clock import parse_ocpp_time
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from .conformance_kit import TIMEOUT, KafkaTap, a_station_id, for_station, issue, outcome
from .conftest import gateway_settings, operator

pytestmark = pytest.mark.asyncio(loop_scope="module")

VERSIONS = ["1.6", "2.0.1"]
SKEW_THRESHOLD_S = 3.0
"""Small, so that a transaction kept offline for a few real seconds counts as late (OCPP 1.6 has no
offline flag: the gateway infers it from the timestamp)."""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(topics: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Runtime]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('gw-sim') / 'gateway.db'}"
    runtime = bootstrap(gateway_settings(url, topics, clock_skew_threshold_s=SKEW_THRESHOLD_S))
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tap(gateway: Runtime) -> AsyncIterator[KafkaTap]:
    tap = KafkaTap(gateway.settings.kafka_bootstrap_servers)
    await tap.start()
    yield tap
    await tap.stop()


@asynccontextmanager
async def simulated(gateway: Runtime, version: str, **config: Any) -> AsyncIterator[Station]:
    await asyncio.wait_for(gateway_of(gateway).server.listening.wait(), TIMEOUT)
    station = Station(
        StationConfig.model_validate(
            {
                "station_id": a_station_id("SIM" + version.replace(".", "")),
                "ocpp_version": version,
                "url": f"ws://127.0.0.1:{gateway.settings.ocpp_port}/ocpp",  # type: ignore[attr-defined]
                "reconnect_min_s": 0.2,
                "reconnect_max_s": 0.5,
                "response_timeout_s": 30,
                "meter_interval_s": 1,
                "allowed_rate_units": ["A"],
                "max_schedule_periods": 3,
                **config,
            }
        )
    )
    task = asyncio.create_task(station.run())
    try:
        await asyncio.wait_for(station.wait_connected(), TIMEOUT)
        yield station
    finally:
        station.stop()
        await asyncio.wait_for(task, TIMEOUT)


def a_car() -> Car:
    return Car(battery_wh=60_000, soc_percent=30, max_power_w=11_000, phases=3, target_soc=90)


def near(a: str, b: datetime, seconds: float) -> bool:
    return abs(parse_ocpp_time(a) - b) <= timedelta(seconds=seconds)


async def journal(
    gateway: Runtime, station_id: str, until: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """The station's journal, once `until` holds (the journal is written behind the answers)."""
    transport = httpx.ASGITransport(app=create_app(gateway))
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://gw", headers=operator()) as http,
        asyncio.timeout(30),
    ):
        while True:
            entries: list[dict[str, Any]] = (
                await http.get(f"/v1/stations/{station_id}/journal", params={"limit": 1000})
            ).json()
            if until(entries):
                return entries
            await asyncio.sleep(0.2)


# --- station -> central system: what the simulated behaviour sends ------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_boot_status_transaction_and_meter_values(gateway: Runtime, tap: KafkaTap, version: str) -> None:
    async with simulated(gateway, version, evses=[EvseConfig(), EvseConfig(max_power_w=22_000)]) as station:
        sid = station.id
        # BootNotification -> capabilities learned by GetConfiguration / GetVariables at boot.
        registered = await tap.wait("station.registered", for_station(sid))
        assert registered["capabilities"]["allowed_rate_units"] == ["A"]
        assert registered["capabilities"]["max_schedule_periods"] == 3
        assert registered["vendor"] == "Chargeyard" and registered["model"] == "SimBox"
        for evse in (1, 2):  # StatusNotification per EVSE after boot (1.6 §4.9, 2.0.1 B01)
            assert (await tap.wait("station.status", for_station(sid, evse_id=evse)))["status"] == "Available"

        station.plug_in(1, a_car(), "SIM-TAG")
        started = await tap.wait("transaction.events", for_station(sid, kind="Started"))
        assert started["evse_id"] == 1 and started["id_token"] == "SIM-TAG" and started["offline"] is False
        assert started["meter_wh"] == 0
        if version == "2.0.1":  # the station's own id is mapped to a platform id, as 1.6 integers are
            assert started["transaction_id"] != station.transaction(1).id  # type: ignore[union-attr]
        assert str(uuid.UUID(started["transaction_id"])) == started["transaction_id"]
        charging = "Charging" if version == "1.6" else "Occupied"  # each version's own connector status
        assert (await tap.wait("station.status", for_station(sid, evse_id=1, status=charging)))["status"]

        # Periodic samples: Wh register, total and per-phase power, per-phase current, SoC.
        reading = await tap.wait(
            "meter.values",
            lambda p: p["station_id"] == sid and p["transaction_id"] is not None and (p["energy_wh"] or 0) > 0,
        )
        assert reading["transaction_id"] == started["transaction_id"] and reading["energy_context"] == "Register"
        assert [p["phase"] for p in reading["phases"]] == ["L1", "L2", "L3"]
        assert 10_000 <= reading["power_w"] <= 11_000
        assert abs(sum(p["power_w"] for p in reading["phases"]) - reading["power_w"]) <= 3
        assert all(15 <= p["current_a"] <= 16.1 for p in reading["phases"])
        assert 30 <= reading["soc_percent"] <= 31 and reading["clock_skew_flagged"] is False

        station.unplug(1)
        ended = await tap.wait("transaction.events", for_station(sid, kind="Ended"))
        assert ended["transaction_id"] == started["transaction_id"] and ended["reason"] == "EVDisconnected"
        assert ended["meter_wh"] >= reading["energy_wh"]
        assert abs(ended["meter_wh"] - round(station.energy_wh(1))) <= 1

        # MeterValues outside a transaction (2.0.1 J01: the MeterValues message; 1.6 without transactionId).
        assert station.trigger_meter_values(2)
        idle = await tap.wait("meter.values", for_station(sid, evse_id=2, transaction_id=None))
        assert idle["energy_wh"] == 0 and idle["power_w"] == 0 and idle["energy_context"] == "Register"


@pytest.mark.parametrize("version", VERSIONS)
async def test_messages_outside_the_simulated_behaviour(gateway: Runtime, tap: KafkaTap, version: str) -> None:
    """The simulator's ChargePoint sends them as the station would (Station.send)."""
    async with simulated(gateway, version) as station:
        sid = station.id
        now = datetime.now(UTC)
        beat = await station.send(call16.Heartbeat() if version == "1.6" else call201.Heartbeat())
        assert near(beat.current_time, now, 5)
        if version == "1.6":
            assert (await station.send(call16.Authorize(id_tag="SIM-TAG"))).id_tag_info["status"] == "Accepted"
            assert (await station.send(call16.DataTransfer(vendor_id="acme"))).status == "UnknownVendorId"
            await station.send(call16.FirmwareStatusNotification(status="Installing"))
            firmware = await tap.wait("station.events", for_station(sid, _type="FirmwareStatusChanged"))
            assert firmware["status"] == "Installing"
            await station.send(call16.DiagnosticsStatusNotification(status="UploadFailed"))
            logs = await tap.wait("station.events", for_station(sid, _type="LogStatusChanged"))
            assert logs["status"] == "UploadFailed"
            return

        token = {"id_token": "SIM-TAG", "type": "ISO14443"}
        assert (await station.send(call201.Authorize(id_token=token))).id_token_info["status"] == "Accepted"
        assert (await station.send(call201.DataTransfer(vendor_id="acme"))).status == "UnknownVendorId"
        station.plug_in(1, a_car(), "SIM-TAG")
        started = await tap.wait("transaction.events", for_station(sid, kind="Started"))
        departure = now + timedelta(hours=3)
        needs = await station.send(
            call201.NotifyEVChargingNeeds(
                evse_id=1,
                max_schedule_tuples=12,
                charging_needs={
                    "requested_energy_transfer": "AC_three_phase",
                    "departure_time": departure.isoformat(),
                    "ac_charging_parameters": {
                        "energy_amount": 24_000,
                        "ev_min_current": 6,
                        "ev_max_current": 16,
                        "ev_max_voltage": 400,
                    },
                },
            )
        )
        assert needs.status in {"Accepted", "Processing"}
        reported = await tap.wait("ev.charging-needs", for_station(sid))
        assert (reported["energy_wh"], reported["max_current_a"], reported["min_current_a"]) == (24_000, 16, 6)
        assert reported["transaction_id"] == started["transaction_id"] and reported["max_schedule_tuples"] == 12
        assert near(reported["departure_time"], departure, 1)

        await station.send(
            call201.NotifyEvent(
                generated_at=now.isoformat(),
                seq_no=0,
                event_data=[
                    {
                        "event_id": 1,
                        "timestamp": now.isoformat(),
                        "trigger": "Alerting",
                        "actual_value": "Tripped",
                        "tech_code": "E-17",
                        "event_notification_type": "HardWiredNotification",
                        "component": {"name": "RCD", "evse": {"id": 1}},
                        "variable": {"name": "Tripped"},
                        "transaction_id": station.transaction(1).id,  # type: ignore[union-attr]
                    }
                ],
            )
        )
        event = await tap.wait("station.events", for_station(sid, _type="StationEventReported"))
        assert (event["tech_code"], event["component"], event["evse_id"]) == ("E-17", "RCD", 1)
        assert event["transaction_id"] == started["transaction_id"]
        await station.send(
            call201.SecurityEventNotification(type="TamperDetectionActivated", timestamp=now.isoformat())
        )
        security = await tap.wait("station.events", for_station(sid, _type="SecurityEventReported"))
        assert security["type"] == "TamperDetectionActivated"
        await station.send(call201.FirmwareStatusNotification(status="InstallVerificationFailed", request_id=9))
        firmware = await tap.wait("station.events", for_station(sid, _type="FirmwareStatusChanged"))
        assert (firmware["status"], firmware["request_id"]) == ("InstallVerificationFailed", 9)
        await station.send(call201.LogStatusNotification(status="Uploaded", request_id=8))
        logs = await tap.wait("station.events", for_station(sid, _type="LogStatusChanged"))
        assert (logs["status"], logs["request_id"]) == ("Uploaded", 8)

        # Answered and kept in the journal only (no platform event): the answer is what conformance asks.
        limit = {"charging_limit_source": "EMS"}
        schedule = {"id": 1, "charging_rate_unit": "A", "charging_schedule_period": [{"start_period": 0, "limit": 16}]}
        journaled = [
            call201.NotifyReport(request_id=1, generated_at=now.isoformat(), seq_no=0),
            call201.NotifyChargingLimit(charging_limit=limit),
            call201.ClearedChargingLimit(charging_limit_source="EMS"),
            call201.NotifyEVChargingSchedule(time_base=now.isoformat(), evse_id=1, charging_schedule=schedule),
            call201.ReportChargingProfiles(
                request_id=1,
                charging_limit_source="CSO",
                evse_id=1,
                charging_profile=[
                    {
                        "id": 1,
                        "stack_level": 0,
                        "charging_profile_purpose": "TxDefaultProfile",
                        "charging_profile_kind": "Absolute",
                        "charging_schedule": [schedule],
                    }
                ],
            ),
            call201.NotifyMonitoringReport(request_id=1, seq_no=0, generated_at=now.isoformat()),
            call201.NotifyCustomerInformation(data="none", seq_no=0, generated_at=now.isoformat(), request_id=1),
            call201.NotifyDisplayMessages(request_id=1),
            call201.PublishFirmwareStatusNotification(status="Published", location=["https://fw.example/"]),
        ]
        for payload in journaled:
            await station.send(payload)
        expected = {(d, t, type(p).__name__) for p in journaled for d, t in (("in", "Call"), ("out", "CallResult"))}
        entries = await journal(
            gateway, sid, lambda es: expected <= {(e["direction"], e["message_type"], e["action"]) for e in es}
        )
        assert not [e for e in entries if e["message_type"] == "CallError"]


# --- the negative cases ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_kwh_meter_that_reports_per_phase_only(gateway: Runtime, tap: KafkaTap, version: str) -> None:
    async with simulated(gateway, version, meter_energy_unit="kWh", meter_per_phase_only=True) as station:
        sid = station.id
        station.plug_in(1, a_car(), "SIM-TAG")
        reading = await tap.wait(
            "meter.values",
            lambda p: p["station_id"] == sid and p["transaction_id"] is not None and (p["energy_wh"] or 0) > 0,
        )
        # No total register and no total power on the wire: the gateway sums the phases, in Wh.
        assert reading["power_w"] is None and reading["energy_context"] == "Register"
        assert [p["phase"] for p in reading["phases"]] == ["L1", "L2", "L3"]
        assert all(3_300 <= p["power_w"] <= 3_700 for p in reading["phases"])

        def registers(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
            """The energy values of the frame the reading came from, as the station sent them."""
            return [
                v
                for e in entries
                if e["direction"] == "in" and e["action"] in {"MeterValues", "TransactionEvent"}
                for mv in json.loads(e["frame"])[3].get("meterValue", [])
                if parse_ocpp_time(mv["timestamp"]) == parse_ocpp_time(reading["station_timestamp"])
                for v in mv["sampledValue"]
                if v.get("measurand") == "Energy.Active.Import.Register"
            ]

        sent = registers(await journal(gateway, sid, lambda es: bool(registers(es))))
        units = {v["unit"] if version == "1.6" else v["unitOfMeasure"]["unit"] for v in sent}
        assert units == {"kWh"} and {v["phase"] for v in sent} == {"L1", "L2", "L3"}
        assert reading["energy_wh"] == round(sum(float(v["value"]) for v in sent) * 1000)


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_transaction_started_offline_is_reported_late_in_order(
    gateway: Runtime, tap: KafkaTap, version: str
) -> None:
    async with simulated(gateway, version) as station:
        sid = station.id
        await tap.wait("station.registered", for_station(sid))
        offline_for = 2 * SKEW_THRESHOLD_S + 1
        station.go_offline(offline_for)
        await asyncio.sleep(0.5)
        plugged_at = datetime.now(UTC)
        station.plug_in(1, a_car(), "SIM-TAG")
        await asyncio.sleep(2)
        station.unplug(1)
        assert station.queued_messages(), "the transaction's messages wait for the connection"

        started = await tap.wait("transaction.events", for_station(sid, kind="Started"))
        ended = await tap.wait("transaction.events", for_station(sid, kind="Ended"))
        assert started["offline"] is True and ended["transaction_id"] == started["transaction_id"]
        assert near(started["station_timestamp"], plugged_at, 1.5)  # its own time, not the arrival
        received = parse_ocpp_time(started["received_at"])
        assert received - parse_ocpp_time(started["station_timestamp"]) > timedelta(seconds=SKEW_THRESHOLD_S)
        assert parse_ocpp_time(ended["station_timestamp"]) > parse_ocpp_time(started["station_timestamp"])
        assert ended["meter_wh"] > started["meter_wh"]
        offline_readings = tap.all("meter.values", for_station(sid, transaction_id=started["transaction_id"]))
        stamps = [parse_ocpp_time(r["station_timestamp"]) for r in offline_readings]
        assert stamps == sorted(stamps)
        assert all(
            parse_ocpp_time(started["station_timestamp"]) <= t <= parse_ocpp_time(ended["station_timestamp"])
            for t in stamps
        )


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_station_clock_ten_minutes_fast_is_flagged(gateway: Runtime, tap: KafkaTap, version: str) -> None:
    async with simulated(gateway, version, misbehaviour=Misbehaviour(clock_skew_s=600)) as station:
        sid = station.id
        station.plug_in(1, a_car(), "SIM-TAG")
        reading = await tap.wait("meter.values", for_station(sid, clock_skew_flagged=True))
        skew = parse_ocpp_time(reading["station_timestamp"]) - parse_ocpp_time(reading["received_at"])
        assert timedelta(seconds=590) < skew < timedelta(seconds=610)  # kept as sent, next to the receive time
        started = await tap.wait("transaction.events", for_station(sid, kind="Started"))
        assert near(started["station_timestamp"], datetime.now(UTC) + timedelta(seconds=600), 30)


# --- central system -> station: every station.commands command, answered by the simulator ---------------

NOW = datetime(2030, 6, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("version", VERSIONS)
async def test_every_command_reaches_the_simulator(gateway: Runtime, tap: KafkaTap, version: str) -> None:
    kafka = gateway.settings.kafka_bootstrap_servers
    async with simulated(gateway, version, evses=[EvseConfig(), EvseConfig()]) as station:
        sid = station.id
        await tap.wait("station.registered", for_station(sid))

        async def run(command: Any) -> dict[str, Any]:
            return await outcome(tap, await issue(kafka, command))

        # Smart charging: 5 periods in W for a 3-period, A-only station -> merged and converted.
        profile = c.SetChargingProfile(
            station_id=sid,
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
        )
        assert (await run(profile))["outcome"] == "Accepted"
        [installed] = station.installed_profiles(1)
        assert installed.rate_unit.value == "A" and len(installed.periods) <= 3
        assert max(p.limit for p in installed.periods) <= 32  # no limit raised: 22 kW is 31.8 A per phase
        issued = await issue(kafka, c.GetCompositeSchedule(station_id=sid, evse_id=1, duration_s=3600, unit="A"))
        assert (await outcome(tap, issued))["outcome"] == "Accepted"
        composite = await tap.wait("station.events", for_station(sid, _type="CompositeScheduleReported"))
        assert composite["command_id"] == issued.command_id and composite["unit"] == "A"
        cleared = c.ClearChargingProfile(station_id=sid, purpose=c.ProfilePurpose.TX_DEFAULT, stack_level=2)
        assert (await run(cleared))["outcome"] == "Accepted"
        assert station.installed_profiles(1) == []

        # Reservation, then its cancellation with the same OCPP reservation id.
        expiry = datetime.now(UTC) + timedelta(hours=1)
        reserve = c.ReserveNow(station_id=sid, evse_id=2, reservation_id="RES-SIM", id_token="T1", expires_at=expiry)
        assert (await run(reserve))["outcome"] == "Accepted"
        assert (await tap.wait("station.status", for_station(sid, evse_id=2, status="Reserved")))["status"]
        number = station.evse(2).reservation.id  # type: ignore[union-attr]  # the OCPP integer the station got
        assert (await run(c.CancelReservation(station_id=sid, reservation_id="RES-SIM")))["outcome"] == "Accepted"
        assert station.evse(2).reservation is None
        if version == "2.0.1":  # H05: the station reports a reservation's end; mapped back to the platform's id
            await station.send(
                call201.ReservationStatusUpdate(reservation_id=number, reservation_update_status="Removed")
            )
            ended_reservation = await tap.wait("station.events", for_station(sid, _type="ReservationStatusChanged"))
            assert (ended_reservation["reservation_id"], ended_reservation["status"]) == ("RES-SIM", "Removed")

        # Remote start, then remote stop with the platform's transaction id.
        assert (await run(c.RemoteStart(station_id=sid, evse_id=1, id_token="APP-1")))["outcome"] == "Accepted"
        station.plug_in(1, a_car())
        started = await tap.wait("transaction.events", for_station(sid, kind="Started"))
        assert started["id_token"] == "APP-1"
        stop = c.RemoteStop(station_id=sid, transaction_id=started["transaction_id"])
        assert (await run(stop))["outcome"] == "Accepted"
        ended = await tap.wait("transaction.events", for_station(sid, kind="Ended"))
        assert ended["transaction_id"] == started["transaction_id"]
        station.unplug(1)

        # Availability, unlock, trigger.
        assert (await run(c.ChangeAvailability(station_id=sid, evse_id=2, operative=False)))["outcome"] == "Accepted"
        assert (await tap.wait("station.status", for_station(sid, evse_id=2, status="Unavailable")))["status"]
        assert (await run(c.ChangeAvailability(station_id=sid, evse_id=2, operative=True)))["outcome"] == "Accepted"
        assert (await run(c.UnlockConnector(station_id=sid, evse_id=1)))["outcome"] == "Accepted"
        before = {id(p) for p in tap.all("station.status", for_station(sid, evse_id=1))}
        trigger = c.TriggerMessage(station_id=sid, message="StatusNotification", evse_id=1)
        assert (await run(trigger))["outcome"] == "Accepted"
        await tap.wait("station.status", lambda p: for_station(sid, evse_id=1)(p) and id(p) not in before)

        # Local authorisation list, cache.
        entries = (c.LocalListEntry(id_token="A1"), c.LocalListEntry(id_token="B2", status="Blocked"))
        assert (await run(c.SendLocalList(station_id=sid, version=4, entries=entries)))["outcome"] == "Accepted"
        assert station.local_list_version == 4 and set(station.local_list) == {"A1", "B2"}
        stale = c.SendLocalList(station_id=sid, version=3, full=False, entries=entries)
        assert (await run(stale))["outcome"] == "Rejected"  # VersionMismatch: a differential update must be newer
        assert (await run(c.GetLocalListVersion(station_id=sid)))["outcome"] == "Accepted"
        assert (await run(c.ClearCache(station_id=sid)))["outcome"] == "Accepted"

        # Firmware and logs: the answer, then the simulator's status notifications as events.
        firmware = c.UpdateFirmware(
            station_id=sid, location="https://fw.example/2.0.bin", retrieve_at=NOW, request_id=7
        )
        assert (await run(firmware))["outcome"] == "Accepted"
        installed_fw = await tap.wait(
            "station.events", for_station(sid, _type="FirmwareStatusChanged", status="Installed")
        )
        assert installed_fw["request_id"] == (7 if version == "2.0.1" else None)
        log = c.GetLog(station_id=sid, location="https://logs.example/", request_id=11)
        assert (await run(log))["outcome"] == "Accepted"
        uploaded = await tap.wait("station.events", for_station(sid, _type="LogStatusChanged", status="Uploaded"))
        assert uploaded["request_id"] == (11 if version == "2.0.1" else None)

        # Configuration: the simulator's real keys / device model.
        if version == "1.6":
            key, unknown = c.ConfigurationKey(variable="MeterValueSampleInterval"), c.ConfigurationKey(variable="Nope")
            change = c.SetConfiguration(station_id=sid, variable="MeterValueSampleInterval", value="60")
        else:
            key = c.ConfigurationKey(component="SampledDataCtrlr", variable="TxUpdatedInterval")
            unknown = c.ConfigurationKey(component="SampledDataCtrlr", variable="Nope")
            change = c.SetConfiguration(
                station_id=sid, component="SampledDataCtrlr", variable="TxUpdatedInterval", value="60"
            )
        assert (await run(c.GetConfiguration(station_id=sid, keys=(key, unknown))))["outcome"] == "Accepted"
        config = await tap.wait("station.events", for_station(sid, _type="ConfigurationReported"))
        assert [(v["value"], v["status"]) for v in config["values"]] == [("1", "Accepted"), (None, "UnknownVariable")]
        assert (await run(change))["outcome"] == "Accepted"
        assert station.settings.meter_interval_s == 60

        # Reset last: the simulator reboots and boots again.
        boots = {id(p) for p in tap.all("station.registered", for_station(sid))}
        assert (await run(c.Reset(station_id=sid, kind=c.ResetKind.SOFT)))["outcome"] == "Accepted"
        await tap.wait("station.registered", lambda p: for_station(sid)(p) and id(p) not in boots)
