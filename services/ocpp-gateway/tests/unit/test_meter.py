from datetime import UTC, datetime, timedelta

import pytest
from chargeyard_contracts.stations import ReadingContext, SignedMeterValue
from chargeyard_gateway.domain.meter import ENERGY_INTERVAL, POWER, Sample, normalise, phase_of

T = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def a_report(samples, *, station_ts=T, received=T, threshold=300.0):
    return normalise(
        samples,
        station_id="CS-1",
        evse_id=1,
        connector_id=1,
        transaction_id=None,
        station_timestamp=station_ts,
        received_at=received,
        clock_skew_threshold_s=threshold,
    )


@pytest.mark.parametrize(
    ("sample", "wh"),
    [
        (Sample("12.5", unit="kWh"), 12500),  # 1.6: string value, kWh
        (Sample("12500", unit="Wh"), 12500),
        (Sample("12500"), 12500),  # defaults: measurand register, unit Wh
        (Sample(12.5, unit="Wh", multiplier=3), 12500),  # 2.0.1 unitOfMeasure multiplier
        (Sample(1.25, unit="kWh", multiplier=1), 12500),
        (Sample(125000, unit="Wh", multiplier=-1), 12500),
    ],
)
def test_energy_is_normalised_to_wh(sample, wh):
    result = a_report([sample])
    assert result.report.energy_wh == wh
    assert result.report.energy_context == ReadingContext.REGISTER
    assert not result.skipped


def test_interval_energy_is_marked_and_register_wins_when_both_sent():
    only_interval = a_report([Sample("0.25", measurand=ENERGY_INTERVAL, unit="kWh")]).report
    assert (only_interval.energy_wh, only_interval.energy_context) == (250, ReadingContext.INTERVAL)
    both = a_report([Sample("250", measurand=ENERGY_INTERVAL), Sample("10", unit="kWh")]).report
    assert (both.energy_wh, both.energy_context) == (10000, ReadingContext.REGISTER)


def test_power_in_kw_and_per_phase_readings():
    report = a_report(
        [
            Sample("7.2", measurand=POWER, unit="kW"),
            Sample("2400", measurand=POWER, unit="W", phase="L1-N"),
            Sample("10.4", measurand="Current.Import", unit="A", phase="L1"),
            Sample("10.1", measurand="Current.Import", unit="A", phase="L2"),
            Sample("231", measurand="Voltage", unit="V", phase="L3-N"),
            Sample("400", measurand="Voltage", unit="V", phase="L1-L2"),  # line-to-line: not a phase voltage
            Sample("1.0", measurand="Current.Import", unit="A", phase="N"),
        ]
    ).report
    assert report.power_w == 7200
    by_phase = {p.phase: p for p in report.phases}
    assert by_phase["L1"].power_w == 2400 and by_phase["L1"].current_a == 10.4 and by_phase["L1"].voltage_v is None
    assert by_phase["L2"].current_a == 10.1
    assert by_phase["L3"].voltage_v == 231


def test_soc_and_signed_data_are_kept():
    signed = SignedMeterValue(format="OCMF", data="OCMF|{...}|{...}", public_key="pk", signing_method="ECDSA")
    report = a_report([Sample("12", unit="kWh", signed=signed), Sample("63", measurand="SoC", unit="Percent")]).report
    assert report.signed == signed
    assert report.soc_percent == 63
    assert report.energy_wh == 12000


def test_signed_only_value_counts_no_energy():
    report = a_report([Sample(None, signed=SignedMeterValue(format="SignedData", data="abc"))]).report
    assert report.energy_wh is None and report.signed is not None


def test_unknown_units_and_garbage_are_skipped_with_a_reason():
    result = a_report([Sample("12", unit="MWh"), Sample("n/a", unit="Wh"), Sample("3", measurand=POWER, unit="kW")])
    assert result.report.energy_wh is None
    assert result.report.power_w == 3000
    assert len(result.skipped) == 2


@pytest.mark.parametrize(("offset_s", "flagged"), [(0, False), (299, False), (-299, False), (301, True), (-3600, True)])
def test_clock_skew_flag(offset_s, flagged):
    report = a_report([Sample("1")], station_ts=T + timedelta(seconds=offset_s), received=T).report
    assert report.clock_skew_flagged is flagged
    assert report.station_timestamp == T + timedelta(seconds=offset_s) and report.received_at == T


def test_phase_names():
    assert [phase_of(p) for p in ("L1", "L2-N", "L3-L1", "N", None, "X")] == ["L1", "L2", "L3", None, None, None]
