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
    published = by_server["gateway"]["published"]
    # Every MeterValues the gateway answered reached meter.values (at least once).
    assert published["records"] >= published["answered_in_phases"] > 0
