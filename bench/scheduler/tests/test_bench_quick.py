"""Keeps bench/scheduler honest in `make test`: the quick mode (40 and 120 cars) runs end to
end and every plan but the uncontrolled baseline passes the independent checker.

It asserts what must hold on any machine (zero violations, the planner delivers at least as
much as the best limit-respecting baseline within 0.5 %, the bound is below the plan), never the
timing targets: those depend on the machine and are printed by `make bench`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parents[1] / "run.py"


def test_quick_bench_has_no_violation_and_the_planner_leads_the_baselines() -> None:
    done = subprocess.run(
        [sys.executable, str(RUN)],
        env=dict(os.environ, BENCH_QUICK="1"),
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.startswith("chargeyard scheduler bench |") and "cores" in done.stdout
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert [r["cars"] for r in report["results"]] == [40, 120]
    for res in report["results"]:
        rows = {r["name"]: r for r in res["rows"]}
        assert set(rows) == {"planner", "uncontrolled", "equal", "edf", "llf"}
        for name, row in rows.items():
            if name != "uncontrolled":
                assert row["violations"] == 0, (res["cars"], name)
        assert rows["uncontrolled"]["violations"] > 0  # the checker does see a broken limit
        best = max(rows[n]["energy_kwh"] for n in ("equal", "edf", "llf"))
        assert rows["planner"]["energy_kwh"] >= 0.995 * best, res["cars"]
        assert res["lp_bound"]["objective"] <= rows["planner"]["objective"] + 1e-6
        assert res["build_s"] > 0 and res["solve_s"] > 0 and res["int_decisions"] >= 0
