"""Charge detail records in the OCPI 2.2.1 CDR shape (OCPI 2.2.1, module CDRs, §10.3.1 CDR object).

Field names and nesting follow the specification so that a roaming partner or an OCPI hub can
take the record as it is. Amounts are decimals as strings; OCPI's `number` is a JSON number, but
a string keeps the exact value, which OCPI parsers accept in practice and finance needs. Where
Chargeyard knows nothing of a required field (a site's street address) the field is present and
empty rather than invented.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, PlainSerializer

from ..domain.energy import RegisterReading
from ..domain.pricing import Line, LineKind, Priced
from ..domain.sessions import ChargingSession
from ..domain.tariffs import Tariff

Number = Annotated[Decimal, PlainSerializer(str, return_type=str)]

_DIMENSION = {
    LineKind.ENERGY: "ENERGY",
    LineKind.TIME: "TIME",
    LineKind.IDLE: "PARKING_TIME",
    LineKind.SESSION_FEE: "FLAT",
}


class Price(BaseModel):
    excl_vat: Number
    incl_vat: Number | None = None


class CdrToken(BaseModel):
    country_code: str
    party_id: str
    uid: str
    type: str = "RFID"
    contract_id: str


class CdrLocation(BaseModel):
    id: str
    name: str | None = None
    address: str = ""
    city: str = ""
    postal_code: str | None = None
    country: str
    coordinates: dict[str, str] | None = None
    evse_uid: str
    evse_id: str
    connector_id: str
    connector_standard: str = "IEC_62196_T2"
    connector_format: str = "SOCKET"
    connector_power_type: str = "AC_3_PHASE"


class CdrDimension(BaseModel):
    type: str
    volume: Number


class ChargingPeriod(BaseModel):
    start_date_time: datetime
    dimensions: list[CdrDimension]
    tariff_id: str | None = None


class SignedValue(BaseModel):
    nature: str
    plain_data: str
    signed_data: str


class SignedData(BaseModel):
    encoding_method: str
    encoding_method_version: int | None = None
    public_key: str | None = None
    signed_values: list[SignedValue]
    url: str | None = None


class Cdr(BaseModel):
    country_code: str
    party_id: str
    id: str
    start_date_time: datetime
    end_date_time: datetime
    session_id: str
    cdr_token: CdrToken
    auth_method: str = "WHITELIST"
    cdr_location: CdrLocation
    meter_id: str | None = None
    currency: str
    tariffs: list[dict[str, Any]] = []
    charging_periods: list[ChargingPeriod]
    signed_data: SignedData | None = None
    total_cost: Price
    total_fixed_cost: Price | None = None
    total_energy: Number
    total_energy_cost: Price | None = None
    total_time: Number
    total_time_cost: Price | None = None
    total_parking_time: Number | None = None
    total_parking_cost: Price | None = None
    remark: str | None = None
    last_updated: datetime


def cdr_id_of(transaction_id: str) -> str:
    """One CDR per transaction. OCPI CDR.id is string(39): a longer one (a 2.0.1 UUID makes 40)
    becomes a digest of the transaction id, still unique and stable across replays."""
    cdr_id = f"CDR-{transaction_id}"
    return cdr_id if len(cdr_id) <= 39 else f"CDR-{hashlib.sha256(transaction_id.encode()).hexdigest()[:35]}"


def build_cdr(
    cs: ChargingSession,
    priced: Priced,
    tariff: Tariff,
    *,
    country_code: str,
    party_id: str,
    site_id: str | None,
    now: datetime,
) -> Cdr:
    began = cs.started_at or (cs.start.at if cs.start else now)
    ended = cs.stopped_at or now
    hours = Decimal((ended - began).total_seconds()) / 3600
    vat = tariff.vat_rate

    def price(amount: Decimal) -> Price:
        # Per-dimension costs are informative: the VAT the customer pays is the total's.
        return Price(excl_vat=amount, incl_vat=None)

    return Cdr(
        country_code=country_code,
        party_id=party_id,
        id=cdr_id_of(cs.transaction_id),
        start_date_time=began,
        end_date_time=ended,
        session_id=cs.transaction_id,
        cdr_token=CdrToken(
            country_code=country_code, party_id=party_id, uid=cs.id_token or "", contract_id=cs.id_token or ""
        ),
        cdr_location=CdrLocation(
            id=site_id or "",
            country=country_code,
            evse_uid=f"{cs.station_id}*{cs.evse_id}",
            evse_id=f"{cs.station_id}*{cs.evse_id}",
            connector_id=str(cs.connector_id),
        ),
        meter_id=cs.station_id,
        currency=tariff.currency,
        tariffs=[{"id": tariff.tariff_id, "currency": tariff.currency, "vat_rate": str(vat)}],
        charging_periods=[_period(line, tariff.tariff_id) for line in priced.lines],
        signed_data=_signed(cs.start, cs.stop),
        total_cost=Price(excl_vat=priced.net, incl_vat=priced.gross),
        total_fixed_cost=price(priced.total(LineKind.SESSION_FEE)),
        total_energy=priced.energy_wh / 1000,
        total_energy_cost=price(priced.total(LineKind.ENERGY)),
        total_time=hours.quantize(Decimal("0.000001")),
        total_time_cost=price(priced.total(LineKind.TIME)),
        total_parking_time=(priced.quantity(LineKind.IDLE) / 60).quantize(Decimal("0.000001")),
        total_parking_cost=price(priced.total(LineKind.IDLE)),
        last_updated=now,
    )


def _period(line: Line, tariff_id: str) -> ChargingPeriod:
    volume = line.quantity if line.kind is not LineKind.TIME and line.kind is not LineKind.IDLE else line.quantity / 60
    return ChargingPeriod(
        start_date_time=line.start,
        dimensions=[CdrDimension(type=_DIMENSION[line.kind], volume=volume)],
        tariff_id=tariff_id,
    )


def _signed(start: RegisterReading | None, stop: RegisterReading | None) -> SignedData | None:
    """OCPI SignedData: the station's signed start and end values exactly as sent."""
    values = [
        (nature, reading.signed)
        for nature, reading in (("Start", start), ("End", stop))
        if reading is not None and reading.signed
    ]
    if not values:
        return None
    first = values[0][1]
    return SignedData(
        encoding_method=str(first.get("format", "")),
        public_key=first.get("public_key"),
        signed_values=[
            SignedValue(nature=nature, plain_data=str(reading_wh), signed_data=str(signed.get("data", "")))
            for (nature, signed), reading_wh in zip(
                values, [r.wh for r in (start, stop) if r and r.signed], strict=True
            )
        ],
    )
