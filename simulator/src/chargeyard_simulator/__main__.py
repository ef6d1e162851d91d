"""Command line: run a fleet of simulated stations against a central system.

python -m chargeyard_simulator --url ws://127.0.0.1:9000/ocpp --stations 10 --cars 4 --speed 1
python -m chargeyard_simulator --config site.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from .config import SiteConfig, load_site_config
from .site import Site, build_fleet

LOG = logging.getLogger("chargeyard_simulator")

DEFAULT_URL = "ws://127.0.0.1:9000/ocpp"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="chargeyard-simulator", description="Simulated OCPP 1.6J / 2.0.1 stations.")
    p.add_argument(
        "--url", default=None, help=f"central system base URL, station id is appended (default {DEFAULT_URL})"
    )
    p.add_argument("--stations", type=int, default=10, help="number of generated stations (default 10)")
    p.add_argument("--cars", type=int, default=4, help="number of cars plugged in (default 4)")
    p.add_argument("--speed", type=float, default=None, help="simulated seconds per real second (default 1)")
    p.add_argument("--config", default=None, help="site JSON file (stations, cars); replaces the generated fleet")
    p.add_argument("--meter-interval", type=float, default=10.0, help="MeterValues interval, simulated s (default 10)")
    p.add_argument(
        "--misbehaving",
        type=int,
        default=0,
        help="give the last N generated stations one misbehaviour each (default 0)",
    )
    p.add_argument("--prefix", default="CY-SIM", help="station id prefix for generated stations")
    p.add_argument("--seed", type=int, default=None, help="random seed for generated cars")
    p.add_argument("--duration", type=float, default=None, help="stop after this many real seconds")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument("--ocpp-frames", action="store_true", help="log every OCPP frame (ocpp library logger)")
    args = p.parse_args(argv)
    if args.stations < 0 or args.cars < 0:
        p.error("--stations and --cars must be >= 0")
    if args.speed is not None and args.speed <= 0:
        p.error("--speed must be > 0")
    return args


def build_site_config(args: argparse.Namespace) -> SiteConfig:
    if args.config:
        config = load_site_config(args.config)
        updates: dict[str, object] = {}
        if args.speed is not None:
            updates["speed"] = args.speed
        if args.url is not None:
            updates["url"] = args.url
            updates["stations"] = [s.model_copy(update={"url": args.url}) for s in config.stations]
        return config.model_copy(update=updates)
    return build_fleet(
        url=args.url or DEFAULT_URL,
        stations=args.stations,
        cars=args.cars,
        speed=args.speed or 1.0,
        meter_interval_s=args.meter_interval,
        seed=args.seed,
        prefix=args.prefix,
        misbehaving=args.misbehaving,
    )


async def run(config: SiteConfig, duration: float | None = None) -> None:
    site = Site(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not available on Windows event loops
            loop.add_signal_handler(sig, _on_signal, site, sig)
    if duration is not None:
        loop.call_later(duration, site.stop)
    await site.run()


def _on_signal(site: Site, sig: signal.Signals) -> None:
    LOG.info("received %s, stopping", sig.name)
    site.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stdout,
    )
    # The ocpp library logs every frame at INFO; that drowns the one-line-per-event log.
    logging.getLogger("ocpp").setLevel(logging.INFO if args.ocpp_frames else logging.WARNING)
    logging.getLogger("websockets").setLevel(logging.WARNING)
    try:
        config = build_site_config(args)
    except (OSError, ValueError, ValidationError) as exc:
        LOG.error("invalid configuration: %s", exc)
        return 2
    asyncio.run(run(config, args.duration))
    return 0


if __name__ == "__main__":
    sys.exit(main())
