"""The electric car and how much power it takes from an EVSE. Pure domain code, no I/O.

Model: an AC charge through the car's on-board charger.
- The EVSE offers a current per phase (IEC 61851-1 control pilot); below 6 A offered the car pauses.
- The car draws min(offered, its on-board charger, its battery acceptance). Battery acceptance is the
  charger maximum up to ~80 % SoC, then tapers linearly to 10 % of maximum at 100 % SoC (CV phase).
- A single-phase car draws on L1 only, whatever the EVSE supports; a three-phase car on all phases
  the EVSE and the charging profile (numberPhases) allow.
"""

from __future__ import annotations

from dataclasses import dataclass

VOLTAGE_V = 230.0
"""Nominal phase-to-neutral voltage used to convert between A and W (OCPP limits in A are per phase)."""

TAPER_START_SOC = 80.0
TAPER_END_FRACTION = 0.10
IEC_61851_MIN_CURRENT_A = 6.0


def watts_for(current_a: float, phases: int) -> float:
    """Power drawn at *current_a* per phase on *phases* phases."""
    return current_a * VOLTAGE_V * phases


def amps_for(power_w: float, phases: int) -> float:
    """Current per phase needed to draw *power_w* on *phases* phases."""
    return power_w / (VOLTAGE_V * phases) if phases > 0 else 0.0


@dataclass
class Car:
    """An EV with a battery. soc_percent changes as it charges (the only mutable state)."""

    battery_wh: float
    soc_percent: float
    max_power_w: float
    phases: int = 3
    target_soc: float = 100.0
    name: str = ""
    min_current_a: float = IEC_61851_MIN_CURRENT_A

    def __post_init__(self) -> None:
        if self.battery_wh <= 0:
            raise ValueError(f"battery_wh must be > 0, got {self.battery_wh}")
        if not 0.0 <= self.soc_percent <= 100.0:
            raise ValueError(f"soc_percent must be within 0..100, got {self.soc_percent}")
        if self.max_power_w <= 0:
            raise ValueError(f"max_power_w must be > 0, got {self.max_power_w}")
        if self.phases not in (1, 3):
            raise ValueError(f"phases must be 1 or 3, got {self.phases}")
        if not 0.0 < self.target_soc <= 100.0:
            raise ValueError(f"target_soc must be within 0..100, got {self.target_soc}")

    @property
    def max_current_a(self) -> float:
        """On-board charger limit per phase."""
        return amps_for(self.max_power_w, self.phases)

    @property
    def full(self) -> bool:
        """True once the car reached its target SoC; it then stops drawing (OCPP: SuspendedEV)."""
        return self.soc_percent >= self.target_soc - 1e-9

    def acceptance_w(self) -> float:
        """What the battery accepts right now, before any EVSE or profile limit."""
        if self.full:
            return 0.0
        if self.soc_percent <= TAPER_START_SOC:
            return self.max_power_w
        progress = (self.soc_percent - TAPER_START_SOC) / (100.0 - TAPER_START_SOC)
        fraction = 1.0 - progress * (1.0 - TAPER_END_FRACTION)
        return self.max_power_w * max(TAPER_END_FRACTION, fraction)

    def charge(self, power_w: float, seconds: float) -> float:
        """Put *power_w* into the battery for *seconds*; returns the Wh actually taken.

        Energy stops at the target SoC, so the last interval of a session may deliver less.
        """
        if power_w <= 0 or seconds <= 0 or self.full:
            return 0.0
        wanted_wh = power_w * seconds / 3600.0
        room_wh = (self.target_soc - self.soc_percent) / 100.0 * self.battery_wh
        taken_wh = max(0.0, min(wanted_wh, room_wh))
        self.soc_percent = min(100.0, self.soc_percent + taken_wh / self.battery_wh * 100.0)
        if room_wh - taken_wh < 1e-6:
            # Snap to the target so float rounding cannot leave the car "almost full" forever.
            self.soc_percent = self.target_soc
        return taken_wh


@dataclass(frozen=True)
class Draw:
    """What flows through an EVSE: total power and the split over L1/L2/L3."""

    total_w: float = 0.0
    phase_w: tuple[float, float, float] = (0.0, 0.0, 0.0)
    phase_a: tuple[float, float, float] = (0.0, 0.0, 0.0)
    phases_used: int = 0
    offered_w: float = 0.0
    """Power the EVSE offers the car (limit after profiles and hardware); 0 = suspended by the EVSE."""

    @property
    def suspended_by_evse(self) -> bool:
        return self.offered_w <= 0.0


NO_DRAW = Draw()


@dataclass(frozen=True)
class EvseHardware:
    """Physical limits of one EVSE."""

    max_power_w: float
    phases: int = 3

    @property
    def max_current_a(self) -> float:
        return amps_for(self.max_power_w, self.phases)


def phases_in_use(car: Car | None, hardware: EvseHardware, limit_phases: int | None = None) -> int:
    """Phases a charge uses: the fewest of car, EVSE and the profile period's numberPhases."""
    phases = hardware.phases
    if car is not None:
        phases = min(phases, car.phases)
    if limit_phases is not None and limit_phases > 0:
        phases = min(phases, limit_phases)
    return phases


def compute_draw(
    car: Car,
    hardware: EvseHardware,
    limit_w: float | None,
    limit_phases: int | None = None,
) -> Draw:
    """How much *car* draws on *hardware* when a charging profile allows *limit_w* (None = no profile).

    The offered current per phase is min(profile limit, EVSE rating); if that is below the car's
    minimum (IEC 61851-1: 6 A) the car pauses (the OCPP status becomes SuspendedEVSE).
    """
    phases = phases_in_use(car, hardware, limit_phases)
    offered_w = watts_for(hardware.max_current_a, phases)
    if limit_w is not None:
        offered_w = min(offered_w, max(0.0, limit_w))
    if amps_for(offered_w, phases) + 1e-9 < car.min_current_a:
        return Draw(phases_used=phases, offered_w=0.0)
    total_w = min(offered_w, watts_for(car.max_current_a, phases), car.acceptance_w())
    return split_over_phases(total_w, phases, offered_w)


def split_over_phases(total_w: float, phases: int, offered_w: float) -> Draw:
    """Balanced split of *total_w* over the first *phases* phases (single-phase cars use L1)."""
    if total_w <= 0 or phases <= 0:
        return Draw(phases_used=phases, offered_w=offered_w)
    per_phase_w = total_w / phases
    per_phase_a = per_phase_w / VOLTAGE_V
    phase_w = tuple(per_phase_w if i < phases else 0.0 for i in range(3))
    phase_a = tuple(per_phase_a if i < phases else 0.0 for i in range(3))
    return Draw(
        total_w=total_w,
        phase_w=(phase_w[0], phase_w[1], phase_w[2]),
        phase_a=(phase_a[0], phase_a[1], phase_a[2]),
        phases_used=phases,
        offered_w=offered_w,
    )


def scale_draw(draw: Draw, factor: float) -> Draw:
    """The same draw reduced by *factor* (0..1), e.g. to share a station-wide maximum."""
    if factor >= 1.0:
        return draw
    return split_over_phases(draw.total_w * factor, draw.phases_used, draw.offered_w * factor)


@dataclass(frozen=True)
class CarCatalogueEntry:
    name: str
    battery_wh: float
    max_power_w: float
    phases: int


CAR_CATALOGUE: tuple[CarCatalogueEntry, ...] = (
    CarCatalogueEntry("compact-1ph", 42_000, 7_400, 1),
    CarCatalogueEntry("sedan-11kw", 64_000, 11_000, 3),
    CarCatalogueEntry("van-11kw", 75_000, 11_000, 3),
    CarCatalogueEntry("suv-22kw", 90_000, 22_000, 3),
)
"""Typical fleet cars for generated sites."""
