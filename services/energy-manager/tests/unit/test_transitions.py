from datetime import UTC, datetime, timedelta

from chargeyard_energy.domain.transitions import Step, StepFunction, safe_transition
from hypothesis import given, settings
from hypothesis import strategies as st

T0 = datetime(2026, 11, 21, 8, tzinfo=UTC)
D = timedelta(seconds=10)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def fn(*pairs: tuple[float, int], before: int = 0) -> StepFunction:
    return StepFunction([Step(at(s), v) for s, v in pairs], before=before)


def test_an_increase_waits_and_a_decrease_does_not() -> None:
    new = fn((0, 5000), (900, 11000), (1800, 2000))
    steps = safe_transition(new, old=fn((0, 5000)), now=at(0), delay=D)
    assert [(int((s.at - T0).total_seconds()), s.limit) for s in steps] == [(0, 5000), (910, 11000), (1800, 2000)]


def test_after_a_replan_the_old_limit_caps_the_new_one_for_the_delay() -> None:
    steps = safe_transition(fn((0, 11000)), old=fn((0, 3000)), now=at(0), delay=D)
    assert [(int((s.at - T0).total_seconds()), s.limit) for s in steps] == [(0, 3000), (10, 11000)]


def test_unknown_old_state_is_taken_as_zero() -> None:
    steps = safe_transition(fn((0, 7000)), old=None, now=at(0), delay=D)
    assert [(int((s.at - T0).total_seconds()), s.limit) for s in steps] == [(0, 0), (10, 7000)]


profiles = st.lists(st.tuples(st.integers(0, 3600), st.integers(0, 22000)), min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(
    old_a=profiles, old_b=profiles, new_a=profiles, new_b=profiles, lag=st.floats(0, 9.9), probe=st.integers(0, 4000)
)
def test_two_evses_switching_plans_at_different_moments_never_exceed_either_plans_sum(
    old_a: list[tuple[int, int]],
    old_b: list[tuple[int, int]],
    new_a: list[tuple[int, int]],
    new_b: list[tuple[int, int]],
    lag: float,
    probe: int,
) -> None:
    """EVSE A gets the new plan at `now`, EVSE B `lag` seconds later (< delay): at any instant the
    sum of what they hold stays within max(old plan sum, new plan sum) at that instant."""
    now = at(0)
    fa_old, fb_old = fn(*old_a), fn(*old_b)
    fa_new, fb_new = fn(*new_a), fn(*new_b)
    a_safe = StepFunction(safe_transition(fa_new, fa_old, now, D), before=fa_old.at(now))
    b_safe = StepFunction(safe_transition(fb_new, fb_old, at(lag), D), before=fb_old.at(now))
    t = at(probe / 1.0)
    a_holds = a_safe.at(t)
    b_holds = b_safe.at(t) if t >= at(lag) else fb_old.at(t)
    assert a_holds + b_holds <= max(fa_old.at(t) + fb_old.at(t), fa_new.at(t) + fb_new.at(t))
