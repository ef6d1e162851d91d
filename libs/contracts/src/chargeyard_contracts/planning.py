"""Reservations, plans, topology, tokens and capacity: what flows between the business services."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from .base import (
    Amperes,
    ConnectorId,
    Contract,
    EvseId,
    IdToken,
    PhaseCount,
    PhaseRotation,
    ReservationId,
    SiteId,
    StationId,
    TimeZoneName,
    UtcDatetime,
    WattHours,
    Watts,
)


class ReservationCreated(Contract):
    reservation_id: ReservationId
    site_id: SiteId
    vehicle_id: str | None = None
    driver_id: str | None = None
    arrival: UtcDatetime
    departure: UtcDatetime
    energy_wh: WattHours = Field(gt=0)
    max_power_w: Watts = Field(gt=0, description="The car's own AC limit")
    phases: PhaseCount = 3
    priority: int = Field(default=0, ge=0, le=10)
    station_id: StationId | None = None
    """Set when the driver asked for a particular station."""
    created_at: UtcDatetime
    distance_km: float | None = Field(default=None, ge=0, le=5000)
    """Kilometres to drive after departure: the scheduler plans the energy the trip needs
    (consumption, outside temperature, safety margin) instead of `energy_wh`."""
    consumption_wh_per_100km: int | None = Field(default=None, gt=0, le=100_000)
    """The vehicle's rated consumption, needed with `distance_km`."""
    outside_temperature_c: float | None = Field(default=None, ge=-60, le=60)
    """Forecast temperature on the route (heating and battery losses in the cold, air conditioning in the heat)."""
    soc_percent: float | None = Field(default=None, ge=0, le=100)
    """State of charge the app reported, with `battery_capacity_wh`."""
    battery_capacity_wh: WattHours | None = None

    @model_validator(mode="after")
    def _departure_after_arrival(self) -> ReservationCreated:
        if self.departure <= self.arrival:
            raise ValueError("departure must be after arrival")
        return self


class ReservationCancelled(Contract):
    reservation_id: ReservationId
    site_id: SiteId
    cancelled_at: UtcDatetime
    reason: str | None = None


class PlannedSlot(Contract):
    start: UtcDatetime
    end: UtcDatetime
    power_w: Watts


class PlannedCharge(Contract):
    reservation_id: ReservationId
    station_id: StationId
    evse_id: EvseId
    connector_id: ConnectorId = 1
    planned_start: UtcDatetime | None
    planned_finish: UtcDatetime | None
    energy_wh: WattHours
    """What the plan delivers by departure (may be below the request when the site can't)."""
    requested_wh: WattHours
    slots: tuple[PlannedSlot, ...] = ()


class ScheduleUpdated(Contract):
    site_id: SiteId
    plan_id: str
    time_zone: TimeZoneName
    horizon_start: UtcDatetime
    horizon_end: UtcDatetime
    slot_seconds: int = Field(ge=60)
    site_limit_w: Watts
    strategy: str
    charges: tuple[PlannedCharge, ...] = ()
    solver_status: str
    solve_ms: int = Field(ge=0)


class CircuitLimit(Contract):
    circuit_id: str
    parent_id: str | None
    limit_a: Amperes | None = None
    limit_w: Watts | None = None


class StationPlacement(Contract):
    station_id: StationId
    circuit_id: str | None
    evse_ids: tuple[EvseId, ...] = (1,)
    max_power_w: Watts
    phases: PhaseCount = 3
    phase_rotation: PhaseRotation = PhaseRotation.RST


class TopologyUpdated(Contract):
    site_id: SiteId
    time_zone: TimeZoneName
    grid_limit_w: Watts
    voltage_v: float = Field(default=230.0, gt=0)
    circuits: tuple[CircuitLimit, ...] = ()
    stations: tuple[StationPlacement, ...] = ()
    updated_at: UtcDatetime


class TokenEntry(Contract):
    id_token: IdToken
    status: str = Field(default="Accepted", pattern="^(Accepted|Blocked|Expired|Invalid)$")
    driver_id: str | None = None
    expires_at: UtcDatetime | None = None


class TokensUpdated(Contract):
    """idTags copied to the gateway so Authorize answers without a round trip."""

    version: int = Field(ge=1)
    full: bool = False
    tokens: tuple[TokenEntry, ...]


class CapacityInterval(Contract):
    start: UtcDatetime
    end: UtcDatetime
    limit_w: Watts


class CapacityUpdated(Contract):
    group_id: str
    site_id: SiteId | None = None
    intervals: tuple[CapacityInterval, ...]
    set_by: str
    updated_at: UtcDatetime


class PriceKind(StrEnum):
    ENERGY = "energy"


class PriceInterval(Contract):
    start: UtcDatetime
    end: UtcDatetime
    price_per_kwh: str = Field(pattern=r"^-?\d+(\.\d+)?$", description="Decimal as a string")
    renewable_share: float | None = Field(default=None, ge=0, le=1)


class EnergyPricesPublished(Contract):
    site_id: SiteId
    currency: str = Field(min_length=3, max_length=3)
    intervals: tuple[PriceInterval, ...]
    published_at: UtcDatetime


class NotificationSent(Contract):
    notification_id: str
    recipient: str
    channel: str = Field(pattern="^(push|email|webhook|log)$")
    kind: str
    subject: str
    reservation_id: ReservationId | None = None
    sent_at: UtcDatetime


# --- the reservation life cycle after reservation.created (reservation-api and scheduler) -------


class ReservationStatus(StrEnum):
    """requested -> scheduled | waitlisted | rejected; conflict -> (decided) scheduled;
    scheduled -> arrived -> charging -> completed; cancelled or no_show from any open state."""

    REQUESTED = "requested"
    SCHEDULED = "scheduled"
    WAITLISTED = "waitlisted"
    REJECTED = "rejected"
    CONFLICT = "conflict"
    ARRIVED = "arrived"
    CHARGING = "charging"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


class ReservationUpdated(Contract):
    """Any change of a reservation after it was created: its status, its terms or its plan.

    `changes` names the fields that changed; the full current terms travel along so a consumer
    never has to ask. `driver_id` is the driver's pseudonym, never a name or an address."""

    reservation_id: ReservationId
    site_id: SiteId
    status: ReservationStatus
    driver_id: str | None = None
    vehicle_id: str | None = None
    arrival: UtcDatetime
    departure: UtcDatetime
    energy_wh: WattHours
    max_power_w: Watts
    phases: PhaseCount = 3
    priority: int = Field(default=0, ge=0, le=10)
    station_id: StationId | None = None
    assigned_station_id: StationId | None = None
    assigned_evse_id: EvseId | None = None
    planned_start: UtcDatetime | None = None
    planned_finish: UtcDatetime | None = None
    planned_energy_wh: WattHours | None = None
    delivered_wh: WattHours | None = None
    waitlist_position: int | None = Field(default=None, ge=1)
    ad_hoc: bool = False
    reason: str | None = None
    changes: tuple[str, ...] = ()
    updated_at: UtcDatetime
    distance_km: float | None = Field(default=None, ge=0, le=5000)
    consumption_wh_per_100km: int | None = Field(default=None, gt=0, le=100_000)
    outside_temperature_c: float | None = Field(default=None, ge=-60, le=60)
    soc_percent: float | None = Field(default=None, ge=0, le=100)
    """State of charge the app reported, with `battery_capacity_wh` (see ReservationCreated)."""
    battery_capacity_wh: WattHours | None = None


class ConflictKind(StrEnum):
    SHORT = "short"
    """The car keeps a connector but gets less energy than asked by its departure."""
    NO_CONNECTOR = "no_connector"
    """Nothing fits the car in its window: the reservation waits for capacity (waiting list)."""


class ReservationAlternative(Contract):
    """A stay the current plan could keep instead of the one asked for."""

    arrival: UtcDatetime
    departure: UtcDatetime
    energy_wh: WattHours
    station_id: StationId | None = None
    evse_id: EvseId | None = None
    note: str = ""


class ReservationConflict(Contract):
    """The scheduler can no longer keep a reservation's promise.

    `departure` and `requested_wh` are the terms the plan was made against: a conflict whose
    terms differ from the reservation's current ones is stale and is ignored."""

    reservation_id: ReservationId
    site_id: SiteId
    plan_id: str
    kind: ConflictKind
    departure: UtcDatetime
    requested_wh: WattHours
    deliverable_wh: WattHours
    """What the plan delivers by the departure."""
    full_charge_finish: UtcDatetime | None = None
    """When the whole requested energy could be in the car (an estimate), for "full charge, later"."""
    detected_at: UtcDatetime
    alternatives: tuple[ReservationAlternative, ...] = ()
    """For a reservation without connector: other times or less energy that fit the plan."""


class ConflictChoice(StrEnum):
    FULL_CHARGE_LATER = "full_charge_later"
    LESS_CHARGE_ON_TIME = "less_charge_on_time"


class ReservationDecided(Contract):
    """The answer to a conflict, by the driver or by default when nobody answered in time.

    `departure` and `energy_wh` are the terms that apply from now on."""

    reservation_id: ReservationId
    site_id: SiteId
    choice: ConflictChoice
    decided_by: str = Field(pattern="^(driver|default)$")
    departure: UtcDatetime
    energy_wh: WattHours
    decided_at: UtcDatetime
