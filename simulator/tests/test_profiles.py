from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from chargeyard_simulator.profiles import (
    ChargingProfile,
    Limit,
    ProfileKind,
    ProfilePurpose,
    ProfileStore,
    RateUnit,
    RecurrencyKind,
    SchedulePeriod,
    TxContext,
    composite_schedule,
    validate_profile_shape,
)

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)


def profile(
    id: int,
    purpose: ProfilePurpose,
    limit: float,
    *,
    stack: int = 0,
    unit: RateUnit = RateUnit.WATTS,
    kind: ProfileKind = ProfileKind.ABSOLUTE,
    start: datetime | None = T0,
    periods: tuple[SchedulePeriod, ...] | None = None,
    duration_s: int | None = None,
    tx: str | None = None,
    recurrency: RecurrencyKind | None = None,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
) -> ChargingProfile:
    return ChargingProfile(
        id=id,
        stack_level=stack,
        purpose=purpose,
        kind=kind,
        rate_unit=unit,
        periods=periods or (SchedulePeriod(0, limit),),
        start_schedule=start,
        duration_s=duration_s,
        transaction_id=tx,
        recurrency=recurrency,
        valid_from=valid_from,
        valid_to=valid_to,
    )


def watts(limit: Limit | None) -> float:
    assert limit is not None
    return limit.watts


def test_no_profile_means_no_limit() -> None:
    assert ProfileStore().limit_at(1, T0, 3) is None


def test_tx_profile_overrules_tx_default_even_at_lower_stack_level() -> None:
    store = ProfileStore()
    store.install(1, profile(1, ProfilePurpose.TX_DEFAULT, 9_000, stack=5), T0)
    store.install(1, profile(2, ProfilePurpose.TX, 4_000, stack=0, tx="tx-1"), T0)
    tx = TxContext("tx-1", T0)
    limit = store.limit_at(1, T0, 3, tx)
    assert limit is not None and limit.watts == 4_000 and limit.profile_id == 2
    # Without the transaction the TxProfile does not apply.
    limit = store.limit_at(1, T0, 3, None)
    assert limit is not None and limit.watts == 9_000
    # A TxProfile of another transaction does not apply either.
    limit = store.limit_at(1, T0, 3, TxContext("tx-2", T0))
    assert limit is not None and limit.watts == 9_000


def test_highest_stack_level_wins_and_falls_back_when_its_schedule_ends() -> None:
    store = ProfileStore()
    store.install(1, profile(1, ProfilePurpose.TX_DEFAULT, 10_000, stack=1), T0)
    store.install(1, profile(2, ProfilePurpose.TX_DEFAULT, 3_000, stack=3, duration_s=600), T0)
    assert watts(store.limit_at(1, T0 + timedelta(seconds=10), 3)) == 3_000
    assert watts(store.limit_at(1, T0 + timedelta(seconds=600), 3)) == 10_000


def test_station_max_caps_the_tx_limit() -> None:
    store = ProfileStore()
    store.install(0, profile(1, ProfilePurpose.STATION_MAX, 5_000), T0)
    store.install(1, profile(2, ProfilePurpose.TX_DEFAULT, 8_000), T0)
    limit = store.limit_at(1, T0, 3)
    assert limit is not None and limit.watts == 5_000 and limit.purpose is ProfilePurpose.STATION_MAX
    store.install(1, profile(2, ProfilePurpose.TX_DEFAULT, 4_000), T0)
    assert watts(store.limit_at(1, T0, 3)) == 4_000


def test_amps_become_watts_with_the_phases_in_use() -> None:
    store = ProfileStore()
    store.install(1, profile(1, ProfilePurpose.TX_DEFAULT, 16, unit=RateUnit.AMPERES), T0)
    assert watts(store.limit_at(1, T0, 3)) == pytest.approx(16 * 230 * 3)
    assert watts(store.limit_at(1, T0, 1)) == pytest.approx(16 * 230)
    store.install(
        1,
        profile(
            1, ProfilePurpose.TX_DEFAULT, 0, unit=RateUnit.AMPERES, periods=(SchedulePeriod(0, 10, number_phases=1),)
        ),
        T0,
    )
    limit = store.limit_at(1, T0, 3)
    assert limit is not None and limit.watts == pytest.approx(2_300) and limit.number_phases == 1


def test_evse_specific_tx_default_overrules_the_station_wide_one() -> None:
    store = ProfileStore()
    store.install(0, profile(1, ProfilePurpose.TX_DEFAULT, 2_000, stack=9), T0)
    store.install(2, profile(2, ProfilePurpose.TX_DEFAULT, 7_000, stack=0), T0)
    assert watts(store.limit_at(1, T0, 3)) == 2_000
    assert watts(store.limit_at(2, T0, 3)) == 7_000


def test_same_id_or_same_purpose_and_stack_level_replaces() -> None:
    store = ProfileStore()
    store.install(1, profile(1, ProfilePurpose.TX_DEFAULT, 1_000, stack=1), T0)
    replaced = store.install(1, profile(2, ProfilePurpose.TX_DEFAULT, 2_000, stack=1), T0)
    assert [p.id for p in replaced] == [1]
    replaced = store.install(1, profile(2, ProfilePurpose.TX_DEFAULT, 3_000, stack=2), T0)
    assert [p.id for p in replaced] == [2]
    assert [(p.id, p.stack_level) for p in store.profiles(1)] == [(2, 2)]
    # A different stack level of the same purpose is kept side by side.
    store.install(1, profile(3, ProfilePurpose.TX_DEFAULT, 4_000, stack=4), T0)
    assert len(store.profiles(1)) == 2


def test_clear_by_id_and_by_criteria() -> None:
    store = ProfileStore()
    store.install(0, profile(1, ProfilePurpose.STATION_MAX, 20_000), T0)
    store.install(1, profile(2, ProfilePurpose.TX_DEFAULT, 5_000, stack=1), T0)
    store.install(1, profile(3, ProfilePurpose.TX_DEFAULT, 6_000, stack=2), T0)
    store.install(2, profile(4, ProfilePurpose.TX_DEFAULT, 7_000, stack=1), T0)
    assert [p.id for p in store.clear(profile_id=3)] == [3]
    assert [p.id for p in store.clear(purpose=ProfilePurpose.TX_DEFAULT, stack_level=1)] == [2, 4]
    assert store.clear(evse_id=5) == []
    assert [p.id for p in store.clear()] == [1]
    assert store.count() == 0


def test_relative_profile_follows_the_transaction_start() -> None:
    store = ProfileStore()
    periods = (SchedulePeriod(0, 11_000), SchedulePeriod(1_800, 3_700))
    store.install(
        1, profile(1, ProfilePurpose.TX_DEFAULT, 0, kind=ProfileKind.RELATIVE, start=None, periods=periods), T0
    )
    tx = TxContext("t", T0 + timedelta(hours=1))
    assert watts(store.limit_at(1, T0 + timedelta(hours=1, minutes=29), 3, tx)) == 11_000
    assert watts(store.limit_at(1, T0 + timedelta(hours=1, minutes=30), 3, tx)) == 3_700


def test_daily_recurring_profile_repeats() -> None:
    store = ProfileStore()
    night = profile(
        1,
        ProfilePurpose.TX_DEFAULT,
        0,
        kind=ProfileKind.RECURRING,
        recurrency=RecurrencyKind.DAILY,
        start=datetime(2025, 1, 1, 0, 0, tzinfo=UTC),
        periods=(SchedulePeriod(0, 11_000), SchedulePeriod(7 * 3600, 2_000), SchedulePeriod(22 * 3600, 11_000)),
    )
    store.install(1, night, T0)
    assert watts(store.limit_at(1, datetime(2025, 3, 3, 3, 0, tzinfo=UTC), 3)) == 11_000
    assert watts(store.limit_at(1, datetime(2025, 3, 3, 12, 0, tzinfo=UTC), 3)) == 2_000
    assert watts(store.limit_at(1, datetime(2025, 3, 4, 23, 0, tzinfo=UTC), 3)) == 11_000


def test_validity_window_and_future_start() -> None:
    store = ProfileStore()
    store.install(1, profile(1, ProfilePurpose.TX_DEFAULT, 5_000, valid_to=T0 + timedelta(hours=1)), T0)
    store.install(1, profile(2, ProfilePurpose.TX_DEFAULT, 1_000, stack=1, start=T0 + timedelta(hours=2)), T0)
    assert watts(store.limit_at(1, T0, 3)) == 5_000
    assert store.limit_at(1, T0 + timedelta(minutes=90), 3) is None
    assert watts(store.limit_at(1, T0 + timedelta(hours=2), 3)) == 1_000


def test_composite_schedule_merges_periods_and_caps_with_hardware() -> None:
    store = ProfileStore()
    store.install(0, profile(1, ProfilePurpose.STATION_MAX, 8_000, start=T0 + timedelta(seconds=600)), T0)
    periods = (SchedulePeriod(0, 16), SchedulePeriod(300, 16), SchedulePeriod(900, 6))
    store.install(1, profile(2, ProfilePurpose.TX_DEFAULT, 0, unit=RateUnit.AMPERES, periods=periods), T0)
    watts = composite_schedule(store, 1, T0, 1_200, RateUnit.WATTS, 3, hardware_max_w=11_000)
    assert [(p.start_period_s, p.limit) for p in watts] == [(0, 11_000), (600, 8_000), (900, 4_140)]
    amps = composite_schedule(store, 1, T0, 1_200, RateUnit.AMPERES, 3, hardware_max_w=11_000)
    assert [(p.start_period_s, p.limit) for p in amps] == [(0, 15.9), (600, 11.6), (900, 6.0)]


def test_composite_without_profiles_is_the_hardware_maximum() -> None:
    periods = composite_schedule(ProfileStore(), 1, T0, 3_600, RateUnit.WATTS, 3, hardware_max_w=22_000)
    assert [(p.start_period_s, p.limit) for p in periods] == [(0, 22_000)]


def test_shape_validation() -> None:
    bad_start = profile(1, ProfilePurpose.TX_DEFAULT, 0, periods=(SchedulePeriod(10, 5),))
    assert validate_profile_shape(bad_start) is not None
    unordered = profile(1, ProfilePurpose.TX_DEFAULT, 0, periods=(SchedulePeriod(0, 5), SchedulePeriod(0, 6)))
    assert validate_profile_shape(unordered) is not None
    assert validate_profile_shape(profile(1, ProfilePurpose.TX_DEFAULT, 5)) is None
