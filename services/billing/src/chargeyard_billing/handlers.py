"""Events billing reacts to: transactions and their meter readings become sessions, and a
completed session becomes a CDR (again whenever a late event changes it)."""

from __future__ import annotations

import sqlalchemy as sa
from chargeyard_contracts import (
    MeterValuesReported,
    StationStatusChanged,
    TokensUpdated,
    TopologyUpdated,
    TransactionEventReported,
)
from chargeyard_contracts.stations import ConnectorStatus, ReadingContext, TransactionEventKind
from chargeyard_platform.bus import Context, Handler

from .adapters.orm import station_sites, token_owners
from .adapters.repository import SessionRepository
from .domain.energy import RegisterReading
from .domain.sessions import ChargingSession
from .settlement import Billing, settle

BILLING = Billing()


async def on_transaction_event(event: TransactionEventReported, ctx: Context) -> None:
    repo = SessionRepository(ctx.session)
    cs = await repo.get(event.transaction_id) or _new(event, event.transaction_id)
    at = event.station_timestamp
    if event.kind is TransactionEventKind.STARTED:
        cs.started(at=at, id_token=event.id_token, meter_wh=event.meter_wh, offline=event.offline)
    elif event.kind is TransactionEventKind.UPDATED:
        cs.updated(at=at, id_token=event.id_token, meter_wh=event.meter_wh)
    else:
        cs.ended(at=at, id_token=event.id_token, meter_wh=event.meter_wh, reason=event.reason)
    await repo.save(cs, ctx.clock.now())
    if event.meter_wh is not None:
        await repo.add_reading(cs.transaction_id, RegisterReading(event.meter_wh, at))
    await settle(ctx, repo, cs, BILLING)


async def on_meter_values(event: MeterValuesReported, ctx: Context) -> None:
    if event.transaction_id is None:
        return  # a reading outside any transaction bills nobody (reporting still counts it)
    repo = SessionRepository(ctx.session)
    # The Started event may not have arrived yet (another topic): the session starts lazily.
    cs = await repo.get(event.transaction_id) or _new(event, event.transaction_id)
    # A station whose clock the gateway flagged as skewed is placed by when we received it.
    at = event.received_at if event.clock_skew_flagged else event.station_timestamp
    reading = None
    if event.energy_wh is not None and event.energy_context is ReadingContext.REGISTER:
        signed = event.signed.model_dump(mode="json") if event.signed is not None else None
        reading = RegisterReading(event.energy_wh, at, signed)
        cs.observe(reading)
    if event.soc_percent is not None and event.soc_percent >= 100:
        cs.car_full(at)
    await repo.save(cs, ctx.clock.now())
    if reading is not None:
        await repo.add_reading(cs.transaction_id, reading)
    await settle(ctx, repo, cs, BILLING)


async def on_station_status(event: StationStatusChanged, ctx: Context) -> None:
    """OCPP SuspendedEV during a transaction: the car stopped drawing, it is full (idle fee)."""
    if event.status not in (ConnectorStatus.SUSPENDED_EV, ConnectorStatus.CHARGING) or event.evse_id == 0:
        return
    repo = SessionRepository(ctx.session)
    at = event.station_timestamp or event.received_at
    cs = await repo.running_at(event.station_id, event.evse_id, at)
    if cs is None:
        return
    if event.status is ConnectorStatus.SUSPENDED_EV:
        cs.car_full(at)
    else:
        cs.car_charging_again(at)
    await repo.save(cs, ctx.clock.now())
    await settle(ctx, repo, cs, BILLING)


async def on_tokens_updated(event: TokensUpdated, ctx: Context) -> None:
    """Who owns an RFID token: the driver a CDR and its statement belong to."""
    t = token_owners.c
    for entry in event.tokens:
        current = (
            await ctx.session.execute(sa.select(t.version).where(t.id_token == entry.id_token))
        ).scalar_one_or_none()
        if current is None:
            await ctx.session.execute(
                token_owners.insert().values(id_token=entry.id_token, driver_id=entry.driver_id, version=event.version)
            )
        elif current <= event.version:
            await ctx.session.execute(
                token_owners.update()
                .where(t.id_token == entry.id_token)
                .values(driver_id=entry.driver_id, version=event.version)
            )


async def on_topology_updated(event: TopologyUpdated, ctx: Context) -> None:
    """The site, and so the time zone for time-of-use prices, of each station."""
    c = station_sites.c
    for placement in event.stations:
        current = (
            await ctx.session.execute(sa.select(c.topology_updated_at).where(c.station_id == placement.station_id))
        ).scalar_one_or_none()
        values = {"site_id": event.site_id, "time_zone": event.time_zone, "topology_updated_at": event.updated_at}
        if current is None:
            await ctx.session.execute(station_sites.insert().values(station_id=placement.station_id, **values))
        elif current <= event.updated_at:
            await ctx.session.execute(
                station_sites.update().where(c.station_id == placement.station_id).values(**values)
            )


def _new(event: TransactionEventReported | MeterValuesReported, transaction_id: str) -> ChargingSession:
    return ChargingSession(
        transaction_id=transaction_id,
        station_id=event.station_id,
        evse_id=event.evse_id,
        connector_id=event.connector_id,
    )


HANDLERS: dict[type, Handler] = {
    TransactionEventReported: on_transaction_event,
    MeterValuesReported: on_meter_values,
    StationStatusChanged: on_station_status,
    TokensUpdated: on_tokens_updated,
    TopologyUpdated: on_topology_updated,
}
