"""What the energy manager knows about power: site capacity, groups steered by third parties
(DSOs, traders, local energy management systems), their flexibility and allocation, building
load, green energy and priority requests.

Capacity topics are public: traders and DSOs subscribe to capacity.flexibility and
capacity.allocation and may publish capacity profiles on capacity.requests.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from .base import (
    Amperes,
    Contract,
    EvseId,
    ReservationId,
    SiteId,
    StationId,
    UtcDatetime,
    Watts,
)
from .planning import CapacityInterval

GroupId = str


class CountedReason(StrEnum):
    REJECTS = "rejects"
    """The station answered Rejected / NotSupported to a charging profile: counted at its maximum."""
    IGNORES = "ignores"
    """Metered above its limit (ignores or lags its profile): counted at its measured draw."""


class CountedEvse(Contract):
    """An EVSE that does not obey its profile: its draw is subtracted from the site's capacity and
    the EVSE is left out of the plan."""

    station_id: StationId
    evse_id: EvseId
    counted_w: Watts
    reason: CountedReason
    since: UtcDatetime


class SiteCapacityUpdated(Contract):
    """The capacity a site's plan may use over time (W): min(grid connection − building load −
    safety margin, circuit limits, the site's share of every group's capacity profile), with
    non-obeying EVSEs already subtracted. After the last interval `default_limit_w` holds."""

    site_id: SiteId
    intervals: tuple[CapacityInterval, ...] = ()
    default_limit_w: Watts
    counted: tuple[CountedEvse, ...] = ()
    building_stale: bool = False
    """The building meter is silent past its time-out: the safe fallback load is assumed."""
    updated_at: UtcDatetime


class ProfileKind(StrEnum):
    LIMIT = "limit"
    """A capacity limit: the group draws at most this."""
    SETPOINT = "setpoint"
    """A power setpoint: the group should draw this (never more)."""


class ProfileUnit(StrEnum):
    AMPERES = "A"
    KILOWATTS = "kW"
    WATTS = "W"


class ProfileInterval(Contract):
    start: UtcDatetime
    end: UtcDatetime
    value: float = Field(description="In the profile's unit; A are per phase")


class CapacityProfileRequested(Contract):
    """A third party sets a group's capacity or setpoint profile through Kafka (the same rules as
    PUT /v1/groups/{group_id}/capacity-profile). The api_key authenticates the party; the topic
    is written by parties (Kafka ACLs) and read by the energy manager only."""

    group_id: GroupId = Field(min_length=1, max_length=64)
    api_key: str = Field(min_length=16, max_length=200)
    kind: ProfileKind = ProfileKind.LIMIT
    unit: ProfileUnit = ProfileUnit.WATTS
    intervals: tuple[ProfileInterval, ...] = Field(min_length=1)
    requested_at: UtcDatetime


class FlexibilityInterval(Contract):
    start: UtcDatetime
    end: UtcDatetime
    allocated_w: Watts
    """What the plan gives the group's EVSEs in this interval."""
    up_w: Watts
    """How much more the group could draw (within its EVSEs' maxima and its capacity profile)."""
    down_w: Watts
    """How much less it could draw without breaking a promise (energy by departure)."""


class CapacityFlexibilityReported(Contract):
    group_id: GroupId
    plan_ids: tuple[str, ...] = ()
    intervals: tuple[FlexibilityInterval, ...]
    reported_at: UtcDatetime


class EvseAllocation(Contract):
    station_id: StationId
    evse_id: EvseId
    allocated_w: Watts
    """The limit the EVSE was given (plan layer, after clamping) at the interval's end."""
    drawn_w: Watts
    """Its average metered draw over the interval."""
    counted: bool = False
    """True when the EVSE does not obey and was counted at its measured or maximum draw."""


class CapacityAllocationReported(Contract):
    group_id: GroupId
    start: UtcDatetime
    end: UtcDatetime
    limit_w: Watts | None = None
    """The group's capacity profile value at the interval's end; None when no profile applies."""
    evses: tuple[EvseAllocation, ...]
    reported_at: UtcDatetime


class BuildingLoadReported(Contract):
    """A building meter reading (the site's consumption without the EV chargers): total power
    and/or current per phase (L1, L2, L3 of the grid connection)."""

    site_id: SiteId
    total_w: Watts | None = None
    phase_a: tuple[Amperes, Amperes, Amperes] | None = None
    measured_at: UtcDatetime

    @model_validator(mode="after")
    def _something_measured(self) -> BuildingLoadReported:
        if self.total_w is None and self.phase_a is None:
            raise ValueError("a reading needs total_w or phase_a")
        return self


class GreenInterval(Contract):
    start: UtcDatetime
    end: UtcDatetime
    pv_w: Watts | None = Field(default=None, description="On-site PV production (measured or forecast)")
    renewable_share: float | None = Field(default=None, ge=0, le=1, description="Of grid energy")
    marginal_g_co2_per_kwh: float | None = Field(default=None, ge=0)


class GreenEnergyPublished(Contract):
    site_id: SiteId
    forecast: bool = True
    intervals: tuple[GreenInterval, ...]
    published_at: UtcDatetime


class PriorityRequested(Contract):
    """A driver in a hurry: the scheduler raises the reservation's priority to `granted`
    (already capped by the site's rules)."""

    request_id: str = Field(min_length=1, max_length=64)
    site_id: SiteId
    reservation_id: ReservationId
    requested: int = Field(ge=1, le=10)
    granted: int = Field(ge=0, le=10)
    reason: str | None = None
    requested_by: str = Field(min_length=1, max_length=100)
    requested_at: UtcDatetime
