"""Tariffs: what a charge costs, and which tariff applies to whom.

A tariff combines, each optional: a session fee; an energy price per kWh that may change with
the local time of day (time of use, in the site's time zone, so 22:00 means 22:00 on the wall
clock in summer and winter alike); a price per minute of the session; an idle fee per full minute
that the car stays connected after it reported full, after some free minutes; and the VAT rate.
Money is Decimal throughout, never float.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def to_cent(amount: Decimal) -> Decimal:
    """Half-up to the cent (the issue's rule; Python's default is banker's rounding, which
    would turn 0.285 into 0.28 instead of 0.29)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class EnergyWindow:
    """From `starts` (local time of day) until the next window starts, wrapping past midnight."""

    starts: time
    price_per_kwh: Decimal


@dataclass(frozen=True)
class IdleFee:
    price_per_minute: Decimal
    free_minutes: int = 0


@dataclass(frozen=True)
class TariffScope:
    """Who a tariff is for; None matches anyone. The most specific matching tariff wins."""

    site_id: str | None = None
    tenant_id: str | None = None
    user_group: str | None = None

    def matches(self, site_id: str | None, tenant_id: str | None, user_group: str | None) -> bool:
        return (
            (self.site_id is None or self.site_id == site_id)
            and (self.tenant_id is None or self.tenant_id == tenant_id)
            and (self.user_group is None or self.user_group == user_group)
        )

    @property
    def specificity(self) -> tuple[int, int, int]:
        # A user group is narrower than a tenant, a tenant narrower than a site.
        return (self.user_group is not None, self.tenant_id is not None, self.site_id is not None)


@dataclass(frozen=True)
class Tariff:
    tariff_id: str
    currency: str
    vat_rate: Decimal
    energy: tuple[EnergyWindow, ...] = ()
    session_fee: Decimal = Decimal(0)
    price_per_minute: Decimal = Decimal(0)
    idle: IdleFee | None = None
    scope: TariffScope = field(default_factory=TariffScope)

    def __post_init__(self) -> None:
        starts = [w.starts for w in self.energy]
        if len(set(starts)) != len(starts):
            raise ValueError("two energy windows start at the same time of day")
        if not Decimal(0) <= self.vat_rate < Decimal(1):
            raise ValueError(f"vat_rate must be a fraction in [0, 1), got {self.vat_rate}")

    @property
    def windows(self) -> tuple[EnergyWindow, ...]:
        return tuple(sorted(self.energy, key=lambda w: w.starts))

    def price_at(self, local: time) -> Decimal:
        """The energy price in force at a local time of day."""
        windows = self.windows
        if not windows:
            return Decimal(0)
        current = windows[-1]  # before the first start of the day, yesterday's last window runs on
        for window in windows:
            if window.starts <= local:
                current = window
        return current.price_per_kwh


def select_tariff(
    tariffs: list[Tariff], *, site_id: str | None, tenant_id: str | None, user_group: str | None
) -> Tariff | None:
    matching = [t for t in tariffs if t.scope.matches(site_id, tenant_id, user_group)]
    if not matching:
        return None
    # Ties between equally specific tariffs go to the lowest id, so the choice is reproducible.
    return sorted(matching, key=lambda t: (tuple(-x for x in t.scope.specificity), t.tariff_id))[0]
