"""Turning a completed session into its CDR, again whenever something it depends on arrives.

Idempotent by content: the CDR's content (money, energy, who, anomalies) is hashed; an event
that changes nothing (the same reading delivered twice, a replay of the whole topic) leaves the
record, its version and the published events as they were. A changed record gets a new version
and one new billing.cdr event.

The tariff is frozen into the CDR the first time the session is priced: editing a tariff later
changes future sessions, not records already made (and not a replay of old events).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from chargeyard_contracts.billing import ChargeDetailRecorded
from chargeyard_platform.bus import Context

from .adapters.ocpi import build_cdr, cdr_id_of
from .adapters.orm import accounts, cdrs, station_sites, token_owners
from .adapters.repository import SessionRepository
from .adapters.tariffs import all_tariffs, tariff_from_json
from .domain.ocmf import check_signed
from .domain.pricing import Anomaly, AnomalyKind, Priced, SessionReadings, price
from .domain.sessions import ChargingSession, SessionStatus
from .domain.tariffs import Tariff, select_tariff


@dataclass(frozen=True)
class Billing:
    """Settings settlement needs, handed over by the bootstrap."""

    country_code: str = "DE"
    party_id: str = "CYD"


async def settle(ctx: Context, repo: SessionRepository, cs: ChargingSession, billing: Billing) -> None:
    if cs.status is not SessionStatus.COMPLETED or cs.stopped_at is None:
        return
    s = ctx.session
    now = ctx.clock.now()
    who = await _attribution(s, cs)
    site = (await s.execute(sa.select(station_sites).where(station_sites.c.station_id == cs.station_id))).first()
    site_id, tz = (site.site_id, ZoneInfo(site.time_zone)) if site is not None else (None, None)
    existing = (await s.execute(sa.select(cdrs).where(cdrs.c.transaction_id == cs.transaction_id))).first()

    tariff: Tariff | None
    if existing is not None and existing.tariff is not None:
        tariff = tariff_from_json(existing.tariff_id, existing.tariff)
        tariff_json: dict[str, Any] | None = existing.tariff
    else:
        views = await all_tariffs(s)
        by_id = {v.tariff_id: v for v in views}
        tariff = select_tariff(
            [v.to_domain(v.tariff_id) for v in views],
            site_id=site_id,
            tenant_id=who.get("tenant_id"),
            user_group=who.get("user_group"),
        )
        tariff_json = (
            by_id[tariff.tariff_id].model_dump(mode="json", exclude={"tariff_id", "updated_at"}) if tariff else None
        )

    readings = SessionReadings(
        readings=tuple(await repo.readings(cs.transaction_id)),
        start=cs.start,
        stop=cs.stop,
        started_at=cs.started_at,
        stopped_at=cs.stopped_at,
        start_from_transaction=cs.start_from_transaction,
        stop_from_transaction=cs.stop_from_transaction,
        full_at=cs.full_at,
    )
    result: Priced | list[Anomaly]
    if tariff is None:
        result = [Anomaly(AnomalyKind.NO_TARIFF, f"no tariff applies to site {site_id}, tenant {who.get('tenant_id')}")]
    else:
        result = price(readings, tariff, tz)
    checks = [
        {"nature": nature, **_check(reading.signed, reading.wh)}
        for nature, reading in (("Start", cs.start), ("End", cs.stop))
        if reading is not None and reading.signed
    ]
    body: dict[str, Any]
    money: dict[str, str | None]
    if isinstance(result, Priced) and tariff is not None:
        cdr = build_cdr(
            cs, result, tariff, country_code=billing.country_code, party_id=billing.party_id, site_id=site_id, now=now
        )
        body = cdr.model_dump(mode="json", exclude={"last_updated"})
        money = {
            "currency": tariff.currency,
            "net": str(result.net),
            "vat": str(result.vat),
            "gross": str(result.gross),
        }
        status, anomalies = "priced", []
    else:
        body = {}
        money = {"currency": tariff.currency if tariff else None, "net": None, "vat": None, "gross": None}
        status, anomalies = (
            "flagged",
            [f"{a.kind.value}: {a.detail}" for a in result] if isinstance(result, list) else [],
        )
    body["signed_checks"] = checks
    content = {
        **who,
        **money,
        "status": status,
        "anomalies": anomalies,
        "site_id": site_id,
        "tariff_id": tariff.tariff_id if tariff else None,
        "energy_wh": cs.energy.energy_wh,
        "body": body,
    }
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
    if existing is not None and existing.content_hash == digest:
        return
    version = 1 if existing is None else existing.version + 1
    began = cs.started_at or (cs.start.at if cs.start else cs.stopped_at)
    values = {
        **who,
        **money,
        "version": version,
        "content_hash": digest,
        "status": status,
        "anomalies": anomalies,
        "site_id": site_id,
        "tariff_id": tariff.tariff_id if tariff else None,
        "tariff": tariff_json,
        "started_at": began,
        "stopped_at": cs.stopped_at,
        "energy_wh": cs.energy.energy_wh,
        "body": {**body, "last_updated": now.isoformat()} if status == "priced" else body,
        "updated_at": now,
    }
    cdr_id = cdr_id_of(cs.transaction_id)
    if existing is None:
        await s.execute(cdrs.insert().values(cdr_id=cdr_id, transaction_id=cs.transaction_id, **values))
    else:
        await s.execute(cdrs.update().where(cdrs.c.cdr_id == cdr_id).values(**values))
    await ctx.publish(
        ChargeDetailRecorded(
            cdr_id=cdr_id,
            version=version,
            transaction_id=cs.transaction_id,
            station_id=cs.station_id,
            evse_id=cs.evse_id,
            connector_id=cs.connector_id,
            site_id=site_id,
            driver_id=who.get("driver_id"),
            vehicle_id=who.get("vehicle_id"),
            tenant_id=who.get("tenant_id"),
            cost_centre=who.get("cost_centre"),
            tariff_id=tariff.tariff_id if tariff else None,
            started_at=began,
            stopped_at=cs.stopped_at,
            energy_wh=cs.energy.energy_wh,
            status=status,
            anomalies=tuple(anomalies),
            currency=money["currency"],
            total_excl_vat=money["net"],
            total_vat=money["vat"],
            total_incl_vat=money["gross"],
            recorded_at=now,
        )
    )


async def _attribution(s: Any, cs: ChargingSession) -> dict[str, str | None]:
    driver_id = None
    if cs.id_token is not None:
        driver_id = (
            await s.execute(sa.select(token_owners.c.driver_id).where(token_owners.c.id_token == cs.id_token))
        ).scalar_one_or_none()
    account = None
    if driver_id is not None:
        account = (await s.execute(sa.select(accounts).where(accounts.c.driver_id == driver_id))).first()
    return {
        "driver_id": driver_id,
        "vehicle_id": account.vehicle_id if account else None,
        "tenant_id": account.tenant_id if account else None,
        "user_group": account.user_group if account else None,
        "cost_centre": account.cost_centre if account else None,
    }


def _check(signed: Any, wh: int) -> dict[str, Any]:
    check = check_signed(signed, wh)
    return {
        "format": check.format,
        "structure_ok": check.structure_ok,
        "value_matches": check.value_matches,
        "signature": check.signature.value,
        "problems": list(check.problems),
    }
