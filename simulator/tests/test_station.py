"""Station behaviour without a network: a ManualClock drives simulated time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from chargeyard_simulator import (
    Car,
    ChargingProfile,
    EvseStatus,
    ManualClock,
    Misbehaviour,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    SchedulePeriod,
    Station,
    StationConfig,
)


def make_station(clock: ManualClock, **overrides: object) -> Station:
    config = StationConfig.model_validate(
        {"station_id": "UNIT-1", "evses": [{"max_power_w": 11_000}, {"max_power_w": 22_000}], **overrides}
    )
    return Station(config, clock)


def tx_default(limit: float, unit: RateUnit = RateUnit.WATTS, *, id: int = 1, stack: int = 0) -> ChargingProfile:
    return ChargingProfile(
        id=id,
        stack_level=stack,
        purpose=ProfilePurpose.TX_DEFAULT,
        kind=ProfileKind.RELATIVE,
        rate_unit=unit,
        periods=(SchedulePeriod(0, limit),),
    )


@pytest.mark.asyncio
async def test_energy_accrues_per_simulated_time() -> None:
    clock = ManualClock()
    station = make_station(clock)
    station.plug_in(1, Car(100_000, 10, 11_000, 3, 100), "TAG")
    assert station.status(1) is EvseStatus.CHARGING
    assert station.power_w(1) == pytest.approx(11_000)
    await clock.advance(3600)
    assert station.energy_wh(1) == pytest.approx(11_000)
    car = station.car(1)
    assert car is not None and car.soc_percent == pytest.approx(21)


@pytest.mark.asyncio
async def test_car_without_id_tag_waits_for_remote_start() -> None:
    clock = ManualClock()
    station = make_station(clock)
    station.plug_in(1, Car(60_000, 20, 11_000), None)
    assert station.status(1) is EvseStatus.PREPARING
    assert station.power_w(1) == 0
    assert station.remote_start(1, "REMOTE").accepted
    assert station.status(1) is EvseStatus.CHARGING


@pytest.mark.asyncio
async def test_remote_start_before_plug_in_waits_for_the_car() -> None:
    clock = ManualClock()
    station = make_station(clock)
    assert station.remote_start(None, "REMOTE").accepted
    await clock.advance(10)
    station.plug_in(1, Car(60_000, 20, 11_000), None)
    tx = station.transaction(1)
    assert tx is not None and tx.id_tag == "REMOTE"


@pytest.mark.asyncio
async def test_profile_limits_power_and_tx_profile_is_removed_with_the_transaction() -> None:
    clock = ManualClock()
    station = make_station(clock)
    station.plug_in(2, Car(60_000, 20, 22_000), "TAG")
    assert station.power_w(2) == pytest.approx(22_000)
    assert station.set_charging_profile(2, tx_default(16, RateUnit.AMPERES)).accepted
    assert station.effective_limit_w(2) == pytest.approx(16 * 230 * 3)
    assert station.power_w(2) == pytest.approx(16 * 230 * 3)
    tx = station.transaction(2)
    assert tx is not None
    tx_profile = ChargingProfile(
        id=9,
        stack_level=0,
        purpose=ProfilePurpose.TX,
        kind=ProfileKind.RELATIVE,
        rate_unit=RateUnit.WATTS,
        periods=(SchedulePeriod(0, 5_000),),
    )
    assert station.set_charging_profile(2, tx_profile).accepted
    assert station.power_w(2) == pytest.approx(5_000)
    station.unplug(2)
    assert [p.id for p in station.installed_profiles(2)] == [1]


@pytest.mark.asyncio
async def test_station_max_is_shared_between_evses() -> None:
    clock = ManualClock()
    station = make_station(clock)
    station.plug_in(1, Car(60_000, 20, 11_000), "A")
    station.plug_in(2, Car(60_000, 20, 11_000), "B")
    station_max = ChargingProfile(
        id=5,
        stack_level=0,
        purpose=ProfilePurpose.STATION_MAX,
        kind=ProfileKind.ABSOLUTE,
        rate_unit=RateUnit.WATTS,
        periods=(SchedulePeriod(0, 12_000),),
        start_schedule=clock.now(),
    )
    assert station.set_charging_profile(0, station_max).accepted
    assert station.power_w(1) + station.power_w(2) == pytest.approx(12_000)


@pytest.mark.asyncio
async def test_invalid_profiles_are_rejected() -> None:
    clock = ManualClock()
    station = make_station(clock, allowed_rate_units=["A"], max_stack_level=3)
    tx_profile = ChargingProfile(
        id=1,
        stack_level=0,
        purpose=ProfilePurpose.TX,
        kind=ProfileKind.RELATIVE,
        rate_unit=RateUnit.AMPERES,
        periods=(SchedulePeriod(0, 10),),
    )
    assert station.set_charging_profile(1, tx_profile).code == "TxNotFound"
    assert station.set_charging_profile(1, tx_default(5_000)).code == "UnsupportedRateUnit"
    assert station.set_charging_profile(1, tx_default(10, RateUnit.AMPERES, stack=4)).code == "InvalidStackLevel"
    station_max = ChargingProfile(
        id=2,
        stack_level=0,
        purpose=ProfilePurpose.STATION_MAX,
        kind=ProfileKind.RELATIVE,
        rate_unit=RateUnit.AMPERES,
        periods=(SchedulePeriod(0, 10),),
    )
    assert station.set_charging_profile(1, station_max).code == "InvalidEVSE"
    assert station.installed_profiles(1) == []


@pytest.mark.asyncio
async def test_reject_profiles_misbehaviour() -> None:
    clock = ManualClock()
    station = make_station(clock, misbehaviour=Misbehaviour(reject_profiles=True))
    station.plug_in(1, Car(60_000, 20, 11_000), "TAG")
    decision = station.set_charging_profile(1, tx_default(4_000))
    assert not decision.accepted
    assert station.power_w(1) == pytest.approx(11_000)


@pytest.mark.asyncio
async def test_ignore_profiles_misbehaviour_keeps_drawing_the_maximum() -> None:
    clock = ManualClock()
    station = make_station(clock, misbehaviour=Misbehaviour(ignore_profiles=True))
    station.plug_in(1, Car(60_000, 20, 11_000), "TAG")
    assert station.set_charging_profile(1, tx_default(4_000)).accepted
    assert station.effective_limit_w(1) == pytest.approx(4_000)
    assert station.power_w(1) == pytest.approx(11_000)


@pytest.mark.asyncio
async def test_late_profiles_misbehaviour_applies_after_the_delay() -> None:
    clock = ManualClock()
    station = make_station(clock, misbehaviour=Misbehaviour(late_profiles_s=60))
    station.plug_in(1, Car(60_000, 20, 11_000), "TAG")
    assert station.set_charging_profile(1, tx_default(5_000)).accepted
    assert station.power_w(1) == pytest.approx(11_000)
    await clock.advance(30)
    assert station.power_w(1) == pytest.approx(11_000)
    await clock.advance(31)
    assert station.power_w(1) == pytest.approx(5_000)


@pytest.mark.asyncio
async def test_offline_station_queues_transaction_messages_only() -> None:
    clock = ManualClock()
    station = make_station(clock)
    station.plug_in(1, Car(60_000, 20, 11_000), "TAG")
    await clock.advance(60)
    station.unplug(1)
    # Never connected: StatusNotifications are dropped, the transaction messages wait.
    assert station.queued_messages() == ["transaction start EVSE 1", "transaction stop EVSE 1"]


@pytest.mark.asyncio
async def test_clock_skew_shifts_station_time() -> None:
    clock = ManualClock()
    station = make_station(clock, misbehaviour=Misbehaviour(clock_skew_s=-90))
    assert station.now() == clock.now() - timedelta(seconds=90)


@pytest.mark.asyncio
async def test_availability_change_is_scheduled_during_a_transaction() -> None:
    clock = ManualClock()
    station = make_station(clock)
    station.plug_in(1, Car(60_000, 20, 11_000), "TAG")
    assert station.change_availability(1, operative=False).value == "Scheduled"
    assert station.status(1) is EvseStatus.CHARGING
    station.unplug(1)
    assert station.status(1) is EvseStatus.UNAVAILABLE
    assert station.change_availability(0, operative=True).value == "Accepted"
    assert station.status(1) is EvseStatus.AVAILABLE


@pytest.mark.asyncio
async def test_car_reaching_target_is_suspended_ev() -> None:
    clock = ManualClock()
    station = make_station(clock)
    station.plug_in(1, Car(10_000, 75, 11_000, 3, target_soc=80), "TAG")
    await clock.advance(3600)
    assert station.energy_wh(1) == pytest.approx(500)
    assert station.status(1) is EvseStatus.SUSPENDED_EV
    assert station.power_w(1) == 0
