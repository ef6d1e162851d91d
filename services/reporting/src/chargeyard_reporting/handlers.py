"""Events reporting reacts to: it keeps read models, and publishes nothing."""

from __future__ import annotations

import hashlib
from datetime import datetime

import sqlalchemy as sa
from chargeyard_contracts import (
    MeterValuesReported,
    StationRegistered,
    StationStatusChanged,
    TopologyUpdated,
    TransactionEventReported,
)
from chargeyard_contracts.billing import ChargeDetailRecorded
from chargeyard_contracts.energy import GreenEnergyPublished
from chargeyard_contracts.stations import (
    FirmwareStatusChanged,
    ReadingContext,
    SecurityEventReported,
    StationEventReported,
    TransactionEventKind,
)
from chargeyard_platform.bus import Context, Handler
from sqlalchemy.ext.asyncio import AsyncSession

from .adapters.orm import (
    charges,
    connector_status,
    evse_power,
    green_intervals,
    sites,
    station_events,
    station_sites,
    stations,
    status_history,
    transactions,
)
from .adapters.readings import record_register_reading
from .domain.deltas import total_power_w


async def on_topology_updated(event: TopologyUpdated, ctx: Context) -> None:
    """topology.updated is compacted and replayed: an older topology of a site never wins."""
    s = ctx.session
    current = (
        await s.execute(
            sa.select(sites.c.topology_updated_at).where(sites.c.site_id == event.site_id).with_for_update()
        )
    ).scalar_one_or_none()
    if current is not None and current > event.updated_at:
        return
    values = {"time_zone": event.time_zone, "topology_updated_at": event.updated_at}
    if current is None:
        await s.execute(sites.insert().values(site_id=event.site_id, **values))
    else:
        await s.execute(sites.update().where(sites.c.site_id == event.site_id).values(**values))

    placed = {p.station_id for p in event.stations}
    # Stations the site no longer lists become unassigned, unless a newer topology claimed them.
    await s.execute(
        station_sites.delete().where(
            station_sites.c.site_id == event.site_id,
            station_sites.c.station_id.not_in(placed) if placed else sa.true(),
            station_sites.c.topology_updated_at <= event.updated_at,
        )
    )
    for station_id in sorted(placed):
        await _upsert_if_newer(
            s,
            station_sites,
            {"station_id": station_id},
            {"site_id": event.site_id, "topology_updated_at": event.updated_at},
            "topology_updated_at",
        )


async def on_station_registered(event: StationRegistered, ctx: Context) -> None:
    await _upsert_if_newer(
        ctx.session,
        stations,
        {"station_id": event.station_id},
        {
            "vendor": event.vendor,
            "model": event.model,
            "serial_number": event.serial_number,
            "firmware_version": event.firmware_version,
            "ocpp_version": event.capabilities.ocpp_version.value,
            "registered_at": event.registered_at,
        },
        "registered_at",
    )


async def on_station_status_changed(event: StationStatusChanged, ctx: Context) -> None:
    at = event.station_timestamp or event.received_at
    # The history behind utilisation, availability and the error log: one row per status change,
    # keyed by what happened (not by the envelope), so the same change delivered twice is one row.
    key = {
        "station_id": event.station_id,
        "evse_id": event.evse_id,
        "connector_id": event.connector_id,
        "at": at,
        "status": event.status.value,
    }
    h = status_history.c
    found = (await ctx.session.execute(sa.select(h.at).where(*[h[k] == v for k, v in key.items()]))).first()
    if found is None:
        await ctx.session.execute(
            status_history.insert().values(
                **key, error_code=event.error_code, vendor_error_code=event.vendor_error_code
            )
        )
    await _upsert_if_newer(
        ctx.session,
        connector_status,
        {"station_id": event.station_id, "evse_id": event.evse_id, "connector_id": event.connector_id},
        {
            "status": event.status.value,
            "error_code": event.error_code,
            "status_at": event.station_timestamp or event.received_at,
        },
        "status_at",
    )


async def on_meter_values(event: MeterValuesReported, ctx: Context) -> None:
    if event.evse_id == 0:
        return  # the station's main meter includes its EVSEs: counting it too would count twice
    # A station whose clock the gateway flagged as skewed is placed by when we received it.
    at = event.received_at if event.clock_skew_flagged else event.station_timestamp
    if event.energy_wh is not None and event.energy_context is ReadingContext.REGISTER:
        await record_register_reading(ctx.session, event.station_id, event.evse_id, at, event.energy_wh)
    power = total_power_w(event.power_w, (p.power_w for p in event.phases))
    if power is not None:
        await _set_power(ctx.session, event.station_id, event.evse_id, power, at)


async def on_transaction_event(event: TransactionEventReported, ctx: Context) -> None:
    s, at = ctx.session, event.station_timestamp
    if event.meter_wh is not None:
        # meterStart / meterStop are register values (OCPP 1.6 StartTransaction, 2.0.1
        # Transaction.Begin/End) and fill the gaps between sampled meter values.
        await record_register_reading(s, event.station_id, event.evse_id, at, event.meter_wh)
    key = {"transaction_id": event.transaction_id}
    found = (await s.execute(sa.select(transactions.c.transaction_id).filter_by(**key))).first()
    if found is None:
        await s.execute(
            transactions.insert().values(
                **key, station_id=event.station_id, evse_id=event.evse_id, started_at=None, ended_at=None
            )
        )
    if event.kind is TransactionEventKind.STARTED:
        await s.execute(transactions.update().filter_by(**key).values(started_at=at))
    elif event.kind is TransactionEventKind.ENDED:
        await s.execute(transactions.update().filter_by(**key).values(ended_at=at))
        # No transaction, no charging: the EVSE's last sample must not keep showing power.
        await _set_power(s, event.station_id, event.evse_id, 0, at)


async def on_charge_detail_recorded(event: ChargeDetailRecorded, ctx: Context) -> None:
    """Billing's CDR: who charged and what it cost. The highest version of a record wins."""
    c = charges.c
    current = (
        await ctx.session.execute(sa.select(c.version).where(c.transaction_id == event.transaction_id))
    ).scalar_one_or_none()
    values = {
        "cdr_id": event.cdr_id,
        "version": event.version,
        "station_id": event.station_id,
        "site_id": event.site_id,
        "driver_id": event.driver_id,
        "vehicle_id": event.vehicle_id,
        "tenant_id": event.tenant_id,
        "status": event.status,
        "started_at": event.started_at,
        "stopped_at": event.stopped_at,
        "energy_wh": event.energy_wh,
        "currency": event.currency,
        "net": event.total_excl_vat,
        "gross": event.total_incl_vat,
    }
    if current is None:
        await ctx.session.execute(charges.insert().values(transaction_id=event.transaction_id, **values))
    elif current < event.version:
        await ctx.session.execute(charges.update().where(c.transaction_id == event.transaction_id).values(**values))


async def on_green_energy(event: GreenEnergyPublished, ctx: Context) -> None:
    """Renewable share per site and interval; a measurement replaces a forecast, never the reverse,
    and a newer publication replaces an older one of the same kind."""
    g = green_intervals.c
    for interval in event.intervals:
        key = (g.site_id == event.site_id, g.start == interval.start)
        current = (await ctx.session.execute(sa.select(g.forecast, g.published_at).where(*key))).first()
        values = {
            "end": interval.end,
            "renewable_share": interval.renewable_share,
            "forecast": event.forecast,
            "published_at": event.published_at,
        }
        if current is None:
            await ctx.session.execute(
                green_intervals.insert().values(site_id=event.site_id, start=interval.start, **values)
            )
        elif (not event.forecast, event.published_at) >= (not current.forecast, current.published_at):
            await ctx.session.execute(green_intervals.update().where(*key).values(**values))


async def on_station_event(
    event: StationEventReported | SecurityEventReported | FirmwareStatusChanged, ctx: Context
) -> None:
    """What stations report besides status, for the event history with manufacturers' codes."""
    if isinstance(event, StationEventReported):
        at, kind = event.station_timestamp, "device_event"
        code = event.tech_code or f"{event.component}.{event.variable}"
        detail = f"{event.actual_value} ({event.trigger}{', cleared' if event.cleared else ''}) {event.tech_info or ''}"
    elif isinstance(event, SecurityEventReported):
        at, kind, code, detail = event.station_timestamp, "security_event", event.type, event.tech_info
    else:
        at, kind, code, detail = event.received_at, "firmware_status", event.status, None
    key = hashlib.sha256(f"{event.station_id}|{at.isoformat()}|{kind}|{code}|{detail}".encode()).hexdigest()
    found = (
        await ctx.session.execute(sa.select(station_events.c.event_key).where(station_events.c.event_key == key))
    ).first()
    if found is None:
        await ctx.session.execute(
            station_events.insert().values(
                event_key=key, station_id=event.station_id, at=at, kind=kind, code=code, detail=(detail or "").strip()
            )
        )


async def _set_power(s: AsyncSession, station_id: str, evse_id: int, power_w: int, at: datetime) -> None:
    await _upsert_if_newer(
        s,
        evse_power,
        {"station_id": station_id, "evse_id": evse_id},
        {"power_w": power_w, "measured_at": at},
        "measured_at",
    )


async def _upsert_if_newer(
    s: AsyncSession, table: sa.Table, key: dict[str, object], values: dict[str, object], time_column: str
) -> None:
    """Insert, or overwrite only with something at least as new: events arrive out of order."""
    where = [table.c[k] == v for k, v in key.items()]
    current = (await s.execute(sa.select(table.c[time_column]).where(*where).with_for_update())).scalar_one_or_none()
    if current is None:
        await s.execute(table.insert().values(**key, **values))
    elif current <= values[time_column]:
        await s.execute(table.update().where(*where).values(**values))


HANDLERS: dict[type, Handler] = {
    TopologyUpdated: on_topology_updated,
    StationRegistered: on_station_registered,
    StationStatusChanged: on_station_status_changed,
    MeterValuesReported: on_meter_values,
    TransactionEventReported: on_transaction_event,
    ChargeDetailRecorded: on_charge_detail_recorded,
    GreenEnergyPublished: on_green_energy,
    StationEventReported: on_station_event,
    SecurityEventReported: on_station_event,
    FirmwareStatusChanged: on_station_event,
}
