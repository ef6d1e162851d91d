"""Demand: how much energy a reservation needs at the connector, in Wh.

Pure: no I/O, no clock. The model and its sources are documented in services/scheduler/README.md
("Demand model"); in short:

1. Trip energy from kilometres: ``km x consumption_wh_per_km x temperature_factor(T)``.
   The vehicle's consumption is its rated (WLTP) figure, which in the EU is measured from the
   grid, charging losses included (Regulation (EU) 2017/1151, Annex XXI, sub-annex 8).
2. ``temperature_factor`` interpolates linearly between measured points of AAA's 2019 range tests
   (five EVs on a dynamometer, HVAC on): at 24 °C (75 °F) the reference range; at -6.7 °C (20 °F)
   41 % less range, i.e. 1/0.59 = 1.69 x the energy per km (cabin heating plus a cold battery's
   higher internal resistance and limited regenerative braking); at 35 °C (95 °F) 17 % less range,
   i.e. 1/0.83 = 1.20 x (air conditioning). Between 15 °C and 24 °C the factor is 1.0 (Geotab's
   fleet data on 4,200 EVs, 2020, shows the range plateau there); beyond the measured points the
   slope continues and is clamped at -25 °C and 45 °C.
3. A safety margin (default 10 %) on top, for traffic, speed and the forecast's error.
4. A state of charge, when a station (OCPP 2.0.1 NotifyEVChargingNeeds, ISO 15118) or the app
   reports it with the battery capacity, replaces "the trip comes out of this charge": only what
   the battery lacks for the trip plus a reserve is needed, and never more than the battery can
   take (battery-side energy is turned into grid-side with the AC charging efficiency, 0.90).
   An energy amount the car itself asks for (ISO 15118 EAmount) caps the need the same way.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass

# (outside temperature in °C, energy per km relative to mild weather); see the module docstring.
TEMPERATURE_POINTS: tuple[tuple[float, float], ...] = (
    (-25.0, 2.27),
    (-6.7, 1.69),
    (15.0, 1.0),
    (24.0, 1.0),
    (35.0, 1.20),
    (45.0, 1.38),
)
DEFAULT_MARGIN = 0.10
DEFAULT_RESERVE_SOC = 0.10
"""State of charge a driver wants left on arrival at the destination."""
AC_CHARGING_EFFICIENCY = 0.90
"""Grid to battery for AC charging at 7-11 kW (onboard charger and battery losses)."""


def temperature_factor(celsius: float | None) -> float:
    """Energy per km relative to mild weather (1.0); ``None`` (no forecast) is mild weather."""
    if celsius is None:
        return 1.0
    if not math.isfinite(celsius):
        raise ValueError("outside temperature must be a finite number")
    temps = [t for t, _ in TEMPERATURE_POINTS]
    if celsius <= temps[0]:
        return TEMPERATURE_POINTS[0][1]
    if celsius >= temps[-1]:
        return TEMPERATURE_POINTS[-1][1]
    i = bisect_right(temps, celsius)
    (t0, f0), (t1, f1) = TEMPERATURE_POINTS[i - 1], TEMPERATURE_POINTS[i]
    return f0 + (f1 - f0) * (celsius - t0) / (t1 - t0)


@dataclass(frozen=True, slots=True)
class Trip:
    """A reservation's demand as the driver and the car describe it."""

    energy_wh: int
    """What the reservation asks for; used as is when there is no distance."""
    distance_km: float | None = None
    consumption_wh_per_100km: int | None = None
    outside_temperature_c: float | None = None
    soc_percent: float | None = None
    battery_capacity_wh: int | None = None
    full_soc_percent: float | None = None
    ev_requested_wh: int | None = None
    """Energy the car itself asks for (NotifyEVChargingNeeds energyAmount)."""

    def __post_init__(self) -> None:
        if self.energy_wh < 0:
            raise ValueError("energy_wh must be >= 0")
        if self.distance_km is not None and self.distance_km < 0:
            raise ValueError("distance_km must be >= 0")
        if self.distance_km is not None and not self.consumption_wh_per_100km:
            raise ValueError("distance_km needs the vehicle's consumption_wh_per_100km")
        for name in ("soc_percent", "full_soc_percent"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 100:
                raise ValueError(f"{name} must be within 0..100")


def trip_energy_wh(distance_km: float, consumption_wh_per_100km: int, outside_temperature_c: float | None) -> float:
    """Grid-side energy the trip uses, before the margin."""
    return distance_km * consumption_wh_per_100km / 100 * temperature_factor(outside_temperature_c)


def needed_wh(
    trip: Trip,
    *,
    margin: float = DEFAULT_MARGIN,
    reserve_soc: float = DEFAULT_RESERVE_SOC,
    efficiency: float = AC_CHARGING_EFFICIENCY,
) -> int:
    """Energy at the connector (Wh, rounded up) the car needs for its trip or its request."""
    if trip.distance_km is not None and trip.consumption_wh_per_100km:
        wanted = trip_energy_wh(trip.distance_km, trip.consumption_wh_per_100km, trip.outside_temperature_c)
        wanted *= 1 + margin
    else:
        wanted = float(trip.energy_wh)
    if trip.soc_percent is not None and trip.battery_capacity_wh:
        capacity = trip.battery_capacity_wh
        in_battery = capacity * trip.soc_percent / 100
        full = capacity * (trip.full_soc_percent if trip.full_soc_percent is not None else 100) / 100
        headroom_grid = max(0.0, full - in_battery) / efficiency
        if trip.distance_km is not None:
            # The trip's energy is grid-side; in the battery it is `efficiency` times that.
            lacking = wanted * efficiency + reserve_soc * capacity - in_battery
            wanted = max(0.0, lacking) / efficiency
        wanted = min(wanted, headroom_grid)
    if trip.ev_requested_wh is not None:
        wanted = min(wanted, float(trip.ev_requested_wh))
    return max(0, math.ceil(wanted - 1e-9))
