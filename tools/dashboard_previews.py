"""Pictures of the Grafana dashboards with real data, for the README (`make dashboard-previews`).

There is no Grafana package on this machine's registries, but Debian has Prometheus: this starts
`make run`'s system (Tansu, every service, the simulated site), has a real Prometheus scrape every
service's /metrics, then asks Prometheus for every query of every panel of deploy/grafana/dashboards
over the run and draws each dashboard in its own grid (Grafana's 24 columns) with matplotlib.
What the pictures show is what the provisioned dashboards query, not a redrawing of other data.

    .venv/bin/python tools/dashboard_previews.py --minutes 8 --out docs/dashboards

Needs `prometheus` on PATH (Debian: `apt-get install prometheus`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
SERVICES = {
    "reservation-api": 8000,
    "ocpp-gateway": 8001,
    "scheduler": 8002,
    "energy-manager": 8003,
    "notifier": 8004,
    "billing": 8005,
    "reporting": 8006,
}
PROMETHEUS_PORT = 9391
ROW_HEIGHT_IN = 0.42
UNITS = {"watt": "W", "s": "s", "reqps": "/s", "percentunit": "", "short": ""}


def prometheus_config(scrape_s: int) -> str:
    jobs = "\n".join(
        f"  - job_name: {name}\n    static_configs:\n      - targets: ['127.0.0.1:{port}']"
        for name, port in SERVICES.items()
    )
    return f"global:\n  scrape_interval: {scrape_s}s\n  evaluation_interval: {scrape_s}s\nscrape_configs:\n{jobs}\n"


def wait_ready(timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = dict(SERVICES)
    while pending:
        for name, port in list(pending.items()):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    del pending[name]
            except httpx.HTTPError:
                pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"not ready after {timeout} s: {', '.join(pending)}")
        time.sleep(0.5)


def query_range(expr: str, start: float, end: float, step: int) -> list[dict[str, Any]]:
    response = httpx.get(
        f"http://127.0.0.1:{PROMETHEUS_PORT}/api/v1/query_range",
        params={"query": expr, "start": start, "end": end, "step": step},
        timeout=30,
    )
    body = response.json()
    if body.get("status") != "success":
        raise RuntimeError(f"Prometheus refused {expr!r}: {body.get('error')}")
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def legend(template: str, labels: dict[str, str]) -> str:
    text = template or ", ".join(f"{k}={v}" for k, v in labels.items()) or "value"
    for key, value in labels.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def draw(dashboard: dict[str, Any], start: float, end: float, step: int, out: Path) -> None:
    panels = dashboard["panels"]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    fig = plt.figure(figsize=(18, max(6.0, rows * ROW_HEIGHT_IN)))
    grid = fig.add_gridspec(rows, 24, hspace=0.0, wspace=0.0)
    for panel in panels:
        pos = panel["gridPos"]
        # A row above for the title and one below for the time axis; a column of margin on the left.
        top, bottom = pos["y"] + 1, pos["y"] + pos["h"] - (0 if panel["type"] == "stat" else 1)
        ax = fig.add_subplot(grid[top:bottom, pos["x"] + 1 : pos["x"] + pos["w"]])
        ax.set_title(panel["title"], fontsize=9, loc="left")
        unit = UNITS.get(panel.get("fieldConfig", {}).get("defaults", {}).get("unit", ""), "")
        series = [
            (legend(t.get("legendFormat", ""), r["metric"]), r["values"])
            for t in panel.get("targets", [])
            for r in query_range(t["expr"], start, end, step)
        ]
        if panel["type"] == "stat":
            ax.axis("off")
            last = [float(values[-1][1]) for _, values in series if values]
            shown = f"{sum(last):g}" if last else "no data"
            ax.text(0.5, 0.4, shown, fontsize=28, ha="center", va="center", transform=ax.transAxes)
            continue
        drawn = 0
        for name, values in series:
            points = [(datetime.fromtimestamp(t, UTC), float(v)) for t, v in values if math.isfinite(float(v))]
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], label=name[:48], linewidth=1.2)
                drawn += 1
        if not drawn:
            ax.text(0.5, 0.5, "no data in this run", ha="center", va="center", transform=ax.transAxes, color="grey")
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        ax.tick_params(labelsize=7)
        ax.set_ylabel(unit, fontsize=7)
        ax.xaxis.set_major_formatter(matplotlib.dates.DateFormatter("%H:%M:%S"))
        if 0 < drawn <= 8:
            ax.legend(fontsize=6, loc="upper left")
    fig.suptitle(f"{dashboard['title']}  (from Prometheus, a {int((end - start) / 60)} min `make run`)", fontsize=12)
    fig.subplots_adjust(left=0.01, right=0.99, top=0.95, bottom=0.02)
    fig.savefig(out, dpi=80)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=8, help="how long the system runs (default 8)")
    parser.add_argument("--speed", type=float, default=10, help="simulated seconds per real second (default 10)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboards")
    args = parser.parse_args()
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        print("prometheus is not on PATH (Debian: apt-get install prometheus)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="chargeyard-previews-"))
    (work / "prometheus.yml").write_text(prometheus_config(scrape_s=5))
    system = subprocess.Popen(
        [sys.executable, "-m", "chargeyard_devstack", "--run-dir", str(work / "run"), "--speed", str(args.speed)],
        cwd=ROOT,
        stdout=(work / "make-run.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    scraper = subprocess.Popen(
        [
            prometheus,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}",
        ],
        stdout=(work / "prometheus.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_ready(120)
        start = time.time()
        print(f"system ready; collecting for {args.minutes} min (logs in {work})", flush=True)
        time.sleep(args.minutes * 60)
        end = time.time()
        for path in sorted(DASHBOARDS.glob("*.json")):
            target = args.out / f"{path.stem}.png"
            draw(json.loads(path.read_text()), start, end, 15, target)
            print(f"wrote {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
    finally:
        for process in (scraper, system):
            os.killpg(process.pid, signal.SIGINT)
        for process in (scraper, system):
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
