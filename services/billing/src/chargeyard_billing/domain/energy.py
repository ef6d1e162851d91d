"""Energy of a charging session from meter register readings.

The billed quantity is the difference of two register readings, stop − start (the rule of the
German Mess- und Eichrecht that OCMF signed readings are built for): samples are never summed, and
an Interval reading (OCPP Energy.Active.Import.Interval, energy of the last interval only) is not
a register and never enters the calculation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class RegisterReading:
    """A cumulative register value (Energy.Active.Import.Register) at a point in time."""

    wh: int
    at: datetime
    signed: Mapping[str, Any] | None = None
    """The station's signed meter data for exactly this value (OCMF or OCPP SignedData), if any."""


@dataclass(frozen=True)
class SessionEnergy:
    energy_wh: int | None
    """None while a reading is missing, or when the register went backwards."""
    anomaly: str | None = None


def energy_between(start: RegisterReading | None, stop: RegisterReading | None) -> SessionEnergy:
    if start is None or stop is None:
        return SessionEnergy(None)
    delta = stop.wh - start.wh
    if delta < 0:
        # A meter reset or a replaced meter mid-session: no honest number exists, so none is
        # billed; the session carries the reason for someone to look at.
        return SessionEnergy(None, f"register went backwards: start {start.wh} Wh, stop {stop.wh} Wh")
    return SessionEnergy(delta)
