"""PNG plots of a replay (matplotlib's Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt

from .inputs import Session, Site
from .replay import Replay


def _steps(replay_: Replay, values: list[float]) -> tuple[list[object], list[float]]:
    xs: list[object] = [i.start for i in replay_.intervals] + [replay_.intervals[-1].end]
    return xs, [*values, values[-1]]


def write_plots(replay_: Replay, sessions: list[Session], site: Site, out: Path) -> list[Path]:
    if not replay_.intervals:
        return []
    formatter = mdates.DateFormatter("%H:%M", tz=site.time_zone)
    written = []

    fig, ax = plt.subplots(figsize=(11, 5))
    for station in sorted({s.station_id for s in sessions}):
        ids = {s.session_id for s in sessions if s.station_id == station}
        values = [sum(w for sid, w in i.power_w.items() if sid in ids) / 1000 for i in replay_.intervals]
        ax.step(*_steps(replay_, values), where="post", label=station)
    ax.set(title="Power per EVSE", ylabel="kW", xlabel=f"time ({site.time_zone.key})")
    ax.xaxis.set_major_formatter(formatter)
    ax.legend(fontsize="small", ncol=2)
    written.append(_save(fig, out / "power_per_evse.png"))

    fig, ax = plt.subplots(figsize=(11, 5))
    load = [sum(i.power_w.values()) / 1000 for i in replay_.intervals]
    ax.step(*_steps(replay_, load), where="post", label="site load")
    ax.step(*_steps(replay_, [i.limit_w / 1000 for i in replay_.intervals]), where="post", color="red", label="limit")
    ax.set(title="Site load against its limit", ylabel="kW", xlabel=f"time ({site.time_zone.key})")
    ax.xaxis.set_major_formatter(formatter)
    ax.legend()
    written.append(_save(fig, out / "site_load.png"))

    fig, ax = plt.subplots(figsize=(11, 5))
    prices = [i.price for i in replay_.intervals]
    greens = [i.green for i in replay_.intervals]
    if any(p is not None for p in prices):
        ax.step(*_steps(replay_, [p or 0.0 for p in prices]), where="post", label="price per kWh")
    ax.set(title="Price and green share", ylabel="price per kWh", xlabel=f"time ({site.time_zone.key})")
    ax.xaxis.set_major_formatter(formatter)
    if any(g is not None for g in greens):
        share = ax.twinx()
        share.step(*_steps(replay_, [100 * (g or 0.0) for g in greens]), where="post", color="green", label="green %")
        share.set_ylabel("green share %")
        share.set_ylim(0, 100)
    written.append(_save(fig, out / "price_green.png"))
    return written


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
