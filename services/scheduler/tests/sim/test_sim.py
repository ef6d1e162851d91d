"""chargeyard-sim on the shipped sample, end to end as a user runs it, and its input errors."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from chargeyard_scheduler.sim.cli import main
from chargeyard_scheduler.sim.inputs import InputError, Session, SimBoard, Site, Station, read_sessions, read_site
from chargeyard_scheduler.sim.replay import Interval, Replay, metrics

EXAMPLES = Path(__file__).parents[2] / "examples"


def sim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chargeyard_scheduler.sim.cli", *args], capture_output=True, text=True, timeout=240
    )


def test_the_sample_day_replays_with_plots_and_metrics_on_the_last_line(tmp_path: Path) -> None:
    done = sim(
        "--sessions", str(EXAMPLES / "sessions.csv"),
        "--site", str(EXAMPLES / "site.json"),
        "--strategy", "economic",
        "--prices", str(EXAMPLES / "prices.csv"),
        "--green", str(EXAMPLES / "green.csv"),
        "--slot-minutes", "60",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == json.loads((tmp_path / "metrics.json").read_text())
    assert found["sessions"] == 8 and found["energy_requested_kwh"] == 202.0
    # The site limit (33 kW) is never exceeded and every offer is 0 A or at least 6 A.
    assert found["limit_violations"]["site_limit"] == 0 and found["limit_violations"]["min_current"] == 0
    assert found["peak_kw"] <= 33.0
    assert 0 < found["energy_delivered_kwh"] <= 202.0 and found["sessions_fully_met"] >= 5
    assert float(found["cost"]) > 0 and 0 < found["green_share"] <= 1
    assert found["solves"] > 8 and found["solve_ms_median"] > 0
    for name in ("power_per_evse.png", "site_load.png", "price_green.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_bad_input_is_refused_naming_the_line_and_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "session_id,station_id,arrival,departure,energy_kwh,max_power_kw\n"
        "a,CP-1,2026-03-29T08:00:00+02:00,2026-03-29T09:00:00+02:00,10,11\n"
        "b,CP-1,2026-03-29T08:00:00,2026-03-29T09:00:00+02:00,10,11\n"
    )
    done = sim(
        "--sessions", str(bad), "--site", str(EXAMPLES / "site.json"), "--strategy", "fcfs", "--out", str(tmp_path)
    )
    assert done.returncode == 2 and "bad.csv:3 arrival" in done.stderr and "no UTC offset" in done.stderr
    with pytest.raises(InputError, match="missing column"):
        (tmp_path / "x.csv").write_text("session_id,arrival\n")
        read_sessions(tmp_path / "x.csv")
    (tmp_path / "site.json").write_text('{"limit_kw": 10, "boards": [{"id": "b", "limit_a": 16, "parent": "nope"}]}')
    with pytest.raises(InputError, match="unknown parent 'nope'"):
        read_site(tmp_path / "site.json", [])
    with pytest.raises(SystemExit) as refused:
        main(["--sessions", str(bad), "--site", "x", "--strategy", "cheapest", "--out", str(tmp_path)])
    assert refused.value.code == 2 and "--strategy" in capsys.readouterr().err


def test_the_limit_check_is_independent_of_the_planner_and_catches_overloads() -> None:
    """The metrics' own check: a board of 16 A per phase carrying two 11 kW cars (2 x 15.9 A),
    a single-phase car at 5 A, and a site above its limit, all counted."""
    t = datetime(2026, 3, 29, 8, tzinfo=UTC)
    site = Site(
        limit_w=20_000,
        time_zone=ZoneInfo("Europe/Berlin"),
        boards=(SimBoard("b", 16.0),),
        stations=(Station("A", 11_000, board_id="b"), Station("B", 11_000, board_id="b"), Station("C", 7_400, 1)),
    )
    sessions = [
        Session(sid, st, t, t + timedelta(hours=1), 11_000, 11_000) for sid, st in (("a", "A"), ("b", "B"), ("c", "C"))
    ]
    over = Interval(
        t, t + timedelta(hours=1), {"a": 11_000, "b": 11_000}, {"a": 11_000, "b": 11_000}, 20_000, None, None
    )
    trickle = Interval(t, t + timedelta(hours=1), {"c": 1_150}, {"c": 1_150}, 20_000, None, None)
    fine = Interval(t, t + timedelta(hours=1), {"a": 11_000, "c": 1_380}, {"a": 11_000, "c": 1_380}, 20_000, None, None)
    found = metrics(Replay([over, trickle, fine], {"a": 11_000, "b": 11_000, "c": 2_530}), sessions, site)
    assert found["limit_violations"] == {"site_limit": 1, "board_limit": 1, "min_current": 1}
    assert found["sessions_fully_met"] == 2 and found["peak_kw"] == 22.0
