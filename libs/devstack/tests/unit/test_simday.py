"""The comparison of chargeyard_devstack.simday: each metric outside its tolerance is named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chargeyard_devstack.simday import Tolerance, _intervals, _step, compare

NO_VIOLATIONS = {"site_limit": 0, "board_limit": 0, "min_current": 0}


def metrics(**changes: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "sessions": 4,
        "sessions_fully_met": 4,
        "energy_delivered_pct": 100.0,
        "peak_kw": 22.0,
        "limit_kw": 22.0,
        "limit_violations": dict(NO_VIOLATIONS),
        "cost": "9.42",
        "green_share": 0.507,
    }
    found.update(changes)
    return found


def test_the_same_metrics_compare_clean() -> None:
    assert compare(metrics(), metrics(plan_violations=0, commands_expired=0), Tolerance()) == []


def test_differences_within_the_tolerance_pass() -> None:
    live = metrics(energy_delivered_pct=97.5, peak_kw=20.0, cost="9.80", green_share=0.53)
    assert compare(metrics(), live, Tolerance()) == []


@pytest.mark.parametrize(
    ("live", "named"),
    [
        (metrics(energy_delivered_pct=96.9), "energy delivered"),
        (metrics(sessions_fully_met=3), "sessions fully met"),
        (metrics(peak_kw=22.5), "over the limit"),
        (metrics(peak_kw=19.7), "below chargeyard-sim's"),
        (metrics(limit_violations={**NO_VIOLATIONS, "min_current": 1}), "limit violations"),
        (metrics(cost="9.95"), "cost"),
        (metrics(green_share=0.55), "green share"),
        (metrics(plan_violations=2), "plan checker"),
        (metrics(commands_expired=1), "expired in the gateway"),
    ],
)
def test_each_metric_outside_its_tolerance_is_named(live: dict[str, Any], named: str) -> None:
    problems = compare(metrics(), live, Tolerance())
    assert len(problems) == 1 and named in problems[0], problems


def test_prices_are_shifted_as_intervals_and_read_as_steps() -> None:
    t0 = datetime(2026, 3, 29, 7, tzinfo=UTC)
    series = {t0: 0.3, t0 + timedelta(hours=1): 0.2}
    shift = timedelta(minutes=90)
    assert _intervals(series, shift, t0 + timedelta(hours=3)) == [
        (t0 + shift, t0 + timedelta(hours=1) + shift, 0.3),
        (t0 + timedelta(hours=1) + shift, t0 + timedelta(hours=3) + shift, 0.2),
    ]
    assert _step(series, t0 - timedelta(minutes=1)) == 0.3  # before the first step: the first value
    assert _step(series, t0 + timedelta(minutes=61)) == 0.2
    assert _step(None, t0) is None
