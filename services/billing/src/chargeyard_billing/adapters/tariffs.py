"""Tariffs on the wire and in the database: one JSON body per tariff, decimals as strings."""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.tariffs import EnergyWindow, IdleFee, Tariff, TariffScope
from .orm import tariffs

# Money and rates travel as strings ("0.30"), so no float ever touches them.
Amount = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=6), PlainSerializer(str, return_type=str)]


class EnergyWindowBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    starts: time = Field(description="Local time of day (site's time zone) from which the price applies")
    price_per_kwh: Amount


class IdleFeeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    price_per_minute: Amount
    free_minutes: int = Field(default=0, ge=0)


class TariffBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    currency: str = Field(min_length=3, max_length=3, pattern="^[A-Z]{3}$", examples=["EUR"])
    vat_rate: Annotated[Decimal, Field(ge=0, lt=1), PlainSerializer(str, return_type=str)] = Field(
        examples=["0.19"], description="A fraction: 0.19 for 19 %"
    )
    session_fee: Amount = Decimal(0)
    energy: list[EnergyWindowBody] = Field(
        default_factory=list, description="Price per kWh by local time of day; one window for a flat price"
    )
    price_per_minute: Amount = Decimal(0)
    idle: IdleFeeBody | None = None
    site_id: str | None = None
    tenant_id: str | None = None
    user_group: str | None = None

    @field_validator("energy")
    @classmethod
    def _distinct_starts(cls, windows: list[EnergyWindowBody]) -> list[EnergyWindowBody]:
        starts = [w.starts for w in windows]
        if len(set(starts)) != len(starts):
            raise ValueError("two energy windows start at the same time of day")
        return windows

    def to_domain(self, tariff_id: str) -> Tariff:
        return Tariff(
            tariff_id=tariff_id,
            currency=self.currency,
            vat_rate=self.vat_rate,
            energy=tuple(EnergyWindow(w.starts, w.price_per_kwh) for w in self.energy),
            session_fee=self.session_fee,
            price_per_minute=self.price_per_minute,
            idle=IdleFee(self.idle.price_per_minute, self.idle.free_minutes) if self.idle else None,
            scope=TariffScope(self.site_id, self.tenant_id, self.user_group),
        )


class TariffView(TariffBody):
    tariff_id: str
    updated_at: datetime


def tariff_from_json(tariff_id: str, body: dict[str, Any]) -> Tariff:
    return TariffBody.model_validate(body).to_domain(tariff_id)


async def all_tariffs(session: AsyncSession) -> list[TariffView]:
    rows = (await session.execute(sa.select(tariffs).order_by(tariffs.c.tariff_id))).all()
    return [
        TariffView.model_validate({**row.body, "tariff_id": row.tariff_id, "updated_at": row.updated_at})
        for row in rows
    ]


async def put_tariff(session: AsyncSession, tariff_id: str, body: TariffBody, now: datetime) -> bool:
    """True when the tariff is new."""
    values = {"body": body.model_dump(mode="json"), "updated_at": now}
    exists = (
        await session.execute(sa.select(tariffs.c.tariff_id).where(tariffs.c.tariff_id == tariff_id))
    ).first() is not None
    if exists:
        await session.execute(tariffs.update().where(tariffs.c.tariff_id == tariff_id).values(**values))
    else:
        await session.execute(tariffs.insert().values(tariff_id=tariff_id, **values))
    return not exists
