"""Billing's events: a charge detail record was priced (or held back for its readings)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .base import Contract, SiteId, StationId, TransactionId, UtcDatetime, WattHours

Money = Annotated[str, Field(pattern=r"^-?\d+\.\d{2}$", description="Decimal as a string, to the cent")]


class ChargeDetailRecorded(Contract):
    """A CDR's money and who it is for; the full OCPI 2.2.1 CDR is on billing's API.

    Published again only when the record changes (a late reading, a corrected tariff), with a
    higher `version`; readers keep the highest version per cdr_id."""

    cdr_id: str = Field(min_length=1, max_length=64)
    version: int = Field(ge=1)
    transaction_id: TransactionId
    station_id: StationId
    evse_id: int = Field(ge=0)
    connector_id: int = Field(ge=0)
    site_id: SiteId | None = None
    driver_id: str | None = None
    vehicle_id: str | None = None
    tenant_id: str | None = None
    cost_centre: str | None = None
    tariff_id: str | None = None
    started_at: UtcDatetime
    stopped_at: UtcDatetime
    energy_wh: WattHours | None = None
    status: str = Field(pattern="^(priced|flagged)$", description="flagged: readings need a look, not priced")
    anomalies: tuple[str, ...] = ()
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    total_excl_vat: Money | None = None
    total_vat: Money | None = None
    total_incl_vat: Money | None = None
    recorded_at: UtcDatetime
