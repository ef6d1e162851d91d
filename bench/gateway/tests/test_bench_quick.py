"""Keeps bench/gateway from rotting: the quick mode runs end to end and prints a sane table.

It asserts that the numbers are plausible (things were measured and published), never that the
performance targets are met: those depend on the machine and are reported in bench/README.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parents[1] / "run.py"
sys.path.insert(0, str(RUN.parent))
from driver import kept_up, rated_fractions  # noqa: E402  (the bench's own directory, as run.py sees it)


def step(offered: float, achieved: float, p99_ms: float | None) -> dict[str, float | None]:
    return {"offered_msg_s": offered, "msg_s": achieved, "p99_ms": p99_ms}


def test_rated_steps_climb_while_the_server_keeps_up_and_stop_at_the_first_it_does_not() -> None:
    done: list[dict[str, float | None]] = []
    steps = rated_fractions([0.3, 0.7], done, climb_p99_ms=100, climb_to=1.0)
    p99s = {0.3: 20, 0.7: 40, 0.8: 90, 0.9: 150}
    taken = []
    for fraction in steps:
        taken.append(round(fraction, 2))
        done.append(step(1000 * fraction, 1000 * fraction, p99s.get(round(fraction, 2), 0)))
    assert taken == [0.3, 0.7, 0.8, 0.9]  # 0.9 broke p99: no 1.0

    done.clear()
    assert [round(f, 2) for f in rated_fractions([0.5], done, 0, 1.0)] == [0.5]  # climbing off


def test_a_step_is_kept_up_only_within_the_p99_and_at_95_percent_of_the_offered_rate() -> None:
    assert kept_up(step(1000, 960, 99.9), 100)
    assert not kept_up(step(1000, 940, 50), 100)  # fell behind
    assert not kept_up(step(1000, 1000, 100.1), 100)
    assert not kept_up(step(1000, 0, None), 100)  # nothing answered


@pytest.mark.integration
def test_quick_bench_prints_a_table_with_sane_numbers(tmp_path: Path) -> None:
    env = dict(os.environ, BENCH_QUICK="1")
    done = subprocess.run(
        [sys.executable, str(RUN), "--sizes", "200", "--no-storm", "--out", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert out.startswith("machine: ") and "cores" in out and "Python 3." in out
    assert "| 200 | bare |" in out and "| 200 | gateway | sqlite |" in out

    report = json.loads(next(tmp_path.glob("gateway-*.json")).read_text())
    by_server = {r["server"]: r for r in report["results"]}
    for result in by_server.values():
        assert result["connect_failures"] == 0
        saturated = result["saturated"]
        assert saturated["msg_s"] > 10 and saturated["errors"] == 0
        assert 0 < saturated["p50_ms"] <= saturated["p99_ms"] < 60_000
        assert 0 < result["mem_per_conn_kb"] < 1024
        assert saturated["cpu"]["server"] > 1 and saturated["cpu"]["driver"] > 0
        assert result["rated"] and result["rated"][0]["calls"] > 0
        # Quick mode: one step at 0.5, climbing to 0.6 only if that one was kept up.
        fractions = [r["fraction"] for r in result["rated"]]
        assert fractions == ([0.5, 0.6] if kept_up(result["rated"][0], 100.0) else [0.5])
    published = by_server["gateway"]["published"]
    # Every MeterValues the gateway answered reached meter.values (at least once).
    assert published["records"] >= published["answered_in_phases"] > 0


def test_the_session_path_bench_answers_every_message_and_prints_its_cost() -> None:
    script = RUN.parent / "session_path.py"
    done = subprocess.run(
        [sys.executable, str(script), "--sessions", "4", "--messages", "5", "--repeat", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]  # it exits non-zero when an answer is missing
    line = done.stdout.strip().splitlines()[-1]
    assert line.startswith("session path, 4 sessions x 5 MeterValues x 2: CPU per message median ")
    median = float(line.split("median ")[1].split(" us")[0])
    assert 1 < median < 100_000
