"""A site's plan (the scheduler's schedule.updated) as chart data: one row per connector, a bar
per reservation's planned charging, and the site's power against its limit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

PALETTE = ("#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#4d7c0f", "#be185d")


def _ms(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def merged_slots(slots: list[dict[str, Any]]) -> list[tuple[int, int, int]]:
    """Contiguous slots of one charge as (start ms, end ms, highest power W) bars."""
    bars: list[tuple[int, int, int]] = []
    for slot in sorted(slots, key=lambda s: s["start"]):
        start, end, power = _ms(slot["start"]), _ms(slot["end"]), int(slot["power_w"])
        if power <= 0:
            continue
        if bars and bars[-1][1] == start:
            first, _, high = bars[-1]
            bars[-1] = (first, end, max(high, power))
        else:
            bars.append((start, end, power))
    return bars


def timeline(plan: dict[str, Any] | None, connectors: list[str]) -> dict[str, Any]:
    """Chart.js floating-bar data: labels are "station/evse", one dataset per reservation."""
    labels = list(connectors)
    datasets = []
    for i, charge in enumerate((plan or {}).get("charges", [])):
        label = f"{charge['station_id']}/{charge['evse_id']}"
        if label not in labels:
            labels.append(label)
        bars = merged_slots(list(charge.get("slots", [])))
        if not bars and charge.get("planned_start") and charge.get("planned_finish"):
            bars = [(_ms(charge["planned_start"]), _ms(charge["planned_finish"]), 0)]
        datasets.append(
            {
                "label": str(charge["reservation_id"])[:8],
                "data": [{"x": [start, end], "y": label, "power_w": power} for start, end, power in bars],
                "backgroundColor": PALETTE[i % len(PALETTE)],
            }
        )
    return {"labels": labels, "datasets": datasets}


def site_power(stations: list[dict[str, Any]]) -> int:
    """The sum of each station's latest metered power (the reporting read model), in W."""
    return sum(int(s.get("power_w") or 0) for s in stations)
