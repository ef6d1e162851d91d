"""The issue's examples A, B and C to the cent, and the reading checks that keep a session unpriced."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from chargeyard_billing.domain.energy import RegisterReading
from chargeyard_billing.domain.pricing import AnomalyKind, LineKind, Priced, SessionReadings, price
from chargeyard_billing.domain.tariffs import EnergyWindow, IdleFee, Tariff, TariffScope, select_tariff, to_cent

BERLIN = ZoneInfo("Europe/Berlin")
VAT = Decimal("0.19")
D = Decimal


def local(day: str, hhmm: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=BERLIN).astimezone(UTC)


def a_session(*readings: tuple[datetime, int], full_at: datetime | None = None) -> SessionReadings:
    rs = tuple(RegisterReading(wh, at) for at, wh in readings)
    start, stop = rs[0], rs[-1]
    return SessionReadings(
        readings=rs,
        start=start,
        stop=stop,
        started_at=start.at,
        stopped_at=stop.at,
        start_from_transaction=True,
        stop_from_transaction=True,
        full_at=full_at,
    )


def priced(result: Priced | list) -> Priced:
    assert isinstance(result, Priced), result
    return result


def test_example_a_time_of_use_split_at_the_reading_at_the_boundary() -> None:
    tariff = Tariff(
        "A",
        "EUR",
        VAT,
        energy=(EnergyWindow(time(6), D("0.30")), EnergyWindow(time(22), D("0.20"))),
        session_fee=D("0.50"),
    )
    day = "2026-03-10"
    session = a_session((local(day, "21:30"), 12_000), (local(day, "22:00"), 17_500), (local(day, "23:00"), 25_000))
    result = priced(price(session, tariff, BERLIN))
    energy = [line for line in result.lines if line.kind is LineKind.ENERGY]
    assert [(line.quantity, line.unit_price, line.amount) for line in energy] == [
        (D("5.5"), D("0.30"), D("1.65")),
        (D("7.5"), D("0.20"), D("1.50")),
    ]
    assert result.total(LineKind.SESSION_FEE) == D("0.50")
    assert (result.net, result.vat, result.gross) == (D("3.65"), D("0.69"), D("4.34"))
    assert str(result.gross) == "4.34"


def test_example_b_idle_fee_per_full_minute_after_the_car_is_full() -> None:
    tariff = Tariff(
        "B", "EUR", VAT, energy=(EnergyWindow(time(0), D("0.35")),), idle=IdleFee(D("0.10"), free_minutes=10)
    )
    day = "2026-03-10"
    session = a_session(
        (local(day, "08:00"), 0),
        (local(day, "10:12"), 22_400),
        (local(day, "11:40"), 22_400),
        full_at=local(day, "10:12"),
    )
    result = priced(price(session, tariff, BERLIN))
    assert result.total(LineKind.ENERGY) == D("7.84")
    assert result.quantity(LineKind.IDLE) == 78
    assert result.total(LineKind.IDLE) == D("7.80")
    assert (result.net, result.vat, result.gross) == (D("15.64"), D("2.97"), D("18.61"))


def test_example_c_vat_rounds_half_up_not_to_even() -> None:
    tariff = Tariff("C", "EUR", VAT, energy=(EnergyWindow(time(0), D("0.25")),))
    t0 = datetime(2026, 3, 10, 8, tzinfo=UTC)
    result = priced(price(a_session((t0, 100_000), (t0 + timedelta(hours=1), 106_000)), tariff, BERLIN))
    assert (result.net, result.vat, result.gross) == (D("1.50"), D("0.29"), D("1.79"))
    assert D("0.285").quantize(D("0.01")) == D("0.28")  # what the default (banker's) rounding would give
    assert to_cent(D("0.285")) == D("0.29")


def test_a_boundary_between_readings_is_interpolated_linearly() -> None:
    tariff = Tariff("T", "EUR", VAT, energy=(EnergyWindow(time(6), D("0.30")), EnergyWindow(time(22), D("0.20"))))
    day = "2026-03-10"
    # 21:50 → 22:10 goes 10,000 → 13,000 Wh: at 22:00, halfway, 11,500.
    session = a_session((local(day, "21:50"), 10_000), (local(day, "22:10"), 13_000))
    result = priced(price(session, tariff, BERLIN))
    energy = [line for line in result.lines if line.kind is LineKind.ENERGY]
    assert [line.quantity for line in energy] == [D("1.5"), D("1.5")]
    assert sum(line.quantity for line in energy) * 1000 == result.energy_wh == 3_000


def test_time_of_use_follows_the_local_wall_clock_across_daylight_saving() -> None:
    tariff = Tariff("T", "EUR", VAT, energy=(EnergyWindow(time(6), D("0.30")), EnergyWindow(time(22), D("0.20"))))
    # 2026-03-29 is the spring change in Berlin: 22:00 local is 20:00 UTC that evening.
    start, stop = datetime(2026, 3, 29, 19, 30, tzinfo=UTC), datetime(2026, 3, 29, 20, 30, tzinfo=UTC)
    mid = datetime(2026, 3, 29, 20, 5, tzinfo=UTC)
    before = datetime(2026, 3, 29, 19, 50, tzinfo=UTC)
    result = priced(price(a_session((start, 0), (before, 700), (mid, 1_000), (stop, 2_000)), tariff, BERLIN))
    energy = [line for line in result.lines if line.kind is LineKind.ENERGY]
    assert [line.start for line in energy] == [start, datetime(2026, 3, 29, 20, tzinfo=UTC)]
    assert [line.unit_price for line in energy] == [D("0.30"), D("0.20")]


def test_a_per_minute_price_counts_full_minutes() -> None:
    tariff = Tariff("T", "EUR", VAT, price_per_minute=D("0.02"))
    t0 = datetime(2026, 3, 10, 8, tzinfo=UTC)
    result = priced(price(a_session((t0, 0), (t0 + timedelta(minutes=90, seconds=59), 1_000)), tariff, BERLIN))
    assert result.quantity(LineKind.TIME) == 90
    assert result.net == D("1.80")


def test_bad_readings_are_flagged_not_priced() -> None:
    tariff = Tariff("T", "EUR", VAT, energy=(EnergyWindow(time(6), D("0.30")), EnergyWindow(time(22), D("0.20"))))
    day = "2026-03-10"
    backwards = a_session((local(day, "20:00"), 5_000), (local(day, "20:30"), 4_000), (local(day, "21:00"), 6_000))
    duplicate = a_session(
        (local(day, "20:00"), 0),
        (local(day, "20:30"), 1_000),
        (local(day, "20:30"), 1_100),
        (local(day, "21:00"), 2_000),
    )
    gap = a_session((local(day, "20:00"), 0), (local(day, "23:00"), 9_000))  # 22:00 lies in a 3 h gap
    missing_stop = SessionReadings(
        readings=(RegisterReading(0, local(day, "20:00")), RegisterReading(500, local(day, "20:10"))),
        start=RegisterReading(0, local(day, "20:00")),
        stop=RegisterReading(500, local(day, "20:10")),
        started_at=local(day, "20:00"),
        stopped_at=local(day, "21:00"),
        start_from_transaction=True,
    )
    for session, kind in [
        (backwards, AnomalyKind.BACKWARDS),
        (duplicate, AnomalyKind.DUPLICATE),
        (gap, AnomalyKind.GAP),
        (missing_stop, AnomalyKind.MISSING_STOP),
    ]:
        result = price(session, tariff, BERLIN)
        assert isinstance(result, list), f"{kind} was priced: {result}"
        assert kind in {a.kind for a in result}


def test_the_most_specific_tariff_wins() -> None:
    everyone = Tariff("everyone", "EUR", VAT)
    site = Tariff("site", "EUR", VAT, scope=TariffScope(site_id="s1"))
    tenant = Tariff("tenant", "EUR", VAT, scope=TariffScope(site_id="s1", tenant_id="acme"))
    group = Tariff("group", "EUR", VAT, scope=TariffScope(tenant_id="acme", user_group="staff"))
    tariffs = [everyone, site, tenant, group]
    assert select_tariff(tariffs, site_id="s1", tenant_id="acme", user_group="staff") is group
    assert select_tariff(tariffs, site_id="s1", tenant_id="acme", user_group=None) is tenant
    assert select_tariff(tariffs, site_id="s1", tenant_id=None, user_group=None) is site
    assert select_tariff(tariffs, site_id="s2", tenant_id=None, user_group=None) is everyone
    assert select_tariff([site], site_id="s2", tenant_id=None, user_group=None) is None
