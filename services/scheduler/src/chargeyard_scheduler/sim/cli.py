"""chargeyard-sim --sessions FILE.csv --site SITE.json --strategy fcfs|economic|green
[--prices FILE.csv] [--green FILE.csv] [--slot-minutes N] --out DIR

Prints a short summary and, on its last line, the metrics as one JSON object (also written to
DIR/metrics.json). Exit status 2 with a message naming the problem for bad input."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .inputs import InputError, read_series, read_sessions, read_site
from .replay import metrics, replay


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chargeyard-sim", description="Replay charging sessions through the planner.")
    p.add_argument(
        "--sessions",
        type=Path,
        required=True,
        help="CSV: " + ", ".join(("session_id", "station_id", "arrival", "departure", "energy_kwh", "max_power_kw")),
    )
    p.add_argument("--site", type=Path, required=True, help='JSON: {"limit_kw": X, "boards": [...]}')
    p.add_argument("--strategy", choices=("fcfs", "economic", "green"), required=True)
    p.add_argument("--prices", type=Path, help="CSV: start,price_per_kwh (a step function)")
    p.add_argument("--green", type=Path, help="CSV: start,green_share (0..1, a step function)")
    p.add_argument("--slot-minutes", type=int, default=15, help="plan slot length, 1..60 (default 15)")
    p.add_argument("--time-limit", type=float, default=5.0, help="solver time limit per plan in s (default 5)")
    p.add_argument("--no-plots", action="store_true", help="metrics only")
    p.add_argument("--out", type=Path, required=True, help="directory for the PNG plots and metrics.json")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not 1 <= args.slot_minutes <= 60:
        print("chargeyard-sim: --slot-minutes must be within 1..60", file=sys.stderr)
        return 2
    if args.time_limit <= 0:
        print("chargeyard-sim: --time-limit must be > 0", file=sys.stderr)
        return 2
    try:
        sessions = read_sessions(args.sessions)
        site = read_site(args.site, sessions)
        prices = read_series(args.prices, "price_per_kwh") if args.prices else None
        green = read_series(args.green, "green_share", maximum=1.0) if args.green else None
    except InputError as exc:
        print(f"chargeyard-sim: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    result = replay(
        sessions,
        site,
        args.strategy,
        slot_seconds=args.slot_minutes * 60,
        prices=prices,
        green=green,
        time_limit_s=args.time_limit,
    )
    found = metrics(result, sessions, site)
    found["strategy"] = args.strategy
    if not args.no_plots:
        from .plots import write_plots  # matplotlib is slow to import: only when plotting

        found["plots"] = [str(p) for p in write_plots(result, sessions, site, args.out)]
    (args.out / "metrics.json").write_text(json.dumps(found, indent=2) + "\n")
    print(
        f"{found['sessions_fully_met']}/{found['sessions']} sessions fully met, "
        f"{found['energy_delivered_kwh']} of {found['energy_requested_kwh']} kWh, peak {found['peak_kw']} kW "
        f"(limit {found['limit_kw']} kW), {found['solves']} plans, median {found['solve_ms_median']} ms"
    )
    print(json.dumps(found, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
