"""What a core's idling costs the next piece of work: the same Python work (decoding and encoding
a MeterValues payload fifteen times, ~150-200 µs) timed back to back and after sleeps of 0.1 to
2 ms, on one pinned core. At rated loads the gateway's core idles between messages; at saturation
it never does. A work unit that costs more after a sleep makes every message cost more at rated
rates, whatever the server does per message (bench/README.md, seventh round).

    python bench/gateway/idle_wake.py [--core 0] [--units 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import time

from host import cpu_model  # this directory is the script's, first on sys.path

PAYLOAD = json.dumps(
    {
        "connectorId": 1,
        "meterValue": [
            {
                "timestamp": "2026-12-07T10:00:00Z",
                "sampledValue": [
                    {"value": "1234.5", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
                    {"value": "7000", "measurand": "Power.Active.Import"},
                ],
            }
        ],
    }
)


def unit() -> int:
    size = 0
    for _ in range(15):
        size += len(json.dumps(json.loads(PAYLOAD)))
    return size


def timed(units: int, gap_s: float) -> float:
    """Mean µs of one unit, each after a sleep of `gap_s` (0: back to back)."""
    total = 0.0
    for _ in range(units):
        if gap_s:
            time.sleep(gap_s)
        start = time.perf_counter()
        unit()
        total += time.perf_counter() - start
    return total / units * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--core", type=int, default=0)
    parser.add_argument("--units", type=int, default=3000)
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.core})
    timed(args.units, 0)  # warm-up
    back_to_back = timed(args.units, 0)
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; pinned to core {args.core}")
    print(f"back to back: {back_to_back:.0f} µs per unit")
    print("| sleep before each unit | µs per unit | vs back to back |")
    print("|---:|---:|---:|")
    for gap_s in (0.0001, 0.0005, 0.002):
        after = timed(args.units, gap_s)
        print(f"| {gap_s * 1000:g} ms | {after:.0f} | {after / back_to_back:.2f}x |")


if __name__ == "__main__":
    main()
