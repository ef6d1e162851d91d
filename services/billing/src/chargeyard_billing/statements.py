"""Monthly statements: the priced CDRs of one user, vehicle or cost centre in one calendar month
(by the session's end, UTC), as CSV (RFC 4180) and PDF.

Totals add up the CDRs' own rounded amounts, so a statement always equals the sum of the
records it lists; flagged CDRs are not on a statement until their readings are sorted out.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from fpdf import FPDF
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from .adapters.orm import cdrs


class StatementBy(StrEnum):
    USER = "user"
    VEHICLE = "vehicle"
    COST_CENTRE = "cost-centre"


_COLUMN = {
    StatementBy.USER: cdrs.c.driver_id,
    StatementBy.VEHICLE: cdrs.c.vehicle_id,
    StatementBy.COST_CENTRE: cdrs.c.cost_centre,
}


class StatementLine(BaseModel):
    cdr_id: str
    transaction_id: str
    station_id: str | None
    site_id: str | None
    driver_id: str | None
    vehicle_id: str | None
    cost_centre: str | None
    started_at: datetime
    stopped_at: datetime
    energy_wh: int | None
    tariff_id: str | None
    net: Decimal
    vat: Decimal
    gross: Decimal


class Statement(BaseModel):
    by: StatementBy
    key: str
    month: str
    currency: str | None
    lines: list[StatementLine]
    energy_wh: int
    net: Decimal
    vat: Decimal
    gross: Decimal


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """'2026-03' → [2026-03-01, 2026-04-01) in UTC; ValueError names what is wrong."""
    try:
        start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"month must look like 2026-03, got {month!r}") from exc
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


async def statement(session: AsyncSession, by: StatementBy, key: str, month: str) -> Statement:
    start, end = month_bounds(month)
    rows = (
        await session.execute(
            sa.select(cdrs)
            .where(_COLUMN[by] == key, cdrs.c.status == "priced", cdrs.c.stopped_at >= start, cdrs.c.stopped_at < end)
            .order_by(cdrs.c.stopped_at, cdrs.c.cdr_id)
        )
    ).all()
    lines = [
        StatementLine(
            cdr_id=row.cdr_id,
            transaction_id=row.transaction_id,
            station_id=(row.body.get("cdr_location") or {}).get("evse_uid", "").split("*")[0] or None,
            site_id=row.site_id,
            driver_id=row.driver_id,
            vehicle_id=row.vehicle_id,
            cost_centre=row.cost_centre,
            started_at=row.started_at,
            stopped_at=row.stopped_at,
            energy_wh=row.energy_wh,
            tariff_id=row.tariff_id,
            net=Decimal(row.net),
            vat=Decimal(row.vat),
            gross=Decimal(row.gross),
        )
        for row in rows
    ]
    currencies = {row.currency for row in rows}
    return Statement(
        by=by,
        key=key,
        month=month,
        currency=currencies.pop() if len(currencies) == 1 else None,
        lines=lines,
        energy_wh=sum(line.energy_wh or 0 for line in lines),
        net=sum((line.net for line in lines), Decimal("0.00")),
        vat=sum((line.vat for line in lines), Decimal("0.00")),
        gross=sum((line.gross for line in lines), Decimal("0.00")),
    )


HEADER = ["cdr_id", "transaction_id", "station_id", "site_id", "driver_id", "vehicle_id", "cost_centre",
          "started_at", "stopped_at", "energy_wh", "tariff_id", "net", "vat", "gross"]  # fmt: skip


def statement_csv(st: Statement) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180 line breaks
    writer.writerow(HEADER)
    for line in st.lines:
        writer.writerow([getattr(line, h).isoformat() if isinstance(getattr(line, h), datetime) else
                         ("" if getattr(line, h) is None else getattr(line, h)) for h in HEADER])  # fmt: skip
    writer.writerow(["total", "", "", "", "", "", "", "", "", st.energy_wh, "", st.net, st.vat, st.gross])
    return out.getvalue()


def statement_pdf(st: Statement) -> bytes:
    pdf = FPDF(orientation="landscape")
    pdf.set_title(f"Statement {st.by.value} {st.key} {st.month}")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 10, f"Charging statement {st.month}: {st.by.value} {st.key}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=9)
    widths = (42, 34, 46, 46, 24, 28, 18, 18, 18)
    head = ("CDR", "Station", "Start (UTC)", "End (UTC)", "kWh", "Tariff", "Net", "VAT", "Gross")
    for w, h in zip(widths, head, strict=True):
        pdf.cell(w, 7, h, border=1)
    pdf.ln()
    for line in st.lines:
        cells = (
            line.cdr_id,
            line.station_id or "",
            line.started_at.strftime("%Y-%m-%d %H:%M"),
            line.stopped_at.strftime("%Y-%m-%d %H:%M"),
            f"{Decimal(line.energy_wh or 0) / 1000:.3f}",
            line.tariff_id or "",
            f"{line.net}",
            f"{line.vat}",
            f"{line.gross}",
        )
        for w, c in zip(widths, cells, strict=True):
            pdf.cell(w, 6, c[:24], border=1)
        pdf.ln()
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(
        0, 8, f"Total {st.currency or ''}: net {st.net}, VAT {st.vat}, gross {st.gross}", new_x="LMARGIN", new_y="NEXT"
    )
    return bytes(pdf.output())
