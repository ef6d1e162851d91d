import pytest
from chargeyard_contracts.base import ChargingRateUnit, OcppVersion, PhaseRotation
from chargeyard_contracts.commands import SchedulePeriod
from chargeyard_contracts.stations import StationCapabilities
from chargeyard_gateway.domain.capabilities import from_v16_configuration, from_v201_variables
from chargeyard_gateway.domain.profiles import (
    CannotTranslate,
    Period,
    amps_to_watts,
    fit_periods,
    schedule_for_station,
    watts_to_amps,
)

W, A = ChargingRateUnit.WATTS, ChargingRateUnit.AMPERES


def caps(**changes):
    return StationCapabilities(**{"ocpp_version": OcppVersion.V201, **changes})


def test_w_a_conversion_uses_230_v_per_phase_and_rounds_down():
    assert watts_to_amps(11040, 3) == 16.0
    assert watts_to_amps(11000, 3) == 15.9  # 15.94 A -> 15.9, never above the request
    assert watts_to_amps(3680, 1) == 16.0
    assert amps_to_watts(16, 3) == 11040
    assert amps_to_watts(6.1, 1) == 1403  # 1403.0 exactly, not 1402 from float error


def test_fit_periods_keeps_a_short_schedule():
    periods = [Period(0, 10), Period(60, 20)]
    assert fit_periods(periods, 5) == periods


def test_fit_periods_merges_the_cheapest_pair_taking_the_min():
    periods = [Period(0, 16), Period(900, 10), Period(1800, 6), Period(2700, 32)]
    fitted = fit_periods(periods, 2)
    assert len(fitted) == 2
    assert fitted[0].start_offset_s == 0
    # No moment of the fitted schedule allows more than the original did.
    for t in range(0, 4000, 100):
        assert _limit_at(fitted, t) <= _limit_at(periods, t)


def test_fit_periods_to_one_is_the_minimum():
    assert fit_periods([Period(0, 16, 3), Period(10, 8, 1), Period(20, 12)], 1) == [Period(0, 8, 1)]


def test_fit_periods_prefers_merging_equal_neighbours():
    assert fit_periods([Period(0, 10), Period(60, 10), Period(120, 20)], 2) == [Period(0, 10), Period(120, 20)]


def _limit_at(periods, t):
    return [p.limit for p in periods if p.start_offset_s <= t][-1]


def test_schedule_for_a_watt_only_station_converts_and_fits():
    periods = (
        SchedulePeriod(start_offset_s=0, limit=16),
        SchedulePeriod(start_offset_s=900, limit=10),
        SchedulePeriod(start_offset_s=1800, limit=6),
    )
    schedule = schedule_for_station(A, periods, 2, caps(allowed_rate_units=(W,), max_schedule_periods=2))
    assert schedule.unit == W
    assert schedule.periods == [Period(0, 11040.0), Period(900, 4140.0)]


def test_schedule_keeps_the_unit_when_the_station_takes_it():
    periods = (SchedulePeriod(start_offset_s=0, limit=11000, phases=1),)
    schedule = schedule_for_station(W, periods, 0, caps(allowed_rate_units=(A, W)))
    assert (schedule.unit, schedule.periods) == (W, [Period(0, 11000, 1)])
    to_amps = schedule_for_station(W, periods, 0, caps(allowed_rate_units=(A,)))
    assert to_amps.periods == [Period(0, 47.8, 1)]


def test_stack_level_above_the_station_maximum_cannot_be_translated():
    with pytest.raises(CannotTranslate):
        schedule_for_station(A, (SchedulePeriod(start_offset_s=0, limit=6),), 5, caps(max_stack_level=3))


def test_v16_configuration_is_parsed_with_defaults_for_the_rest():
    parsed, evses = from_v16_configuration(
        {
            "ChargingScheduleAllowedChargingRateUnit": "Current,Power",
            "ChargingScheduleMaxPeriods": "5",
            "ConnectorPhaseRotation": "0.RST, 1.RTS",
            "NumberOfConnectors": "2",
            "ChargeProfileMaxStackLevel": "x",
        }
    )
    assert parsed.allowed_rate_units == (A, W)
    assert parsed.max_schedule_periods == 5
    assert parsed.max_stack_level == 8  # unparseable -> default
    assert parsed.phase_rotation == PhaseRotation.RST
    assert [e.evse_id for e in evses] == [1, 2]
    assert from_v16_configuration({})[0] == StationCapabilities(ocpp_version=OcppVersion.V16)


def test_v201_variables_are_parsed():
    parsed = from_v201_variables(
        OcppVersion.V201,
        {
            ("SmartChargingCtrlr", "RateUnit"): "W",
            ("SmartChargingCtrlr", "PeriodsPerSchedule"): "48",
            ("ChargingStation", "SupplyPhases"): "1",
        },
    )
    assert (parsed.allowed_rate_units, parsed.max_schedule_periods, parsed.phases) == ((W,), 48, 1)
