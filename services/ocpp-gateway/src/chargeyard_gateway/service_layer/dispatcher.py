"""Delivering station commands without holding the consumer's transaction open.

The station.commands handler only records the command (status `pending`) in the consumer's
transaction, with a NOTIFY that PostgreSQL delivers to every gateway instance on commit. The
consumer is one instance per partition, the socket may be on any instance: each instance's
dispatcher, woken by the NOTIFY (or its poll, `command_poll_interval_s`, as the fallback):
1. answers what needs no station: Expired past `expires_at`; Offline once the station has been
   connected nowhere for `offline_grace_s` of wall time (until then the command waits and is
   delivered when the station reconnects, to whichever instance); TimedOut for a claim whose
   instance died mid-delivery (the station may or may not have applied it);
2. claims (`sending`) the pending commands of stations whose connection row is *its own* and
   whose re-sync after connecting is done, oldest first, and delivers each in its own task (one
   station's slow answer does not hold up the others; OCPP allows one call in flight per station,
   which the ocpp library's call lock enforces in order);
3. records the outcome and writes StationCommandCompleted to the outbox in one transaction; an
   accepted SetChargingProfile is remembered (delivered_profiles) so it can be re-sent when the
   station reconnects, a ClearChargingProfile forgets what it cleared.
A station that disconnects mid-delivery ends the command at once as Offline (not after the
call's timeout). A station that disconnected between claim and delivery gets it back as pending.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from chargeyard_contracts.commands import (
    ClearChargingProfile,
    CommandOutcome,
    ProfilePurpose,
    SetChargingProfile,
    StationCommandCompleted,
    StationCommandIssued,
    TriggerMessage,
)
from chargeyard_platform.bus import Outbox
from chargeyard_platform.clock import Clock
from chargeyard_platform.db import Database
from sqlalchemy.ext.asyncio import AsyncSession

from .. import metrics
from ..adapters.orm import connections, delivered_profiles, station_commands, stations, transactions
from .connections import Connections, StationLink
from .group_read import GroupRead
from .stations import aware

log = logging.getLogger(__name__)

PENDING, SENDING, DONE = "pending", "sending", "done"

# Re-sent lowest layer first: the station maximum caps what follows (OCPP 1.6 §3.13.2, 2.0.1 K01).
_LAYER_ORDER = {ProfilePurpose.STATION_MAX.value: 0, ProfilePurpose.TX_DEFAULT.value: 1, ProfilePurpose.TX.value: 2}


async def record_command(
    session: AsyncSession,
    command: StationCommandIssued,
    *,
    received_at: datetime,
    correlation_id: str | None,
    recorded_by: str | None = None,
) -> bool:
    """In the consumer's transaction. False when this command id was recorded before."""
    exists = (
        await session.execute(
            sa.select(station_commands.c.seq).where(station_commands.c.command_id == command.command_id)
        )
    ).first()
    if exists is not None:
        return False
    await session.execute(
        station_commands.insert().values(
            command_id=command.command_id,
            station_id=command.station_id,
            command=command.command.command,
            body=command.model_dump(mode="json"),
            correlation_id=correlation_id,
            expires_at=command.expires_at,
            status=PENDING,
            received_at=received_at,
            recorded_by=recorded_by,
        )
    )
    return True


@dataclass
class _CatchUp:
    """A (re)connecting station's state for its re-sync and its first delivery pass."""

    registered: bool = False
    """False: a first connection, with nothing to catch up on."""
    evses: list[Any] = field(default_factory=list)
    profiles: list[Any] = field(default_factory=list)
    open_transactions: set[str] = field(default_factory=set)
    commands_waiting: bool = False


class Dispatcher:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        clock: Clock,
        links: Connections,
        *,
        timeout_s: float,
        poll_interval_s: float,
        offline_grace_s: float,
        resync: bool,
        published: Callable[[], None],
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.clock = clock
        self.links = links
        self.timeout_s = timeout_s
        self.poll_interval_s = poll_interval_s
        self.offline_grace_s = offline_grace_s
        self.resync_enabled = resync
        self._published = published
        self.wakeup = asyncio.Event()
        self._deliveries: set[asyncio.Task[None]] = set()
        # One outstanding call per station, in the order the commands were issued: a newer plan's
        # profile must never be overtaken by an older one (OCPP-J §4.1.1: one CALL at a time).
        self._station_turns: collections.defaultdict[str, asyncio.Lock] = collections.defaultdict(asyncio.Lock)
        links.on_opened = self._station_opened
        self._catch_up_reads: GroupRead[str, _CatchUp] = GroupRead(
            self._read_catch_up, window_s=0.002, max_items=1000, name="resync-read"
        )

    def wake(self) -> None:
        self.wakeup.set()

    async def run(self) -> None:
        try:
            while True:
                self.wakeup.clear()
                try:
                    await self.settle()
                    for row in await self.claim():
                        self._spawn(self.deliver(row), f"deliver-{row.command_id}")
                except Exception:
                    # Logged, never silent; the rows stay as they were and the next pass retries.
                    log.exception("command dispatcher pass failed; retrying")
                    await asyncio.sleep(1.0)
                try:
                    await asyncio.wait_for(self.wakeup.wait(), self.poll_interval_s)
                except TimeoutError:
                    pass
        finally:
            for task in self._deliveries:
                task.cancel()
            await asyncio.gather(*self._deliveries, return_exceptions=True)
            await self._catch_up_reads.aclose()

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    # --- what needs no station -------------------------------------------------------------------

    async def settle(self) -> None:
        """Commands that end without reaching a station: Expired, Offline, TimedOut (lost claim)."""
        now, wall = self.clock.now(), self.links.wall.now()
        live_instances = await self.links.signals.live_instances()
        stale = self.links.stale_before()
        lost_claim = wall - timedelta(seconds=self.timeout_s + 3 * self.links.refresh_s)
        async with self.db.transaction() as session:
            query = (
                sa.select(station_commands).where(station_commands.c.status == PENDING).order_by(station_commands.c.seq)
            )
            lost = sa.select(station_commands).where(station_commands.c.status == SENDING)
            if self.db.is_postgres:
                query, lost = query.with_for_update(skip_locked=True), lost.with_for_update(skip_locked=True)
            pending = (await session.execute(query)).all()
            held = await self._connected(session, {r.station_id for r in pending}, live_instances, stale)
            ended = False
            for row in pending:
                expires = aware(row.expires_at)
                if expires is not None and expires <= now:
                    await self._complete(session, row, CommandOutcome.EXPIRED, f"expired at {expires.isoformat()}")
                    ended = True
                elif row.station_id in held:
                    continue  # its instance claims it
                elif row.offline_since is None and self.offline_grace_s > 0:
                    await session.execute(
                        station_commands.update().where(station_commands.c.seq == row.seq).values(offline_since=wall)
                    )
                elif wall - (aware(row.offline_since) or wall) >= timedelta(seconds=self.offline_grace_s):
                    await self._complete(
                        session,
                        row,
                        CommandOutcome.OFFLINE,
                        f"the station was not connected for {self.offline_grace_s:g} s",
                    )
                    ended = True
            for row in (await session.execute(lost)).all():
                gone = (
                    row.instance_id != self.links.instance_id
                    and live_instances is not None
                    and row.instance_id not in live_instances
                )
                claimed = aware(row.claimed_at)
                if gone or (claimed is not None and claimed < lost_claim):
                    await self._complete(
                        session,
                        row,
                        CommandOutcome.TIMED_OUT,
                        f"gateway instance {row.instance_id} stopped during delivery; "
                        "the station may or may not have applied it",
                    )
                    ended = True
        if ended:
            self._published()

    @staticmethod
    async def _connected(
        session: AsyncSession, station_ids: set[str], live_instances: set[str] | None, stale: datetime
    ) -> set[str]:
        """Of `station_ids`, those with a connection on a live instance."""
        if not station_ids:
            return set()
        rows = (await session.execute(sa.select(connections).where(connections.c.station_id.in_(station_ids)))).all()
        if live_instances is not None:
            return {r.station_id for r in rows if r.instance_id in live_instances}
        return {r.station_id for r in rows if (aware(r.refreshed_at) or stale) >= stale}

    # --- delivery ----------------------------------------------------------------------------------

    async def claim(self) -> list[Any]:
        ready = set(self.links.ready_ids())
        if not ready:
            return []
        async with self.db.transaction() as session:
            # Only stations whose connection row is ours: after a station moved to another
            # instance, a socket we have not closed yet must not receive its commands.
            mine = sa.select(connections.c.station_id).where(connections.c.instance_id == self.links.instance_id)
            query = (
                sa.select(station_commands)
                .where(station_commands.c.status == PENDING, station_commands.c.station_id.in_(mine))
                .order_by(station_commands.c.seq)
            )
            if self.db.is_postgres:
                query = query.with_for_update(skip_locked=True)
            rows: list[Any] = [r for r in (await session.execute(query)).all() if r.station_id in ready]
            if rows:
                await session.execute(
                    station_commands.update()
                    .where(station_commands.c.seq.in_([r.seq for r in rows]))
                    .values(status=SENDING, instance_id=self.links.instance_id, claimed_at=self.links.wall.now())
                )
        return rows

    async def deliver(self, row: Any) -> None:
        # Tasks start in claim order and the lock is FIFO, so a station's commands go out in order.
        async with self._station_turns[row.station_id]:
            await self._deliver(row)

    async def _deliver(self, row: Any) -> None:
        issued = StationCommandIssued.model_validate(row.body)
        held = self.links.held(row.station_id)
        expires = aware(row.expires_at)
        outcome: CommandOutcome
        detail: str | None
        if held is None:
            # Gone between claim and delivery: wait for it again like any command of an offline station.
            async with self.db.transaction() as session:
                await session.execute(
                    station_commands.update()
                    .where(station_commands.c.seq == row.seq)
                    .values(status=PENDING, instance_id=None, claimed_at=None)
                )
            return
        if expires is not None and expires <= self.clock.now():
            outcome, detail = CommandOutcome.EXPIRED, f"expired at {expires.isoformat()}"
        else:
            outcome, detail = await self._execute(held.link, held.closed, issued, row.command_id)
        async with self.db.transaction() as session:
            await self._complete(session, row, outcome, detail)
            if outcome == CommandOutcome.ACCEPTED:
                await remember_profiles(session, issued, row.command_id, self.clock.now())
        self._published()

    async def _execute(
        self, link: StationLink, closed: asyncio.Event, issued: StationCommandIssued, command_id: str | None
    ) -> tuple[CommandOutcome, str | None]:
        call = asyncio.ensure_future(asyncio.wait_for(link.execute(issued.command, command_id), self.timeout_s))
        gone = asyncio.ensure_future(closed.wait())
        try:
            await asyncio.wait({call, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if not call.done():
            call.cancel()
            await asyncio.gather(call, return_exceptions=True)
            return CommandOutcome.OFFLINE, "the station disconnected during delivery; it may or may not have applied it"
        try:
            return call.result()
        except TimeoutError:
            return CommandOutcome.TIMED_OUT, f"no answer within {self.timeout_s:g} s"
        except Exception as exc:  # reported on station.command-results, and logged
            log.exception("%s: delivering %s failed", issued.station_id, command_id)
            return CommandOutcome.FAILED, f"{type(exc).__name__}: {exc}"

    async def _complete(self, session: AsyncSession, row: Any, outcome: CommandOutcome, detail: str | None) -> None:
        now = self.clock.now()
        await session.execute(
            station_commands.update()
            .where(station_commands.c.seq == row.seq)
            .values(status=DONE, outcome=outcome.value, detail=detail, completed_at=now)
        )
        await self.outbox.add(
            session,
            StationCommandCompleted(
                command_id=row.command_id,
                station_id=row.station_id,
                command=row.command,
                outcome=outcome,
                detail=detail,
                completed_at=now,
            ),
            correlation_id=row.correlation_id or row.command_id,
        )
        metrics.COMMAND_OUTCOMES.labels(command=row.command, outcome=outcome.value).inc()
        log.info(
            "%s: command %s (%s) -> %s%s",
            row.station_id,
            row.command_id,
            row.command,
            outcome.value,
            f": {detail}" if detail else "",
        )

    # --- re-sync after (re)connecting ---------------------------------------------------------------

    def _station_opened(self, link: StationLink) -> None:
        self._spawn(self._resync_then_ready(link), f"resync-{link.station_id}")

    async def _resync_then_ready(self, link: StationLink) -> None:
        waiting = True
        try:
            state = await self._catch_up_reads.get(link.station_id)
            waiting = state is None or state.commands_waiting
            if self.resync_enabled:
                await self.resync(link, state)
        except Exception:
            log.exception("%s: re-sync after reconnecting failed; delivering its commands anyway", link.station_id)
        finally:
            self.links.mark_ready(link)
            if waiting:
                # A pass for a station with no pending command would find nothing: in a reconnect
                # storm that was one pass (two transactions) per station. A command recorded after
                # the read wakes the dispatcher when it is recorded, and the poll finds it anyway.
                self.wake()

    async def resync(self, link: StationLink, state: _CatchUp | None = None) -> None:
        """A station that was here before and reconnects may have missed or lost things while it
        was away: ask for its connector states (TriggerMessage StatusNotification, OCPP 1.6 §5.17,
        2.0.1 F06) and re-send the profiles it last accepted that still apply (a station may drop
        profiles at a reboot; re-sending one with the same id replaces it, 1.6 §5.16.2, 2.0.1 K01)."""
        station_id = link.station_id
        if state is None:
            # Reconnecting stations share one read (a reconnect storm is thousands at once).
            state = await self._catch_up_reads.get(station_id)
        if state is None or not state.registered:
            return  # first connection ever: nothing to catch up on
        profiles, open_tx = state.profiles, state.open_transactions
        held = self.links.held(station_id)
        if held is None or held.link is not link:
            return
        evses = [e["evse_id"] for e in state.evses if e.get("evse_id")] or [None]
        for evse_id in evses:
            trigger = TriggerMessage(station_id=station_id, message="StatusNotification", evse_id=evse_id)
            await self._resend(link, held.closed, trigger, "trigger-status")
        stale: list[Any] = []
        for row in sorted(profiles, key=lambda r: (_LAYER_ORDER.get(r.purpose, 9), r.stack_level, r.evse_id)):
            if row.purpose == ProfilePurpose.TX.value and row.transaction_id not in open_tx:
                stale.append(row)  # its transaction ended: the station dropped it, rightly
                continue
            await self._resend(link, held.closed, SetChargingProfile.model_validate(row.command), "profile")
        if stale:
            async with self.db.transaction() as session:
                for row in stale:
                    await session.execute(delivered_profiles.delete().where(*_key(row)))

    async def _read_catch_up(self, station_ids: list[str]) -> dict[str, _CatchUp]:
        """What the re-sync and first delivery pass of these stations need, four queries for the
        whole batch."""
        found = {station_id: _CatchUp() for station_id in station_ids}
        async with self.db.sessions() as session:
            for station_id in (
                await session.execute(
                    sa.select(station_commands.c.station_id)
                    .distinct()
                    .where(station_commands.c.status == PENDING, station_commands.c.station_id.in_(station_ids))
                )
            ).scalars():
                found[station_id].commands_waiting = True
            registered = []
            for row in (
                await session.execute(
                    sa.select(stations.c.id, stations.c.evses).where(
                        stations.c.id.in_(station_ids), stations.c.registered_at.is_not(None)
                    )
                )
            ).all():
                found[row.id].registered, found[row.id].evses = True, list(row.evses or [])
                registered.append(row.id)
            if not registered:
                return found
            for row in (
                await session.execute(
                    sa.select(delivered_profiles).where(delivered_profiles.c.station_id.in_(registered))
                )
            ).all():
                found[row.station_id].profiles.append(row)
            for row in (
                await session.execute(
                    sa.select(transactions.c.station_id, transactions.c.transaction_id).where(
                        transactions.c.station_id.in_(registered), transactions.c.ended_at.is_(None)
                    )
                )
            ).all():
                found[row.station_id].open_transactions.add(row.transaction_id)
        return found

    async def _resend(self, link: StationLink, closed: asyncio.Event, command: Any, what: str) -> None:
        if closed.is_set():
            return
        issued = StationCommandIssued(command_id=f"resync-{what}", station_id=link.station_id, command=command)
        # No command id: a re-sync is not a command anyone issued, so nothing is reported for it.
        outcome, detail = await self._execute(link, closed, issued, None)
        metrics.RESYNC_OUTCOMES.labels(kind=what, outcome=outcome.value).inc()
        level = logging.INFO if outcome in (CommandOutcome.ACCEPTED, CommandOutcome.NOT_SUPPORTED) else logging.WARNING
        log.log(
            level,
            "%s: re-sync %s %s -> %s%s",
            link.station_id,
            what,
            command.command,
            outcome.value,
            f": {detail}" if detail else "",
        )


def _key(row: Any) -> tuple[Any, ...]:
    c = delivered_profiles.c
    return (
        c.station_id == row.station_id,
        c.evse_id == row.evse_id,
        c.purpose == row.purpose,
        c.stack_level == row.stack_level,
    )


async def remember_profiles(
    session: AsyncSession, issued: StationCommandIssued, command_id: str, now: datetime
) -> None:
    """What the station holds after an accepted profile command (re-sent on reconnect)."""
    command = issued.command
    c = delivered_profiles.c
    if isinstance(command, SetChargingProfile):
        # A profile id is unique per station: the new one replaces any with that id (1.6 §5.16.2,
        # 2.0.1 K01.FR.05), and one per EVSE, purpose and stack level (K01.FR.06).
        await session.execute(
            delivered_profiles.delete().where(
                c.station_id == command.station_id,
                sa.or_(
                    c.profile_id == command.profile_id,
                    sa.and_(
                        c.evse_id == command.evse_id,
                        c.purpose == command.purpose.value,
                        c.stack_level == command.stack_level,
                    ),
                ),
            )
        )
        await session.execute(
            delivered_profiles.insert().values(
                station_id=command.station_id,
                evse_id=command.evse_id,
                purpose=command.purpose.value,
                stack_level=command.stack_level,
                profile_id=command.profile_id,
                transaction_id=command.transaction_id,
                command=command.model_dump(mode="json"),
                command_id=command_id,
                accepted_at=now,
            )
        )
    elif isinstance(command, ClearChargingProfile):
        where = [c.station_id == command.station_id]
        if command.profile_id is not None:
            where.append(c.profile_id == command.profile_id)  # 1.6 §5.4: the id alone decides
        else:
            if command.evse_id is not None:
                where.append(c.evse_id == command.evse_id)
            if command.purpose is not None:
                where.append(c.purpose == command.purpose.value)
            if command.stack_level is not None:
                where.append(c.stack_level == command.stack_level)
        await session.execute(delivered_profiles.delete().where(*where))
