"""Events the notifier reacts to, one function each.

A handler decides what to tell whom and writes it down: the notification, one delivery row per
channel and target (the delivery log), and notification.sent for what is delivered at once (the
push stream reads the log). E-mails and webhooks leave later, from the dispatcher, so a slow SMTP
server or fleet system never holds up the event stream.

Duplicates: the consumer drops an event id it has processed; on top of that every notification
has a key naming the fact it tells (a reservation's status at a time, a plan, a fault), so the
same fact arriving again under another event id (a replay, a re-publish) is not told twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from chargeyard_contracts import (
    ConflictKind,
    NotificationSent,
    ReservationConflict,
    ReservationCreated,
    ReservationStatus,
    ReservationUpdated,
    ScheduleUpdated,
    StationStatusChanged,
)
from chargeyard_contracts.stations import ConnectorStatus, FirmwareStatusChanged
from chargeyard_platform.bus import Context, Handler

from .adapters.orm import deliveries, notifications, preferences, reservations, station_states, webhooks
from .domain import messages as m
from .domain.messages import OPERATOR, Channel, Kind, Message, PlannedCharge, recipient_of

NAMESPACE = uuid.UUID("6f1c1f9e-52b5-4c1c-9d0e-6a7f3c2b8e11")
S = ReservationStatus

OPEN = frozenset({None, S.REQUESTED, S.SCHEDULED, S.CONFLICT, S.ARRIVED, S.CHARGING})
"""Reservations a station fault still matters to (None: known from a plan only)."""
ALERTING = frozenset({ConnectorStatus.FAULTED, ConnectorStatus.OFFLINE})
AFFECTING = ALERTING | {ConnectorStatus.UNAVAILABLE}


@dataclass(frozen=True)
class Notifier:
    operator_emails: tuple[str, ...] = ()

    # --- reservations ---------------------------------------------------------------------------

    async def on_reservation_created(self, event: ReservationCreated, ctx: Context) -> None:
        known = await _reservation(ctx, event.reservation_id)
        recipient = recipient_of(event.driver_id)
        values = {
            "site_id": event.site_id,
            "driver_id": event.driver_id,
            "requested": True,
            "updated_at": ctx.clock.now(),
        }
        await _save_reservation(ctx, event.reservation_id, known, values)
        subject = m.requested_subject(event.reservation_id, event.energy_wh, event.departure)
        await self.notify(
            ctx,
            recipient,
            Message(Kind.REQUESTED, subject, "", {"energy_wh": event.energy_wh}),
            reservation_id=event.reservation_id,
            key=f"requested:{event.reservation_id}:{recipient}",
        )
        if known is not None and known["station_id"] is not None and known["scheduled_to"] != recipient:
            # The plan came first (schedule.updated overtook reservation.created) and went to the
            # operator for want of a driver: now the driver gets it too.
            await self._tell_plan(ctx, recipient, event.reservation_id, _plan_of(known), known["time_zone"], known)

    async def on_schedule_updated(self, event: ScheduleUpdated, ctx: Context) -> None:
        for planned in event.charges:
            charge = PlannedCharge(
                station_id=planned.station_id,
                evse_id=planned.evse_id,
                connector_id=planned.connector_id,
                planned_start=planned.planned_start,
                planned_finish=planned.planned_finish,
                energy_wh=planned.energy_wh,
                requested_wh=planned.requested_wh,
            )
            known = await _reservation(ctx, planned.reservation_id)
            if known is not None and known["station_id"] is not None and _plan_of(known) == charge:
                continue  # the site was re-planned, but nothing changed for this reservation
            recipient = recipient_of(known["driver_id"] if known is not None else None)
            values: dict[str, Any] = {
                "station_id": charge.station_id,
                "evse_id": charge.evse_id,
                "connector_id": charge.connector_id,
                "planned_start": charge.planned_start,
                "planned_finish": charge.planned_finish,
                "planned_energy_wh": charge.energy_wh,
                "requested_wh": charge.requested_wh,
                "time_zone": event.time_zone,
                "plan_id": event.plan_id,
                "updated_at": ctx.clock.now(),
            }
            if known is None:
                values.update(site_id=event.site_id, driver_id=None, requested=False)
            await _save_reservation(ctx, planned.reservation_id, known, values)
            changed = known is not None and known["station_id"] is not None
            await self._tell_plan(
                ctx, recipient, planned.reservation_id, charge, event.time_zone, values, changed=changed
            )

    async def _tell_plan(
        self,
        ctx: Context,
        recipient: str,
        reservation_id: str,
        charge: PlannedCharge,
        tz: str,
        row: dict[str, Any],
        *,
        changed: bool = False,
    ) -> None:
        subject = m.scheduled_subject(charge, tz)
        await self.notify(
            ctx,
            recipient,
            Message(
                Kind.SCHEDULED,
                f"Changed: {subject}" if changed else subject,
                "",
                {
                    "changed": changed,
                    "station_id": charge.station_id,
                    "evse_id": charge.evse_id,
                    "planned_start": _iso(charge.planned_start),
                    "planned_finish": _iso(charge.planned_finish),
                    "energy_wh": charge.energy_wh,
                },
            ),
            reservation_id=reservation_id,
            key=f"scheduled:{reservation_id}:{recipient}:{row['plan_id']}",
        )
        await ctx.session.execute(
            reservations.update().where(reservations.c.reservation_id == reservation_id).values(scheduled_to=recipient)
        )

    async def on_reservation_updated(self, event: ReservationUpdated, ctx: Context) -> None:
        """The reservation API owns the life cycle; a change of status is told once."""
        known = await _reservation(ctx, event.reservation_id)
        previous = S(known["status"]) if known is not None and known["status"] else None
        values: dict[str, Any] = {
            "site_id": event.site_id,
            "driver_id": event.driver_id,
            "status": event.status.value,
            "assigned_station_id": event.assigned_station_id or event.station_id,
            "assigned_evse_id": event.assigned_evse_id,
            "updated_at": ctx.clock.now(),
        }
        if known is None:
            values["requested"] = False
        await _save_reservation(ctx, event.reservation_id, known, values)
        recipient = recipient_of(event.driver_id)
        tz = known["time_zone"] if known is not None else None
        rid = event.reservation_id
        message: Message | None = None
        if previous is not event.status:
            if event.status is S.WAITLISTED:
                message = m.waitlisted(rid)
            elif event.status is S.SCHEDULED and previous is S.WAITLISTED:
                message = m.promoted(rid, event.assigned_station_id, event.planned_start, tz)
            elif event.status is S.CONFLICT:
                offer = (known or {}).get("conflict") or {}
                message = m.conflict_offer(
                    rid,
                    departure=event.departure,
                    requested_wh=event.energy_wh,
                    deliverable_wh=offer.get("deliverable_wh"),
                    full_charge_finish=_parse(offer.get("full_charge_finish")),
                    tz=tz,
                )
            elif event.status is S.NO_SHOW:
                message = m.no_show(rid, event.arrival, tz)
            elif event.status is S.CHARGING:
                message = m.charging_started(rid, event.assigned_station_id)
            elif event.status is S.COMPLETED:
                message = m.charging_completed(rid, event.delivered_wh)
        if message is not None:
            key = f"{message.kind}:{rid}:{recipient}:{event.updated_at.isoformat()}"
            await self.notify(ctx, recipient, message, reservation_id=rid, key=key)
        planned = event.planned_energy_wh
        if event.status is S.CHARGING and event.delivered_wh and planned and event.delivered_wh >= planned:
            await self.notify(
                ctx,
                recipient,
                m.energy_reached(rid, event.delivered_wh, planned),
                reservation_id=rid,
                key=f"energy_reached:{rid}:{recipient}",
            )

    async def on_reservation_conflict(self, event: ReservationConflict, ctx: Context) -> None:
        """Kept for the offer: reservation.updated (status conflict) is what tells the driver,
        because the reservation API drops stale conflicts; a missing waiting list goes the same way."""
        if event.kind is not ConflictKind.SHORT:
            return
        known = await _reservation(ctx, event.reservation_id)
        offer = {
            "plan_id": event.plan_id,
            "deliverable_wh": event.deliverable_wh,
            "requested_wh": event.requested_wh,
            "departure": event.departure.isoformat(),
            "full_charge_finish": _iso(event.full_charge_finish),
        }
        values: dict[str, Any] = {"conflict": offer, "updated_at": ctx.clock.now()}
        if known is None:
            values.update(site_id=event.site_id, requested=False)
        await _save_reservation(ctx, event.reservation_id, known, values)

    # --- stations -------------------------------------------------------------------------------

    async def on_station_status(self, event: StationStatusChanged, ctx: Context) -> None:
        state = station_states.c
        previous = (
            await ctx.session.execute(
                sa.select(state.status)
                .where(state.station_id == event.station_id)
                .where(state.evse_id == event.evse_id)
                .with_for_update()
            )
        ).scalar()
        row = {"status": event.status.value, "updated_at": event.received_at}
        if previous is None:
            await ctx.session.execute(
                station_states.insert().values(station_id=event.station_id, evse_id=event.evse_id, **row)
            )
        else:
            await ctx.session.execute(
                station_states.update()
                .where(state.station_id == event.station_id)
                .where(state.evse_id == event.evse_id)
                .values(**row)
            )
        if event.status not in AFFECTING or previous == event.status.value:
            return  # told when the fault starts, not at every repeat
        at = event.received_at.isoformat()
        if event.status in ALERTING:
            alert = m.station_alert(
                event.station_id, event.evse_id, event.status.value, event.error_code, event.vendor_error_code
            )
            key = f"{alert.kind}:{event.station_id}:{event.evse_id}:{at}"
            await self.notify(ctx, OPERATOR, alert, reservation_id=None, key=key)
        r = reservations.c
        station = sa.func.coalesce(r.assigned_station_id, r.station_id)
        evse = sa.func.coalesce(r.assigned_evse_id, r.evse_id)
        query = sa.select(r.reservation_id, r.driver_id, r.status).where(station == event.station_id)
        if event.evse_id != 0:
            query = query.where(sa.or_(evse == event.evse_id, evse.is_(None)))
        for found in (await ctx.session.execute(query.order_by(r.reservation_id))).all():
            if (S(found.status) if found.status else None) not in OPEN:
                continue
            recipient = recipient_of(found.driver_id)
            await self.notify(
                ctx,
                recipient,
                m.station_fault(found.reservation_id, event.station_id, event.status.value),
                reservation_id=found.reservation_id,
                key=f"station_fault:{found.reservation_id}:{recipient}:{event.station_id}:{at}",
            )

    async def on_station_event(self, event: FirmwareStatusChanged, ctx: Context) -> None:
        if event.status not in m.FIRMWARE_FAILURES:
            return
        alert = m.firmware_failed(event.station_id, event.status)
        key = f"{alert.kind}:{event.station_id}:{event.status}:{event.received_at.isoformat()}"
        await self.notify(ctx, OPERATOR, alert, reservation_id=None, key=key)

    # --- telling ---------------------------------------------------------------------------------

    async def notify(
        self, ctx: Context, recipient: str, message: Message, *, reservation_id: str | None, key: str
    ) -> str | None:
        """Writes the notification and its deliveries; None when this fact was told already."""
        n = notifications.c
        if (await ctx.session.execute(sa.select(n.id).where(n.dedup_key == key))).first() is not None:
            return None
        notification_id = str(uuid.uuid5(NAMESPACE, key))
        now = ctx.clock.now()
        targets = await self._targets(ctx, recipient, message.kind)
        await ctx.session.execute(
            notifications.insert().values(
                id=notification_id,
                recipient=recipient,
                channel=",".join(dict.fromkeys(channel.value for channel, _ in targets)) or "none",
                kind=message.kind.value,
                subject=message.subject,
                body=message.body or None,
                data=message.data,
                reservation_id=reservation_id,
                created_at=now,
                dedup_key=key,
            )
        )
        for channel, target in targets:
            pushed = channel is Channel.PUSH
            await ctx.session.execute(
                deliveries.insert().values(
                    notification_id=notification_id,
                    channel=channel.value,
                    target=target,
                    # The push stream reads the log: stored is delivered.
                    status="sent" if pushed else "pending",
                    attempts=0,
                    next_attempt_at=None if pushed else now,
                    created_at=now,
                    sent_at=now if pushed else None,
                )
            )
            if pushed:
                await ctx.publish(
                    NotificationSent(
                        notification_id=notification_id,
                        recipient=recipient,
                        channel=channel.value,
                        kind=message.kind.value,
                        subject=message.subject,
                        reservation_id=reservation_id,
                        sent_at=now,
                    )
                )
        return notification_id

    async def _targets(self, ctx: Context, recipient: str, kind: Kind) -> list[tuple[Channel, str]]:
        p = preferences.c
        chosen = {
            Channel(row.channel): row.enabled
            for row in (await ctx.session.execute(sa.select(p.channel, p.enabled).where(p.recipient == recipient)))
        }
        targets: list[tuple[Channel, str]] = []
        if chosen.get(Channel.PUSH, True):
            targets.append((Channel.PUSH, recipient))
        if recipient == OPERATOR:
            # The operators' addresses get alerts; fleet reservations' news stays on the feed.
            if kind.is_alert:
                targets += [(Channel.EMAIL, address) for address in self.operator_emails]
        elif chosen.get(Channel.EMAIL, True):
            targets.append((Channel.EMAIL, recipient))  # the address is looked up when it is sent
        w = webhooks.c
        for hook in (await ctx.session.execute(sa.select(w.id, w.kinds, w.recipient).where(w.active))).all():
            if (not hook.kinds or kind.value in hook.kinds) and hook.recipient in (None, recipient):
                targets.append((Channel.WEBHOOK, hook.id))
        return targets

    def handlers(self) -> dict[type, Handler]:
        return {
            ReservationCreated: self.on_reservation_created,
            ScheduleUpdated: self.on_schedule_updated,
            ReservationUpdated: self.on_reservation_updated,
            ReservationConflict: self.on_reservation_conflict,
            StationStatusChanged: self.on_station_status,
            FirmwareStatusChanged: self.on_station_event,
        }


async def _reservation(ctx: Context, reservation_id: str) -> dict[str, Any] | None:
    row = (
        await ctx.session.execute(
            sa.select(reservations).where(reservations.c.reservation_id == reservation_id).with_for_update()
        )
    ).first()
    return None if row is None else dict(row._mapping)


async def _save_reservation(
    ctx: Context, reservation_id: str, known: dict[str, Any] | None, values: dict[str, Any]
) -> None:
    if known is None:
        await ctx.session.execute(reservations.insert().values(reservation_id=reservation_id, **values))
    else:
        await ctx.session.execute(
            reservations.update().where(reservations.c.reservation_id == reservation_id).values(**values)
        )


def _plan_of(row: dict[str, Any]) -> PlannedCharge:
    return PlannedCharge(
        station_id=row["station_id"],
        evse_id=row["evse_id"],
        connector_id=row["connector_id"],
        planned_start=row["planned_start"],
        planned_finish=row["planned_finish"],
        energy_wh=row["planned_energy_wh"],
        requested_wh=row["requested_wh"],
    )


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _parse(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
