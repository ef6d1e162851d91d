"""What the gateway does with what stations say, whatever their OCPP version.

The OCPP adapters (adapters/ocpp/) parse the wire and call these methods with plain values; each
method changes the gateway's tables and writes the resulting events to the outbox in one
transaction, then wakes the relay.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from chargeyard_contracts.base import OcppVersion
from chargeyard_contracts.stations import (
    EvseInfo,
    MeterValuesReported,
    ReadingContext,
    StationCapabilities,
    StationRegistered,
    StationStatusChanged,
    TransactionEventKind,
    TransactionEventReported,
)
from chargeyard_platform.batching import GroupCommit
from chargeyard_platform.bus import Outbox
from chargeyard_platform.clock import Clock
from chargeyard_platform.db import Database
from sqlalchemy.ext.asyncio import AsyncSession

from .. import metrics
from ..adapters.orm import reservations, stations, tokens, transactions
from ..config import Settings
from ..domain.meter import Sample, normalise
from .group_read import GroupRead

log = logging.getLogger(__name__)

MeterReading = tuple[datetime, Sequence[Sample]]
"""One OCPP MeterValue: the station's timestamp and its sampled values."""


@dataclass(frozen=True)
class BootInfo:
    vendor: str
    model: str
    serial_number: str | None = None
    firmware_version: str | None = None


@dataclass(frozen=True)
class KnownStation:
    id: str
    accepted: bool
    capabilities: StationCapabilities | None


_BOOT_COLUMNS = (
    stations.c.ocpp_version,
    stations.c.vendor,
    stations.c.model,
    stations.c.serial_number,
    stations.c.firmware_version,
)
"""What a BootNotification tells about a station (with `last_seen_at` and `updated_at`, what boot() writes)."""

_TOKENS = "tokens"
"""The one key of the local-list read: the whole token copy."""


@dataclass(eq=False)
class _Boot:
    station_id: str
    values: dict[str, Any]
    accepted: bool = False


@dataclass(eq=False)
class _Registration:
    station_id: str
    caps: StationCapabilities
    evses: tuple[EvseInfo, ...]
    error: Exception | None = None


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class Stations:
    def __init__(
        self, db: Database, outbox: Outbox, clock: Clock, settings: Settings, published: Callable[[], None]
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.clock = clock
        self.settings = settings
        self._published = published
        # Group commit (chargeyard_platform.batching): the events of many stations' messages in one
        # transaction. Each caller still returns only after its own events are committed, so a
        # station is answered only for what is durably in the outbox (OCPP-J: an unanswered call
        # is retried by the station; the consumers deduplicate by event id).
        self._events: GroupCommit[dict[str, Any]] = GroupCommit(
            self._write_events,
            window_s=settings.group_commit_window_s,
            max_items=settings.group_commit_max_items,
            name="outbox-group-commit",
        )
        self._seen: GroupCommit[str] = GroupCommit(
            self._write_seen,
            window_s=settings.group_commit_window_s,
            max_items=settings.group_commit_max_items,
            name="last-seen-group-commit",
        )
        self._seen_at: dict[str, float] = {}
        """Station -> time.monotonic() of its last committed last_seen_at."""
        self._remembered: set[tuple[str, int, int]] = set()
        """(station, EVSE, connector) known to be in the station's stored EVSEs; a registration,
        which rewrites them, forgets the station's."""

        self._boots: GroupCommit[_Boot] = GroupCommit(
            self._write_boots,
            window_s=settings.group_commit_window_s,
            max_items=settings.group_commit_max_items,
            name="boot-group-commit",
        )
        self._registrations: GroupCommit[_Registration] = GroupCommit(
            self._write_registrations,
            window_s=settings.group_commit_window_s,
            max_items=settings.group_commit_max_items,
            name="registration-group-commit",
        )
        self._local_lists: GroupRead[str, tuple[int, list[Any]]] = GroupRead(
            self._read_local_list,
            window_s=settings.group_commit_window_s,
            max_items=settings.group_commit_max_items,
            name="local-list-read",
        )
        # Every connecting station looks itself up: concurrent connects share one query.
        self._lookups: GroupRead[str, KnownStation] = GroupRead(
            self._read_known,
            window_s=settings.group_commit_window_s,
            max_items=settings.group_commit_max_items,
            name="station-lookup",
        )

    async def close(self) -> None:
        """Writes what callers are still waiting for; at shutdown, before the database closes."""
        await self._events.aclose()
        await self._seen.aclose()
        await self._lookups.aclose()
        await self._boots.aclose()
        await self._registrations.aclose()
        await self._local_lists.aclose()

    # --- identity -----------------------------------------------------------------------------

    async def lookup(self, station_id: str) -> KnownStation | None:
        return await self._lookups.get(station_id)

    async def _read_known(self, station_ids: list[str]) -> dict[str, KnownStation]:
        columns = (stations.c.id, stations.c.accepted, stations.c.capabilities)
        async with self.db.sessions() as session:
            rows = (await session.execute(sa.select(*columns).where(stations.c.id.in_(station_ids)))).all()
        return {
            row.id: KnownStation(
                row.id, row.accepted, StationCapabilities.model_validate(row.capabilities) if row.capabilities else None
            )
            for row in rows
        }

    async def boot(self, station_id: str, version: OcppVersion, info: BootInfo) -> bool:
        """True = Accepted. Unknown stations are registered only with auto_register_unknown.
        Boots of many stations share one transaction (a fleet booting after a power cut)."""
        now = self.clock.now()
        request = _Boot(
            station_id,
            {
                "ocpp_version": version.value,
                "vendor": info.vendor,
                "model": info.model,
                "serial_number": info.serial_number,
                "firmware_version": info.firmware_version,
                "last_seen_at": now,
                "updated_at": now,
            },
        )
        await self._boots.submit(request)
        return request.accepted

    async def _write_boots(self, requests: list[_Boot]) -> None:
        latest = {r.station_id: r for r in requests}  # booted twice in one batch: the last info wins
        now = self.clock.now()
        async with self.db.transaction() as session:
            rows = {
                row.id: row
                for row in (
                    await session.execute(
                        sa.select(stations.c.id, stations.c.accepted, *_BOOT_COLUMNS).where(
                            stations.c.id.in_(list(latest))
                        )
                    )
                ).all()
            }
            known: dict[str, bool] = {station_id: row.accepted for station_id, row in rows.items()}
            unknown = [station_id for station_id in latest if station_id not in known]
            if unknown and self.settings.auto_register_unknown:
                await session.execute(
                    stations.insert(),
                    [{"id": i, "accepted": True, "created_at": now, **latest[i].values} for i in unknown],
                )
            # A station that boots again with what it said last time (a fleet rebooting after a
            # power cut) changes only its last_seen_at: one UPDATE for all of them.
            same = sorted(
                i
                for i, r in latest.items()
                if i in rows and all(r.values[c.name] == getattr(rows[i], c.name) for c in _BOOT_COLUMNS)
            )
            updates = [{"b_id": i, **r.values} for i, r in latest.items() if i in known and i not in same]
            if updates:
                await session.execute(stations.update().where(stations.c.id == sa.bindparam("b_id")), updates)
            if same:
                await session.execute(stations.update().where(stations.c.id.in_(same)).values(last_seen_at=now))
        seen_at = time.monotonic()
        for station_id in known:
            self._seen_at[station_id] = seen_at  # the boot wrote last_seen_at
        for station_id in unknown:
            if self.settings.auto_register_unknown:
                log.info("station %s registered automatically (auto_register_unknown)", station_id)
            else:
                log.warning(
                    "BootNotification from unregistered station %s rejected (register it with PUT /v1/stations/%s)",
                    station_id,
                    station_id,
                )
        for request in requests:
            request.accepted = known.get(request.station_id, self.settings.auto_register_unknown)

    async def registered(self, station_id: str, caps: StationCapabilities, evses: tuple[EvseInfo, ...]) -> None:
        """Capabilities learned after an accepted boot: stored and published (in a group commit)."""
        request = _Registration(station_id, caps, evses)
        await self._registrations.submit(request)
        if request.error is not None:
            raise request.error

    async def _write_registrations(self, requests: list[_Registration]) -> None:
        latest = {r.station_id: r for r in requests}
        now = self.clock.now()
        async with self.db.transaction() as session:
            rows = {
                row.id: row
                for row in (await session.execute(sa.select(stations).where(stations.c.id.in_(list(latest))))).all()
            }
            updates: list[dict[str, Any]] = []
            events: list[StationRegistered] = []
            for station_id, request in latest.items():
                row = rows.get(station_id)
                if row is None:
                    request.error = LookupError(f"station {station_id} is not registered")
                    continue
                evses = request.evses
                if not evses and row.evses:
                    evses = tuple(EvseInfo.model_validate(e) for e in row.evses)
                evses = evses or (EvseInfo(evse_id=1),)
                updates.append(
                    {
                        "b_id": station_id,
                        "capabilities": request.caps.model_dump(mode="json"),
                        "evses": [e.model_dump(mode="json") for e in evses],
                        "registered_at": now,
                        "updated_at": now,
                    }
                )
                events.append(
                    StationRegistered(
                        station_id=station_id,
                        vendor=row.vendor or "",
                        model=row.model or "",
                        serial_number=row.serial_number,
                        firmware_version=row.firmware_version,
                        capabilities=request.caps,
                        evses=evses,
                        registered_at=now,
                    )
                )
            if updates:
                await session.execute(stations.update().where(stations.c.id == sa.bindparam("b_id")), updates)
                await self.outbox.add_many(session, events)
        registered = {u["b_id"] for u in updates}
        if registered:
            self._remembered = {where for where in self._remembered if where[0] not in registered}
        for request in requests:  # an earlier request of a station registered twice in the batch
            request.error = latest[request.station_id].error
        self._published()

    async def seen(self, station_id: str) -> None:
        now = time.monotonic()
        last = self._seen_at.get(station_id)
        if last is not None and now - last < self.settings.last_seen_resolution_s:
            # Written moments ago (a reconnect: the connect, then the first Heartbeat); last_seen_at
            # is for people reading the API, and the silence watchdog keeps its own time in memory.
            return
        await self._seen.submit(station_id)
        self._seen_at[station_id] = now

    async def _write_seen(self, station_ids: list[str]) -> None:
        now = self.clock.now()
        await self.db.write_batch(
            stations.update().where(stations.c.id.in_(sorted(set(station_ids)))).values(last_seen_at=now)
        )

    # --- status, meter values ------------------------------------------------------------------

    async def status_changed(self, event: StationStatusChanged) -> None:
        where = (event.station_id, event.evse_id, event.connector_id)
        if event.evse_id < 1 or where in self._remembered:
            # Nothing to add to the station's EVSEs (station-wide, or a connector stored already):
            # the event joins the group commit. A reconnect storm's re-sync makes every station
            # report its status at once.
            await self.publish([event])
            return
        async with self.db.transaction() as session:
            await self.outbox.add(session, event)
            stored = await self._remember_evse(session, event.station_id, event.evse_id, event.connector_id)
        if stored:
            self._remembered.add(where)
        self._published()

    async def _remember_evse(self, session: AsyncSession, station_id: str, evse_id: int, connector_id: int) -> bool:
        """False when the station has no row (nothing stored)."""
        row = (await session.execute(sa.select(stations.c.evses).where(stations.c.id == station_id))).first()
        if row is None:
            return False
        known = {e["evse_id"]: dict(e) for e in (row.evses or [])}
        entry = known.setdefault(evse_id, {"evse_id": evse_id, "connector_ids": [], "max_power_w": None})
        connector_ids = sorted(set(entry["connector_ids"]) | ({connector_id} if connector_id > 0 else set())) or [1]
        if connector_ids == entry["connector_ids"]:
            return True
        entry["connector_ids"] = connector_ids
        await session.execute(
            stations.update().where(stations.c.id == station_id).values(evses=[known[k] for k in sorted(known)])
        )
        return True

    def reports(
        self,
        station_id: str,
        evse_id: int,
        connector_id: int,
        transaction_id: str | None,
        readings: Sequence[MeterReading],
    ) -> list[MeterValuesReported]:
        received = self.clock.now()
        out: list[MeterValuesReported] = []
        if evse_id < 1:
            # The contract's MeterValuesReported needs an EVSE; station-wide (connector 0) meters
            # such as a main meter are left out until the contract has a place for them.
            if readings:
                metrics.DROPPED_MESSAGES.labels(reason="station-level-meter").inc(len(readings))
                log.info("%s: %d station-level meter values not published (evse 0)", station_id, len(readings))
            return out
        for timestamp, samples in readings:
            result = normalise(
                list(samples),
                station_id=station_id,
                evse_id=evse_id,
                connector_id=connector_id,
                transaction_id=transaction_id,
                station_timestamp=timestamp,
                received_at=received,
                clock_skew_threshold_s=self.settings.clock_skew_threshold_s,
            )
            for reason in result.skipped:
                metrics.DROPPED_MESSAGES.labels(reason="sampled-value").inc()
                log.warning("%s: sampled value left out: %s", station_id, reason)
            out.append(result.report)
        return out

    async def publish(self, events: Sequence[Any]) -> None:
        """Returns once the events are committed to the outbox (in a group commit)."""
        await self._events.submit_many(self.outbox.rows(events))

    async def _write_events(self, rows: list[dict[str, Any]]) -> None:
        await self.outbox.write_rows(self.db, rows)
        self._published()

    # --- authorization -------------------------------------------------------------------------

    async def authorize(self, id_token: str) -> str:
        """Accepted / Blocked / Expired / Invalid, from the table fed by tokens.updated."""
        async with self.db.sessions() as session:
            row = (await session.execute(sa.select(tokens).where(tokens.c.id_token == id_token))).first()
        if row is None:
            return "Accepted" if self.settings.accept_unknown_tokens else "Invalid"
        expires = aware(row.expires_at)
        if row.status == "Accepted" and expires is not None and expires <= self.clock.now():
            return "Expired"
        return str(row.status)

    # --- transactions --------------------------------------------------------------------------

    def _late(self, station_timestamp: datetime) -> bool:
        # OCPP 1.6 has no offline flag: a start reported long after it happened was queued offline.
        return (self.clock.now() - station_timestamp) > timedelta(seconds=self.settings.clock_skew_threshold_s)

    async def start_v16(
        self, station_id: str, connector_id: int, id_tag: str, meter_start_wh: int, timestamp: datetime
    ) -> int:
        """Allocates the integer transactionId from the transactions table (unique across
        instances) and maps it to a UUID. A repeated StartTransaction (the station did not get
        our answer and retries, OCPP 1.6 §4.8) gets the same id and is published once."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            existing = (
                await session.execute(
                    sa.select(transactions.c.id).where(
                        transactions.c.station_id == station_id,
                        transactions.c.connector_id == connector_id,
                        transactions.c.evse_id == connector_id,
                        transactions.c.started_at == timestamp,
                        transactions.c.id_token == id_tag,
                    )
                )
            ).first()
            if existing is not None:
                return int(existing.id)
            tx_id = str(uuid.uuid4())
            offline = self._late(timestamp)
            result = await session.execute(
                transactions.insert()
                .values(
                    station_id=station_id,
                    transaction_id=tx_id,
                    ocpp_version=OcppVersion.V16.value,
                    evse_id=connector_id,
                    connector_id=connector_id,
                    id_token=id_tag,
                    meter_start_wh=meter_start_wh,
                    started_at=timestamp,
                    offline=offline,
                    created_at=now,
                )
                .returning(transactions.c.id)
            )
            ocpp_id = int(result.scalar_one())
            await self.outbox.add(
                session,
                TransactionEventReported(
                    station_id=station_id,
                    evse_id=connector_id,
                    connector_id=1,
                    transaction_id=tx_id,
                    kind=TransactionEventKind.STARTED,
                    id_token=id_tag,
                    meter_wh=max(0, meter_start_wh),
                    offline=offline,
                    station_timestamp=timestamp,
                    received_at=now,
                ),
            )
        self._published()
        return ocpp_id

    async def v16_transaction(self, station_id: str, ocpp_id: int) -> tuple[str, int] | None:
        """The string transaction id and EVSE of a 1.6 integer transactionId."""
        async with self.db.sessions() as session:
            row = (
                await session.execute(
                    sa.select(transactions.c.transaction_id, transactions.c.evse_id).where(
                        transactions.c.id == ocpp_id, transactions.c.station_id == station_id
                    )
                )
            ).first()
        return (row.transaction_id, row.evse_id) if row else None

    async def v16_ocpp_id(self, station_id: str, transaction_id: str) -> int | None:
        async with self.db.sessions() as session:
            row = (
                await session.execute(
                    sa.select(transactions.c.id).where(
                        transactions.c.transaction_id == transaction_id, transactions.c.station_id == station_id
                    )
                )
            ).first()
        return int(row.id) if row else None

    async def stop_v16(
        self,
        station_id: str,
        ocpp_id: int,
        meter_stop_wh: int,
        timestamp: datetime,
        reason: str | None,
        id_tag: str | None,
        readings: Sequence[MeterReading],
    ) -> bool:
        """False when the transactionId is not ours (the station must still get its answer)."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            row = (
                await session.execute(
                    sa.select(transactions).where(transactions.c.id == ocpp_id, transactions.c.station_id == station_id)
                )
            ).first()
            if row is None:
                metrics.DROPPED_MESSAGES.labels(reason="unknown-transaction").inc()
                log.warning("%s: StopTransaction for unknown transactionId %s not published", station_id, ocpp_id)
                return False
            events: list[Any] = self.reports(station_id, row.evse_id, 1, row.transaction_id, readings)
            if row.ended_at is None:
                await session.execute(
                    transactions.update()
                    .where(transactions.c.id == ocpp_id)
                    .values(ended_at=timestamp, meter_stop_wh=meter_stop_wh)
                )
                events.append(
                    TransactionEventReported(
                        station_id=station_id,
                        evse_id=row.evse_id,
                        connector_id=1,
                        transaction_id=row.transaction_id,
                        kind=TransactionEventKind.ENDED,
                        id_token=id_tag or row.id_token,
                        meter_wh=max(0, meter_stop_wh),
                        reason=reason,
                        offline=self._late(timestamp),
                        station_timestamp=timestamp,
                        received_at=now,
                    )
                )
            for event in events:
                await self.outbox.add(session, event)
        self._published()
        return True

    async def station_transaction_id(self, station_id: str, transaction_id: str) -> str | None:
        """The 2.0.1 station's own transactionId for a platform id (RequestStopTransaction, TxProfile)."""
        async with self.db.sessions() as session:
            row = (
                await session.execute(
                    sa.select(transactions.c.station_transaction_id).where(
                        transactions.c.transaction_id == transaction_id, transactions.c.station_id == station_id
                    )
                )
            ).first()
        return row.station_transaction_id if row else None

    async def platform_transaction_id(self, station_id: str, station_transaction_id: str) -> str | None:
        async with self.db.sessions() as session:
            row = (
                await session.execute(
                    sa.select(transactions.c.transaction_id).where(
                        transactions.c.station_id == station_id,
                        transactions.c.station_transaction_id == station_transaction_id,
                    )
                )
            ).first()
        return row.transaction_id if row else None

    async def active_transaction_id(self, station_id: str, evse_id: int) -> str | None:
        """The newest unfinished transaction on an EVSE (NotifyEVChargingNeeds names none)."""
        async with self.db.sessions() as session:
            row = (
                await session.execute(
                    sa.select(transactions.c.transaction_id)
                    .where(
                        transactions.c.station_id == station_id,
                        transactions.c.evse_id == evse_id,
                        transactions.c.ended_at.is_(None),
                    )
                    .order_by(transactions.c.started_at.desc())
                    .limit(1)
                )
            ).first()
        return row.transaction_id if row else None

    # --- reservations, local lists --------------------------------------------------------------

    async def reservation_number(self, station_id: str, reservation_id: str) -> int:
        """The OCPP integer reservationId for a platform reservation: the same one every time, so
        a CancelReservation finds what ReserveNow made."""
        async with self.db.transaction() as session:
            query = sa.select(reservations.c.id).where(
                reservations.c.station_id == station_id, reservations.c.reservation_id == reservation_id
            )
            row = (await session.execute(query)).first()
            if row is not None:
                return int(row.id)
            result = await session.execute(
                reservations.insert()
                .values(
                    station_id=station_id,
                    reservation_id=reservation_id,
                    created_at=self.clock.now(),
                )
                .returning(reservations.c.id)
            )
            return int(result.scalar_one())

    async def reservation_of(self, station_id: str, number: int) -> str | None:
        async with self.db.sessions() as session:
            row = (
                await session.execute(
                    sa.select(reservations.c.reservation_id).where(
                        reservations.c.station_id == station_id, reservations.c.id == number
                    )
                )
            ).first()
        return row.reservation_id if row else None

    async def local_list(self) -> tuple[int, list[Any]]:
        """The gateway's copy of tokens.updated as a local authorization list: (version, rows).
        Every booting station asks; stations booting together share one read."""
        found = await self._local_lists.get(_TOKENS)
        return found if found is not None else (0, [])  # _read_local_list always answers _TOKENS

    async def _read_local_list(self, _: list[str]) -> dict[str, tuple[int, list[Any]]]:
        async with self.db.sessions() as session:
            rows = list((await session.execute(sa.select(tokens).order_by(tokens.c.id_token))).all())
        return {_TOKENS: (max((int(r.version) for r in rows), default=0), rows)}

    async def transaction_event(
        self,
        station_id: str,
        version: OcppVersion,
        *,
        kind: TransactionEventKind,
        transaction_id: str,
        timestamp: datetime,
        evse_id: int | None,
        connector_id: int | None,
        id_token: str | None,
        offline: bool,
        reason: str | None,
        readings: Sequence[MeterReading],
    ) -> None:
        """OCPP 2.0.1 E01-E15 TransactionEvent. `transaction_id` is the station's own id, unique only
        on that station (E01); the platform's id is a UUID mapped to it here, as for 1.6."""
        now = self.clock.now()
        station_tx = transaction_id
        async with self.db.transaction() as session:
            row = (
                await session.execute(
                    sa.select(transactions).where(
                        transactions.c.station_id == station_id, transactions.c.station_transaction_id == station_tx
                    )
                )
            ).first()
            if row is None:
                transaction_id = str(uuid.uuid4())
                evse, connector = evse_id or 1, connector_id or 1
                await session.execute(
                    transactions.insert().values(
                        station_id=station_id,
                        transaction_id=transaction_id,
                        station_transaction_id=station_tx,
                        ocpp_version=version.value,
                        evse_id=evse,
                        connector_id=connector,
                        id_token=id_token,
                        started_at=timestamp,
                        offline=offline,
                        created_at=now,
                    )
                )
            else:
                transaction_id = row.transaction_id
                evse, connector = evse_id or row.evse_id, connector_id or row.connector_id
                id_token = id_token or row.id_token
            reports = self.reports(station_id, evse, connector, transaction_id, readings)
            registers = [
                r.energy_wh for r in reports if r.energy_wh is not None and r.energy_context == ReadingContext.REGISTER
            ]
            meter_wh = registers[-1] if registers else None
            if kind == TransactionEventKind.STARTED and row is not None:
                kind = TransactionEventKind.UPDATED  # a repeated Started (station retry) is not a new start
            if kind == TransactionEventKind.ENDED:
                await session.execute(
                    transactions.update()
                    .where(
                        transactions.c.station_id == station_id,
                        transactions.c.station_transaction_id == station_tx,
                    )
                    .values(ended_at=timestamp, meter_stop_wh=meter_wh)
                )
            events: list[Any] = [
                *reports,
                TransactionEventReported(
                    station_id=station_id,
                    evse_id=evse,
                    connector_id=connector,
                    transaction_id=transaction_id,
                    kind=kind,
                    id_token=id_token,
                    meter_wh=meter_wh,
                    reason=reason,
                    offline=offline,
                    station_timestamp=timestamp,
                    received_at=now,
                ),
            ]
            for event in events:
                await self.outbox.add(session, event)
        self._published()
