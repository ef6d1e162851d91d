"""End to end against a tiny central system (tests/csms.py) on a free 127.0.0.1 port.

Stations run on a ScaledClock (x20), so the 10 s meter interval is half a real second.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from chargeyard_simulator import (
    Car,
    ScaledClock,
    Site,
    Station,
    StationConfig,
    build_fleet,
)
from chargeyard_simulator.clock import parse_ocpp_time
from csms import Received, TestCentralSystem
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

SPEED = 20.0
TIMEOUT = 5.0
PHASES = {"L1", "L2", "L3"}


@pytest_asyncio.fixture
async def central_system() -> AsyncIterator[TestCentralSystem]:
    async with TestCentralSystem() as cs:
        yield cs


def station_config(cs: TestCentralSystem, station_id: str, version: str, **kw: Any) -> StationConfig:
    return StationConfig.model_validate(
        {
            "station_id": station_id,
            "ocpp_version": version,
            "url": cs.url,
            "reconnect_min_s": 0.1,
            "reconnect_max_s": 0.5,
            "response_timeout_s": 3,
            **kw,
        }
    )


@asynccontextmanager
async def running(*stations: Station) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(s.run()) for s in stations]
    try:
        await asyncio.wait_for(asyncio.gather(*(s.wait_connected() for s in stations)), TIMEOUT)
        yield
    finally:
        for s in stations:
            s.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), TIMEOUT)


def values(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The sampled values of the first meter value of a MeterValues/TransactionEvent payload."""
    sampled: list[dict[str, Any]] = payload["meter_value"][0]["sampled_value"]
    return sampled


def total_power(payload: dict[str, Any]) -> float:
    return next(
        float(v["value"]) for v in values(payload) if v["measurand"] == "Power.Active.Import" and "phase" not in v
    )


def check_sample_shape(sampled: list[dict[str, Any]], version: str) -> dict[tuple[str, str | None], float]:
    """Assert the measurands the platform relies on are there; returns {(measurand, phase): value}."""
    by_key: dict[tuple[str, str | None], float] = {}
    for v in sampled:
        if version == "1.6":
            assert isinstance(v["value"], str)
            unit = v["unit"]
        else:
            assert isinstance(v["value"], (int, float))
            unit = v["unit_of_measure"]["unit"]
        by_key[(v["measurand"], v.get("phase"))] = float(v["value"])
        assert (
            unit
            == {
                "Energy.Active.Import.Register": "Wh",
                "Power.Active.Import": "W",
                "Current.Import": "A",
                "SoC": "Percent",
            }[v["measurand"]]
        )
    assert ("Energy.Active.Import.Register", None) in by_key
    assert ("Power.Active.Import", None) in by_key
    assert {p for (m, p) in by_key if m == "Power.Active.Import" and p} == PHASES
    assert {p for (m, p) in by_key if m == "Current.Import"} == PHASES
    assert ("SoC", None) in by_key
    phase_sum = sum(by_key[("Power.Active.Import", p)] for p in PHASES)
    assert phase_sum == pytest.approx(by_key[("Power.Active.Import", None)], abs=3)
    return by_key


def is_action(action: str, **fields: Any) -> Any:
    def predicate(m: Received) -> bool:
        return m.action == action and all(m.payload.get(k) == v for k, v in fields.items())

    return predicate


@pytest.mark.asyncio
async def test_boot_then_status_for_each_connector(central_system: TestCentralSystem) -> None:
    clock = ScaledClock(SPEED)
    s16 = Station(station_config(central_system, "IT-16", "1.6", evses=[{}, {"max_power_w": 22_000}]), clock)
    s201 = Station(station_config(central_system, "IT-201", "2.0.1", aligned_interval_s=10), clock)
    async with running(s16, s201):
        in16, in201 = central_system.inbox("IT-16"), central_system.inbox("IT-201")
        await in16.wait_for(is_action("StatusNotification", connector_id=2))
        await in201.wait_for(is_action("StatusNotification", evse_id=1))
        assert in16.messages[0].action == "BootNotification"
        assert in16.messages[0].payload["charge_point_vendor"] == "Chargeyard"
        assert [(p["connector_id"], p["status"]) for p in in16.of("StatusNotification")] == [
            (1, "Available"),
            (2, "Available"),
        ]
        assert in201.messages[0].action == "BootNotification"
        assert in201.messages[0].payload["reason"] == "PowerUp"
        assert in201.of("StatusNotification")[0]["connector_status"] == "Available"
        # 2.0.1 meter values outside a transaction: MeterValues, clock-aligned.
        idle = await in201.wait_for(is_action("MeterValues", evse_id=1))
        assert {v["context"] for v in values(idle.payload)} == {"Sample.Clock"}
        assert total_power(idle.payload) == 0


@pytest.mark.asyncio
async def test_ocpp16_car_follows_set_charging_profile(central_system: TestCentralSystem) -> None:
    station = Station(station_config(central_system, "IT-16", "1.6"), ScaledClock(SPEED))
    async with running(station):
        inbox = central_system.inbox("IT-16")
        station.plug_in(1, Car(60_000, 20, 11_000, 3, 80), "TAG-16")
        started = await inbox.wait_for(is_action("StartTransaction"))
        assert started.payload["id_tag"] == "TAG-16" and started.payload["meter_start"] == 0
        tx_id = started.payload["assigned_transaction_id"]
        first = await inbox.wait_for(is_action("MeterValues", transaction_id=tx_id))
        assert total_power(first.payload) == pytest.approx(11_000, abs=1)

        cp = central_system.charge_points["IT-16"]
        response = await cp.call(
            call16.SetChargingProfile(
                connector_id=1,
                cs_charging_profiles={
                    "chargingProfileId": 7,
                    "transactionId": tx_id,
                    "stackLevel": 1,
                    "chargingProfilePurpose": "TxProfile",
                    "chargingProfileKind": "Relative",
                    "chargingSchedule": {
                        "chargingRateUnit": "A",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}],
                    },
                },
            )
        )
        assert response.status == "Accepted"
        assert station.effective_limit_w(1) == pytest.approx(6_900)
        assert station.power_w(1) == pytest.approx(6_900)
        assert [p.id for p in station.installed_profiles(1)] == [7]

        mark = len(inbox.messages)
        sample = await inbox.wait_for(
            lambda m: m.action == "MeterValues" and total_power(m.payload) == pytest.approx(6_900, abs=1),
            after=mark,
        )
        assert sample.payload["connector_id"] == 1 and sample.payload["transaction_id"] == tx_id
        reading = check_sample_shape(values(sample.payload), "1.6")
        assert reading[("Current.Import", "L1")] == pytest.approx(10)
        assert reading[("Energy.Active.Import.Register", None)] > 0
        assert values(sample.payload)[0]["context"] == "Sample.Periodic"

        composite = await cp.call(call16.GetCompositeSchedule(connector_id=1, duration=600, charging_rate_unit="A"))
        assert composite.status == "Accepted"
        assert float(composite.charging_schedule["charging_schedule_period"][0]["limit"]) == pytest.approx(10)

        config = await cp.call(
            call16.GetConfiguration(
                key=[
                    "ChargingScheduleAllowedChargingRateUnit",
                    "ChargingScheduleMaxPeriods",
                    "ChargeProfileMaxStackLevel",
                    "ConnectorPhaseRotation",
                    "MeterValueSampleInterval",
                ]
            )
        )
        keys = {k["key"]: k["value"] for k in config.configuration_key}
        assert keys == {
            "ChargingScheduleAllowedChargingRateUnit": "Current,Power",
            "ChargingScheduleMaxPeriods": "24",
            "ChargeProfileMaxStackLevel": "8",
            "ConnectorPhaseRotation": "0.RST,1.RST",
            "MeterValueSampleInterval": "10",
        }

        station.unplug(1)
        stopped = await inbox.wait_for(is_action("StopTransaction"))
        assert stopped.payload["transaction_id"] == tx_id
        assert stopped.payload["reason"] == "EVDisconnected"
        assert stopped.payload["meter_stop"] == round(station.energy_wh(1))
        assert station.installed_profiles(1) == []  # TxProfile ends with its transaction


@pytest.mark.asyncio
async def test_ocpp201_car_follows_set_charging_profile(central_system: TestCentralSystem) -> None:
    station = Station(
        station_config(central_system, "IT-201", "2.0.1", evses=[{"max_power_w": 22_000}]), ScaledClock(SPEED)
    )
    async with running(station):
        inbox = central_system.inbox("IT-201")
        station.plug_in(1, Car(80_000, 30, 22_000, 3, 90), "TAG-201")
        started = await inbox.wait_for(is_action("TransactionEvent", event_type="Started"))
        assert started.payload["seq_no"] == 0
        assert started.payload["trigger_reason"] == "CablePluggedIn"
        assert started.payload["id_token"] == {"id_token": "TAG-201", "type": "ISO14443"}
        assert started.payload["evse"] == {"id": 1, "connector_id": 1}
        assert values(started.payload)[0]["context"] == "Transaction.Begin"
        tx_id = started.payload["transaction_info"]["transaction_id"]
        tx = station.transaction(1)
        assert isinstance(tx_id, str) and tx is not None and tx.id == tx_id

        cp = central_system.charge_points["IT-201"]
        response = await cp.call(
            call201.SetChargingProfile(
                evse_id=1,
                charging_profile={
                    "id": 11,
                    "stackLevel": 0,
                    "chargingProfilePurpose": "TxProfile",
                    "chargingProfileKind": "Relative",
                    "transactionId": tx_id,
                    "chargingSchedule": [
                        {
                            "id": 1,
                            "chargingRateUnit": "W",
                            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7_000}],
                        }
                    ],
                },
            )
        )
        assert response.status == "Accepted"
        assert station.power_w(1) == pytest.approx(7_000)

        mark = len(inbox.messages)
        update = await inbox.wait_for(
            lambda m: (
                m.action == "TransactionEvent"
                and m.payload["trigger_reason"] == "MeterValuePeriodic"
                and total_power(m.payload) == pytest.approx(7_000, abs=1)
            ),
            after=mark,
        )
        assert update.payload["event_type"] == "Updated"
        assert update.payload["transaction_info"] == {"transaction_id": tx_id, "charging_state": "Charging"}
        assert update.payload["seq_no"] > 0
        assert "offline" not in update.payload
        reading = check_sample_shape(values(update.payload), "2.0.1")
        assert reading[("Current.Import", "L2")] == pytest.approx(7_000 / 690, abs=0.05)

        result = await cp.call(
            call201.GetVariables(
                get_variable_data=[
                    {"component": {"name": "SmartChargingCtrlr"}, "variable": {"name": "RateUnit"}},
                    {"component": {"name": "SmartChargingCtrlr"}, "variable": {"name": "PeriodsPerSchedule"}},
                    {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"}},
                    {"component": {"name": "NoSuchCtrlr"}, "variable": {"name": "X"}},
                ]
            )
        )
        got = [(r["attribute_status"], r.get("attribute_value")) for r in result.get_variable_result]
        assert got == [("Accepted", "A,W"), ("Accepted", "24"), ("Accepted", "10"), ("UnknownComponent", None)]

        stop = await cp.call(call201.RequestStopTransaction(transaction_id=tx_id))
        assert stop.status == "Accepted"
        ended = await inbox.wait_for(is_action("TransactionEvent", event_type="Ended"))
        assert ended.payload["trigger_reason"] == "RemoteStop"
        assert ended.payload["transaction_info"]["stopped_reason"] == "Remote"
        assert values(ended.payload)[0]["context"] == "Transaction.End"


@pytest.mark.asyncio
async def test_reject_profiles_misbehaviour(central_system: TestCentralSystem) -> None:
    station = Station(
        station_config(central_system, "IT-BAD", "1.6", misbehaviour={"reject_profiles": True}),
        ScaledClock(SPEED),
    )
    async with running(station):
        inbox = central_system.inbox("IT-BAD")
        station.plug_in(1, Car(60_000, 20, 11_000, 3, 80), "TAG")
        await inbox.wait_for(is_action("StartTransaction"))
        cp = central_system.charge_points["IT-BAD"]
        response = await cp.call(
            call16.SetChargingProfile(
                connector_id=1,
                cs_charging_profiles={
                    "chargingProfileId": 1,
                    "stackLevel": 0,
                    "chargingProfilePurpose": "TxDefaultProfile",
                    "chargingProfileKind": "Relative",
                    "chargingSchedule": {
                        "chargingRateUnit": "W",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 5000}],
                    },
                },
            )
        )
        assert response.status == "Rejected"
        assert station.installed_profiles(1) == []
        assert station.power_w(1) == pytest.approx(11_000)
        mark = len(inbox.messages)
        sample = await inbox.wait_for(is_action("MeterValues"), after=mark)
        assert total_power(sample.payload) == pytest.approx(11_000, abs=1)


@pytest.mark.asyncio
async def test_offline_transaction_events_are_queued_and_sent_later(central_system: TestCentralSystem) -> None:
    clock = ScaledClock(SPEED)
    station = Station(station_config(central_system, "IT-OFF", "2.0.1"), clock)
    async with running(station):
        inbox = central_system.inbox("IT-OFF")
        station.plug_in(1, Car(60_000, 20, 11_000, 3, 80), "TAG")
        await inbox.wait_for(is_action("TransactionEvent", event_type="Started"))
        station.go_offline(30)  # 1.5 s real
        await asyncio.sleep(0.8)
        assert not station.connected
        assert station.power_w(1) == pytest.approx(11_000)  # keeps charging offline
        station.unplug(1)
        unplugged_at = station.now()
        mark = len(inbox.messages)
        ended = await inbox.wait_for(is_action("TransactionEvent", event_type="Ended"))
        assert ended.payload["offline"] is True
        # Original timestamp: when it happened, not when it was delivered.
        assert abs((parse_ocpp_time(ended.payload["timestamp"]) - unplugged_at).total_seconds()) < 1.0
        offline_updates = [p for p in inbox.of("TransactionEvent") if p.get("offline")]
        assert any(p["event_type"] == "Updated" for p in offline_updates)
        seq = [p["seq_no"] for p in inbox.of("TransactionEvent")]
        assert seq == sorted(seq) and len(seq) == len(set(seq))
        # After the queue, the station reports the current connector status again.
        await inbox.wait_for(is_action("StatusNotification", connector_status="Available"), after=mark)


@pytest.mark.asyncio
async def test_station_waits_for_a_late_central_system() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = StationConfig(
        station_id="IT-LATE",
        url=f"ws://127.0.0.1:{port}/ocpp",
        reconnect_min_s=0.1,
        reconnect_max_s=0.3,
    )
    station = Station(config, ScaledClock(SPEED))
    task = asyncio.create_task(station.run())
    try:
        await asyncio.sleep(0.5)
        assert not station.connected
        async with TestCentralSystem(port) as cs:
            await asyncio.wait_for(station.wait_connected(), TIMEOUT)
            assert cs.inbox("IT-LATE").messages[0].action == "BootNotification"
    finally:
        station.stop()
        await asyncio.wait_for(task, TIMEOUT)


@pytest.mark.asyncio
async def test_station_reconnects_after_the_central_system_drops_it(central_system: TestCentralSystem) -> None:
    station = Station(station_config(central_system, "IT-DROP", "1.6"), ScaledClock(SPEED))
    async with running(station):
        inbox = central_system.inbox("IT-DROP")
        await inbox.wait_for(is_action("StatusNotification"))
        mark = len(inbox.messages)
        await central_system.connections["IT-DROP"].close()
        # Back without a new BootNotification (no reboot), reporting its connectors again.
        await inbox.wait_for(is_action("StatusNotification"), after=mark)
        assert [m.action for m in inbox.messages[mark:]] == ["StatusNotification"]
        assert station.connected


@pytest.mark.asyncio
async def test_site_runs_a_generated_fleet(central_system: TestCentralSystem) -> None:
    config = build_fleet(url=central_system.url, stations=3, cars=2, speed=SPEED, seed=1)
    site = Site(config)
    task = asyncio.create_task(site.run())
    try:
        first, second = config.stations[0].station_id, config.stations[1].station_id
        await central_system.inbox(first).wait_for(is_action("StartTransaction"))
        await central_system.inbox(second).wait_for(is_action("TransactionEvent", event_type="Started"))
        third = central_system.inbox(config.stations[2].station_id)
        await third.wait_for(is_action("BootNotification"))
    finally:
        site.stop()
        await asyncio.wait_for(task, TIMEOUT)


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_firmware_update_waits_for_its_retrieve_time_then_reports_each_step(
    central_system: TestCentralSystem, version: str
) -> None:
    clock = ScaledClock(SPEED)
    station = Station(station_config(central_system, f"FW-{version}", version, firmware_step_s=1), clock)
    async with running(station):
        cp = central_system.charge_points[f"FW-{version}"]
        retrieve_at = clock.now() + timedelta(seconds=40)  # two real seconds at x20
        if version == "1.6":
            await cp.call(
                call16.UpdateFirmware(location="https://fw.example/2.bin", retrieve_date=retrieve_at.isoformat())
            )
        else:
            firmware = {"location": "https://fw.example/2.bin", "retrieve_date_time": retrieve_at.isoformat()}
            answer = await cp.call(call201.UpdateFirmware(request_id=7, firmware=firmware))
            assert answer.status == "Accepted"
        inbox = central_system.inbox(f"FW-{version}")
        await asyncio.sleep(1)  # half way to the retrieve time: nothing yet
        assert inbox.of("FirmwareStatusNotification") == []
        await inbox.wait_for(is_action("FirmwareStatusNotification", status="Installed"))
        reported = inbox.of("FirmwareStatusNotification")
        assert [p["status"] for p in reported] == ["Downloading", "Downloaded", "Installing", "Installed"]
        if version == "2.0.1":
            assert {p["request_id"] for p in reported} == {7}

    # Without firmware_step_s (the default), every step at once, whatever the retrieve time.
    instant = Station(station_config(central_system, f"FW0-{version}", version), clock)
    async with running(instant):
        cp = central_system.charge_points[f"FW0-{version}"]
        later = (clock.now() + timedelta(days=1)).isoformat()
        if version == "1.6":
            await cp.call(call16.UpdateFirmware(location="https://fw.example/2.bin", retrieve_date=later))
        else:
            await cp.call(call201.UpdateFirmware(request_id=8, firmware={"location": "x", "retrieve_date_time": later}))
        await central_system.inbox(f"FW0-{version}").wait_for(
            is_action("FirmwareStatusNotification", status="Installed")
        )
