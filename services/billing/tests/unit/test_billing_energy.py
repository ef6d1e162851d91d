from datetime import UTC, datetime, timedelta

from chargeyard_billing.domain.energy import RegisterReading, energy_between
from chargeyard_billing.domain.sessions import ChargingSession, SessionStatus

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
SIG = {"format": "OCMF", "data": "OCMF|{}"}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def a_session() -> ChargingSession:
    return ChargingSession(transaction_id="tx-1", station_id="CP-1", evse_id=1, connector_id=1)


def test_energy_is_stop_minus_start_register() -> None:
    assert energy_between(RegisterReading(10_000, at(0)), RegisterReading(17_500, at(60))).energy_wh == 7_500


def test_energy_is_unknown_without_both_readings() -> None:
    assert energy_between(None, RegisterReading(1, at(0))).energy_wh is None
    assert energy_between(RegisterReading(1, at(0)), None).energy_wh is None


def test_a_register_going_backwards_bills_nothing_and_says_why() -> None:
    energy = energy_between(RegisterReading(5_000, at(0)), RegisterReading(100, at(60)))
    assert energy.energy_wh is None
    assert energy.anomaly is not None and "backwards" in energy.anomaly


def test_readings_are_differenced_never_summed() -> None:
    cs = a_session()
    cs.started(at=at(0), id_token="RFID", meter_wh=1_000, offline=False)
    for minute, wh in [(15, 2_000), (30, 3_000), (45, 4_000)]:
        cs.observe(RegisterReading(wh, at(minute)))
    assert cs.energy.energy_wh == 3_000


def test_meter_values_before_the_started_event_are_kept_and_meter_start_wins() -> None:
    cs = a_session()
    cs.observe(RegisterReading(1_200, at(10)))
    cs.observe(RegisterReading(1_100, at(5)))  # an older reading arriving late becomes the start
    assert cs.start is not None and cs.start.wh == 1_100
    cs.started(at=at(0), id_token="RFID", meter_wh=1_000, offline=False)
    assert cs.start.wh == 1_000 and cs.start_from_transaction
    assert cs.stop is not None and cs.stop.wh == 1_200
    assert cs.energy.energy_wh == 200


def test_meter_stop_wins_and_later_readings_do_not_move_it() -> None:
    cs = a_session()
    cs.started(at=at(0), id_token=None, meter_wh=1_000, offline=False)
    cs.ended(at=at(60), id_token=None, meter_wh=8_000, reason="EVDisconnected")
    cs.observe(RegisterReading(7_000, at(50)))  # late, from during the session
    cs.observe(RegisterReading(8_300, at(70)))  # after the end
    assert cs.status is SessionStatus.COMPLETED
    assert cs.stop is not None and cs.stop.wh == 8_000
    assert cs.energy.energy_wh == 7_000


def test_without_meter_stop_the_last_reading_before_the_end_is_the_stop() -> None:
    cs = a_session()
    cs.started(at=at(0), id_token=None, meter_wh=None, offline=False)
    cs.observe(RegisterReading(500, at(1)))
    cs.ended(at=at(60), id_token=None, meter_wh=None, reason=None)
    cs.observe(RegisterReading(900, at(59)))  # late but before the end: counts
    cs.observe(RegisterReading(990, at(61)))  # after the end: does not
    assert cs.energy.energy_wh == 400


def test_signatures_stay_with_the_readings_they_sign() -> None:
    cs = a_session()
    cs.started(at=at(0), id_token=None, meter_wh=1_000, offline=False)
    cs.observe(RegisterReading(1_000, at(0), SIG))  # Transaction.Begin, signed
    cs.observe(RegisterReading(3_000, at(30), {"format": "OCMF", "data": "mid"}))
    cs.observe(RegisterReading(5_000, at(60)))  # unsigned: the stop is no longer the signed one
    assert cs.start is not None and cs.start.signed == SIG
    assert cs.stop is not None and cs.stop.signed is None
    cs.ended(at=at(60), id_token=None, meter_wh=5_000, reason=None)
    cs.observe(RegisterReading(5_000, at(60), {"format": "OCMF", "data": "end"}))
    assert cs.stop.signed == {"format": "OCMF", "data": "end"}


def test_a_token_sent_after_the_start_is_kept() -> None:
    cs = a_session()
    cs.started(at=at(0), id_token=None, meter_wh=0, offline=True)
    cs.updated(at=at(1), id_token="RFID-9", meter_wh=None)
    assert cs.id_token == "RFID-9" and cs.offline
