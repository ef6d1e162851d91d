"""Response models and their construction from rows: times in the site's time zone."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chargeyard_contracts import ConflictChoice, ReservationStatus
from pydantic import BaseModel, Field

from ..domain.reservations import duration_s, local


class ConflictView(BaseModel):
    kind: str
    deliverable_wh: int
    requested_wh: int
    full_charge_finish: datetime | None = Field(description="When all the energy could be in the car (estimate)")
    respond_by: datetime | None
    default: ConflictChoice = Field(description="What applies when nobody answers by respond_by")
    choices: list[ConflictChoice] = Field(default_factory=lambda: list(ConflictChoice))


class DecisionView(BaseModel):
    choice: ConflictChoice
    decided_by: str
    decided_at: datetime


class AlternativeView(BaseModel):
    arrival: datetime
    departure: datetime
    energy_wh: int
    note: str


class TripView(BaseModel):
    distance_km: float
    consumption_wh_per_100km: int
    outside_temperature_c: float | None = None
    soc_percent: float | None = None
    battery_capacity_wh: int | None = None


class Reservation(BaseModel):
    id: str
    tenant_id: str | None
    site_id: str
    time_zone: str = Field(description="The site's IANA time zone; every time below is shown in it")
    vehicle_id: str | None
    driver_id: str | None
    arrival: datetime
    departure: datetime
    duration_s: int = Field(description="Real seconds between arrival and departure (daylight saving included)")
    energy_wh: int = Field(description="Asked for; with a trip, the estimate at the vehicle's rated consumption")
    trip: TripView | None = Field(default=None, description="The kilometres the energy is for, when given so")
    max_power_w: int
    phases: int
    priority: int
    station_id: str | None
    status: ReservationStatus
    ad_hoc: bool = False
    assigned_station_id: str | None
    assigned_evse_id: int | None
    planned_start: datetime | None
    planned_finish: datetime | None
    planned_energy_wh: int | None
    waitlist_position: int | None = None
    conflict: ConflictView | None = None
    decision: DecisionView | None = None
    alternatives: list[AlternativeView] | None = None
    arrived_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    delivered_wh: int | None = None
    reason: str | None = None
    created_at: datetime
    updated_at: datetime


def reservation_view(row: Any, *, position: int | None = None, default_time_zone: str = "UTC") -> Reservation:
    tz = row.time_zone or default_time_zone
    conflict = None
    if row.conflict and row.status == ReservationStatus.CONFLICT:
        c = row.conflict
        conflict = ConflictView(
            kind=c["kind"],
            deliverable_wh=c["deliverable_wh"],
            requested_wh=c["requested_wh"],
            full_charge_finish=local(datetime.fromisoformat(c["full_charge_finish"]), tz)
            if c.get("full_charge_finish")
            else None,
            respond_by=local(datetime.fromisoformat(c["respond_by"]), tz) if c.get("respond_by") else None,
            default=ConflictChoice(c.get("default", ConflictChoice.LESS_CHARGE_ON_TIME)),
        )
    decision = None
    if row.decision:
        decision = DecisionView(
            choice=row.decision["choice"],
            decided_by=row.decision["decided_by"],
            decided_at=local(datetime.fromisoformat(row.decision["decided_at"]), tz),
        )
    alternatives = None
    if row.alternatives:
        alternatives = [
            AlternativeView(
                arrival=local(datetime.fromisoformat(a["arrival"]), tz),
                departure=local(datetime.fromisoformat(a["departure"]), tz),
                energy_wh=a["energy_wh"],
                note=a["note"],
            )
            for a in row.alternatives
        ]
    return Reservation(
        id=row.id,
        tenant_id=row.tenant_id,
        site_id=row.site_id,
        time_zone=tz,
        vehicle_id=row.vehicle_id,
        driver_id=row.driver_id,
        arrival=local(row.arrival, tz),
        departure=local(row.departure, tz),
        duration_s=duration_s(row.arrival, row.departure),
        energy_wh=row.energy_wh,
        trip=TripView.model_validate(row.trip) if row.trip else None,
        max_power_w=row.max_power_w,
        phases=row.phases,
        priority=row.priority,
        station_id=row.station_id,
        status=row.status,
        ad_hoc=bool(row.ad_hoc),
        assigned_station_id=row.assigned_station_id,
        assigned_evse_id=row.assigned_evse_id,
        planned_start=local(row.planned_start, tz),
        planned_finish=local(row.planned_finish, tz),
        planned_energy_wh=row.planned_energy_wh,
        waitlist_position=position,
        conflict=conflict,
        decision=decision,
        alternatives=alternatives,
        arrived_at=local(row.arrived_at, tz),
        started_at=local(row.started_at, tz),
        finished_at=local(row.finished_at, tz),
        delivered_wh=row.delivered_wh,
        reason=row.reason,
        created_at=local(row.created_at, tz),
        updated_at=local(row.updated_at, tz),
    )
