"""`make run`: Tansu, every service, a simulated site of stations and cars with reservations."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from chargeyard_platform.clock import SimulatedClock
from chargeyard_simulator import Site, SiteConfig, build_fleet

from .stack import Stack, StackConfig

log = logging.getLogger("chargeyard")

FIRST_BOOT_S = 15.0
"""Real seconds between the stations' first boot and the first car."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="make run", description=__doc__)
    p.add_argument("--stations", type=int, default=10, help="simulated stations (default 10)")
    p.add_argument("--cars", type=int, default=6, help="simulated cars with reservations (default 6)")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second (default 1)")
    p.add_argument("--site-limit-w", type=int, default=44_000, help="the site's grid limit in W (default 44000)")
    p.add_argument("--run-dir", type=Path, default=Path("var"), help="databases and logs (default var/)")
    p.add_argument("--postgres", default=None, help="postgresql://user@host:port: one database per service")
    p.add_argument("--no-simulator", action="store_true", help="start the platform only")
    return p.parse_args(argv)


def reservations_for(site: SiteConfig, now: datetime) -> list[dict[str, object]]:
    """One reservation per simulated car: the energy to its target state of charge, departure
    when it could be full at half its maximum power plus an hour."""
    found = []
    for arrival in site.cars:
        car = arrival.car
        energy_wh = int(car.battery_wh * (car.target_soc - car.soc_percent) / 100)
        hours = energy_wh / (car.max_power_w * 0.5) + 1
        found.append(
            {
                "station_id": arrival.station_id,
                "arrival": now.isoformat(),
                "departure": (now + timedelta(hours=hours)).isoformat(),
                "energy_wh": max(1, energy_wh),
                "max_power_w": int(car.max_power_w),
                "phases": car.phases,
            }
        )
    return found


async def wait_for_stations(stack: Stack, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2, headers=stack.admin_headers) as client:
        while time.monotonic() < deadline:
            response = await client.get(f"{stack.url('energy-manager')}/v1/sites/site-1")
            if response.status_code == 200 and len(response.json()["stations"]) >= count:
                return
            await asyncio.sleep(0.5)
    raise TimeoutError(f"fewer than {count} stations registered after {timeout} s; see {stack.config.run_dir}/logs")


async def main_async(args: argparse.Namespace) -> None:
    run_dir: Path = args.run_dir.resolve()
    clock_start = datetime.now(UTC)
    stack = Stack(
        StackConfig(
            run_dir=run_dir,
            postgres_dsn=args.postgres,
            clock_start=clock_start.isoformat() if args.speed != 1 else None,
            clock_speed=args.speed,
            extra_env={"ENERGY_DEFAULT_SITE_LIMIT_W": str(args.site_limit_w)},
        )
    )
    simulator: Site | None = None
    simulation: asyncio.Task[None] | None = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        print(
            f"Starting Tansu on 127.0.0.1:{stack.config.kafka_port} and {len(stack.config.services)} services "
            f"(logs in {run_dir}/logs) ...",
            flush=True,
        )
        started = time.monotonic()
        await stack.start(wait=90)
        print(f"All services ready in {time.monotonic() - started:.1f} s.", flush=True)
        if not os.environ.get("CHARGEYARD_ADMIN_TOKEN"):
            print(
                f"CHARGEYARD_ADMIN_TOKEN={stack.config.admin_token}  (generated; the reservation API's "
                "administrator key: send it as Authorization: Bearer)",
                flush=True,
            )
        if not args.no_simulator:
            site = build_fleet(url=stack.ocpp_url, stations=args.stations, cars=args.cars, speed=args.speed, seed=7)
            # A station that has never been seen draws its maximum until the energy manager's fail-safe
            # profile arrives, a few seconds after its first boot: cars arrive once that is done.
            for arrival in site.cars:
                arrival.arrive_after_s += FIRST_BOOT_S * args.speed
            site_file = run_dir / "site.json"
            site_file.write_text(site.model_dump_json(indent=2))
            # In this process, on the services' own simulated clock (same start, same epoch).
            clock = (
                SimulatedClock(clock_start, args.speed, epoch_monotonic=stack.clock_epoch) if args.speed != 1 else None
            )
            simulator = Site(site, clock)
            simulation = asyncio.create_task(simulator.run())
            await wait_for_stations(stack, args.stations, 60)
            async with httpx.AsyncClient(timeout=5, headers=stack.admin_headers) as client:
                for body in reservations_for(site, datetime.now(UTC)):
                    response = await client.post(f"{stack.url('reservation-api')}/v1/reservations", json=body)
                    response.raise_for_status()
            print(
                f"Simulated site: {args.stations} stations ({run_dir}/site.json), {len(site.cars)} cars with "
                f"reservations, site limit {args.site_limit_w} W.",
                flush=True,
            )
        print(
            json.dumps(
                {
                    "reservations": f"{stack.url('reservation-api')}/v1/reservations",
                    "plan": f"{stack.url('scheduler')}/v1/plans/site-1",
                    "topology": f"{stack.url('energy-manager')}/v1/sites/site-1",
                    "stations": f"{stack.url('ocpp-gateway')}/v1/stations",
                    "charging sessions": f"{stack.url('billing')}/v1/sessions",
                    "energy report": f"{stack.url('reporting')}/v1/reports/energy",
                    "station status": f"{stack.url('reporting')}/v1/reports/stations",
                    "notifications": f"{stack.url('notifier')}/v1/notifications",
                    "API docs": f"{stack.url('reservation-api')}/docs",
                    "back office and driver app": f"{stack.url('backoffice')}/",
                    "metrics": f"{stack.url('scheduler')}/metrics",
                    "OCPP endpoint": f"{stack.ocpp_url}/{{station_id}}",
                    "Kafka": stack.broker.bootstrap,
                    "logs": str(run_dir / "logs"),
                },
                indent=2,
            ),
            flush=True,
        )
        print("Running. Ctrl-C stops everything.", flush=True)
        await stop.wait()
    finally:
        print("Stopping ...", flush=True)
        if simulator is not None and simulation is not None:
            simulator.stop()
            await asyncio.wait_for(asyncio.gather(simulation, return_exceptions=True), 15)
        stack.stop()
        print("Stopped.", flush=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logs = args.run_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    # The simulator runs in this process and logs a line per station event: to its own file.
    simulator_log = logging.FileHandler(logs / "simulator.log")
    simulator_log.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    logging.getLogger("chargeyard_simulator").addHandler(simulator_log)
    logging.getLogger("chargeyard_simulator").propagate = False
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("httpx", "ocpp", "websockets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
