"""A site: many stations running concurrently on one clock, plus drivers plugging cars in."""

from __future__ import annotations

import asyncio
import logging
import random

from .car import CAR_CATALOGUE
from .clock import Clock, RealClock, ScaledClock
from .config import CarArrival, CarSpec, EvseConfig, Misbehaviour, SiteConfig, StationConfig
from .station import Station

LOG = logging.getLogger("chargeyard_simulator.site")


class Site:
    """Runs every station of a :class:`SiteConfig` and its car arrivals until :meth:`stop`."""

    def __init__(self, config: SiteConfig, clock: Clock | None = None) -> None:
        self.config = config
        if clock is None:
            clock = RealClock() if config.speed == 1 else ScaledClock(config.speed)
        self.clock = clock
        self.stations: dict[str, Station] = {s.station_id: Station(s, self.clock) for s in config.stations}
        self._stop = asyncio.Event()

    def station(self, station_id: str) -> Station:
        return self.stations[station_id]

    async def run(self) -> None:
        """Run all stations concurrently until :meth:`stop`; a crashing station is logged and does not
        stop the others."""
        LOG.info(
            "site starting: %d station(s), %d car(s), speed x%g",
            len(self.stations),
            len(self.config.cars),
            self.clock.speed,
        )
        station_tasks = {
            asyncio.create_task(self._run_station(st), name=f"station-{sid}"): sid for sid, st in self.stations.items()
        }
        driver_tasks = [
            asyncio.create_task(self._drive(arrival), name=f"driver-{arrival.station_id}-{arrival.evse_id}")
            for arrival in self.config.cars
        ]
        try:
            await self._stop.wait()
        finally:
            for task in driver_tasks:
                task.cancel()
            for st in self.stations.values():
                st.stop()
            await asyncio.gather(*driver_tasks, return_exceptions=True)
            await asyncio.gather(*station_tasks, return_exceptions=True)
            LOG.info("site stopped")

    def stop(self) -> None:
        self._stop.set()

    async def _run_station(self, station: Station) -> None:
        try:
            await station.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            LOG.exception("station %s crashed", station.id)

    async def _drive(self, arrival: CarArrival) -> None:
        """One driver: arrive, charge, leave after the dwell time, maybe come back."""
        station = self.stations[arrival.station_id]
        # Arrival times count from the station's first successful boot, so a site started before
        # its central system does not begin with a burst of offline transactions.
        await station.wait_connected()
        await self.clock.sleep(arrival.arrive_after_s)
        while True:
            car = arrival.car.build()
            try:
                station.plug_in(arrival.evse_id, car, arrival.id_tag)
            except ValueError as exc:
                LOG.warning(
                    "driver for %s/%d cannot plug in: %s; retrying in 60s", arrival.station_id, arrival.evse_id, exc
                )
                await self.clock.sleep(60)
                continue
            if arrival.dwell_after_full_s is None:
                return
            while not car.full and station.car(arrival.evse_id) is car:
                await self.clock.sleep(30)
            if station.car(arrival.evse_id) is car:
                await self.clock.sleep(arrival.dwell_after_full_s)
            if station.car(arrival.evse_id) is car:
                station.unplug(arrival.evse_id)
            if arrival.return_after_s is None:
                return
            await self.clock.sleep(arrival.return_after_s)


def build_fleet(
    *,
    url: str,
    stations: int,
    cars: int,
    speed: float = 1.0,
    meter_interval_s: float = 10.0,
    seed: int | None = None,
    prefix: str = "CY-SIM",
    misbehaving: int = 0,
) -> SiteConfig:
    """A generated site: alternating OCPP 1.6 / 2.0.1, every third station with two EVSEs,
    11 kW and 22 kW mixed; cars spread round-robin over the EVSEs and arriving a few
    (simulated) seconds apart. The last *misbehaving* stations get one misbehaviour each."""
    rng = random.Random(seed)
    behaviours = [
        Misbehaviour(reject_profiles=True),
        Misbehaviour(ignore_profiles=True),
        Misbehaviour(late_profiles_s=120),
        Misbehaviour(disconnect_every_s=900, disconnect_for_s=120),
        Misbehaviour(clock_skew_s=300),
    ]
    station_configs: list[StationConfig] = []
    for i in range(stations):
        power = 22_000 if (i // 2) % 2 == 1 else 11_000
        evse_count = 2 if i % 3 == 2 else 1
        misbehaviour = Misbehaviour()
        if misbehaving and i >= stations - misbehaving:
            misbehaviour = behaviours[(stations - 1 - i) % len(behaviours)]
        station_configs.append(
            StationConfig(
                station_id=f"{prefix}-{i + 1:03d}",
                ocpp_version="1.6" if i % 2 == 0 else "2.0.1",
                url=url,
                evses=[EvseConfig(max_power_w=power) for _ in range(evse_count)],
                meter_interval_s=meter_interval_s,
                misbehaviour=misbehaviour,
            )
        )
    slots = [(s.station_id, evse_id) for s in station_configs for evse_id in range(1, len(s.evses) + 1)]
    arrivals: list[CarArrival] = []
    if cars > len(slots):
        LOG.warning("%d cars but only %d EVSEs; %d car(s) will not arrive", cars, len(slots), cars - len(slots))
    for j in range(min(cars, len(slots))):
        station_id, evse_id = slots[j]
        model = CAR_CATALOGUE[rng.randrange(len(CAR_CATALOGUE))]
        arrivals.append(
            CarArrival(
                station_id=station_id,
                evse_id=evse_id,
                car=CarSpec(
                    battery_wh=model.battery_wh,
                    soc_percent=rng.randint(10, 50),
                    max_power_w=model.max_power_w,
                    phases=1 if model.phases == 1 else 3,
                    target_soc=rng.choice([80, 90, 100]),
                    name=model.name,
                ),
                id_tag=f"TAG{j + 1:04d}",
                arrive_after_s=j * 5.0,
                dwell_after_full_s=600,
                return_after_s=rng.randint(1800, 7200),
            )
        )
    return SiteConfig(url=url, speed=speed, stations=station_configs, cars=arrivals)
