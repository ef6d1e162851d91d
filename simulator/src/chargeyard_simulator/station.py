"""A simulated charging station: EVSEs, cars, transactions, profiles and its OCPP connection.

The station decides *what* happens and *when*; the version adapters (v16.py, v201.py) decide how
it looks on the wire. Outgoing CALLs go through one FIFO outbox so they keep their order:
- transaction-related messages (StartTransaction/StopTransaction/transaction MeterValues in 1.6,
  TransactionEvent in 2.0.1) are queued while offline and delivered after reconnecting, with the
  timestamps of when they happened (OCPP 1.6 "transaction-related messages", 2.0.1
  TransactionEvent with offline=true);
- everything else (StatusNotification, Heartbeat, triggered messages) is dropped while offline;
  the station re-sends every connector's status after (re)connecting instead.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from ocpp.exceptions import OCPPError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from .car import NO_DRAW, Car, EvseHardware, compute_draw, phases_in_use, scale_draw, watts_for
from .clock import Clock, RealClock
from .config import StationConfig
from .model import (
    BootReason,
    ChargePointAdapter,
    ChargingState,
    Decision,
    Evse,
    EvseStatus,
    MeterSample,
    Outcome,
    PendingStart,
    Reservation,
    SampleContext,
    StartTrigger,
    StopReason,
    Transaction,
    UpdateTrigger,
)
from .profiles import (
    ChargingProfile,
    CompositePeriod,
    Limit,
    ProfilePurpose,
    ProfileStore,
    RateUnit,
    TxContext,
    composite_schedule,
    describe,
    validate_profile_shape,
)

LOG = logging.getLogger("chargeyard_simulator.station")

TRANSACTION_MESSAGE_ATTEMPTS = 3
"""Like OCPP 1.6 TransactionMessageAttempts: give up on a transaction message after this many
unanswered attempts on a live connection."""

DEFAULT_CONNECTION_TIMEOUT_S = 60
"""OCPP 1.6 ConnectionTimeOut / 2.0.1 EVConnectionTimeOut: how long a RemoteStart waits for a car."""

LIMIT_LOG_THRESHOLD_W = 1.0
FIRMWARE_STEPS = ("Downloading", "Downloaded", "Installing", "Installed")


@dataclass
class StationSettings:
    """Settings the central system can change at run time (ChangeConfiguration / SetVariables)."""

    meter_interval_s: float
    heartbeat_interval_s: int
    aligned_interval_s: float = 0.0
    connection_timeout_s: int = DEFAULT_CONNECTION_TIMEOUT_S
    phase_rotation: str = "RST"
    extra: dict[str, str] = field(default_factory=dict)
    """Other writable keys, stored verbatim so GetConfiguration/GetVariables return them."""


@dataclass(frozen=True)
class CompositeResult:
    start: datetime
    duration_s: int
    unit: RateUnit
    periods: list[CompositePeriod]


@dataclass
class _Outgoing:
    description: str
    send: Callable[[ChargePointAdapter], Awaitable[None]]
    persistent: bool
    attempts: int = 0


class _SubprotocolMismatch(Exception):
    pass


class Station:
    """One simulated charging station.

    Durations that describe station behaviour (meter interval, late profiles, offline periods,
    reservations) are simulated seconds on ``clock``; network timers (heartbeat, boot retry,
    reconnect backoff) are real seconds.
    """

    def __init__(self, config: StationConfig, clock: Clock | None = None) -> None:
        from .v16 import V16ChargePoint
        from .v201 import V201ChargePoint

        self.config = config
        self.clock: Clock = clock if clock is not None else RealClock()
        self.id = config.station_id
        self._adapter_cls: type[ChargePointAdapter] = (
            V16ChargePoint if config.ocpp_version == "1.6" else V201ChargePoint
        )
        self._skew = timedelta(seconds=config.misbehaviour.clock_skew_s)
        self.settings = StationSettings(
            meter_interval_s=config.meter_interval_s,
            aligned_interval_s=config.aligned_interval_s,
            heartbeat_interval_s=config.heartbeat_interval_s,
            phase_rotation=config.phase_rotation,
        )
        self.evses: dict[int, Evse] = {
            i: Evse(i, EvseHardware(max_power_w=e.max_power_w, phases=e.phases))
            for i, e in enumerate(config.evses, start=1)
        }
        self.profiles = ProfileStore()
        self.local_list_version = 0
        self.local_list: dict[str, dict[str, Any]] = {}

        self._outbox: collections.deque[_Outgoing] = collections.deque()
        self._outbox_event = asyncio.Event()
        self._adapter: ChargePointAdapter | None = None
        self._online_since: datetime | None = None
        self._connected = asyncio.Event()
        self._booted = asyncio.Event()
        self._boot_accepted = False
        self._boot_reason = BootReason.POWER_UP
        self._drop = asyncio.Event()
        self._abort_connection = False
        self._offline_until: datetime | None = None
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._running = False
        self._reset_scheduled: StopReason | None = None
        self._reboot_requested = False
        self._background: set[asyncio.Task[None]] = set()
        self._last_update = self.now()
        self._heartbeat_wakeup = asyncio.Event()

    # ------------------------------------------------------------------ time & logging

    def now(self) -> datetime:
        """The station's own clock: simulated time plus the configured skew."""
        return self.clock.now() + self._skew

    def log(self, level: int, msg: str, *args: object) -> None:
        LOG.log(level, f"[{self.id}] {msg}", *args)

    @property
    def ocpp_version(self) -> str:
        return self.config.ocpp_version

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def boot_accepted(self) -> bool:
        return self._boot_accepted

    async def wait_connected(self) -> None:
        """Wait until the station is connected and its BootNotification was accepted
        (wrap in asyncio.wait_for / asyncio.timeout to bound it)."""
        await self._connected.wait()

    # ------------------------------------------------------------------ public API (tests, site)

    def evse(self, evse_id: int) -> Evse:
        try:
            return self.evses[evse_id]
        except KeyError:
            raise ValueError(f"{self.id} has no EVSE {evse_id}") from None

    def plug_in(self, evse_id: int, car: Car, id_tag: str | None = None) -> None:
        """Plug *car* into an EVSE. With an id tag (or a pending RemoteStart) a transaction starts;
        without, the car waits in Preparing for a RemoteStart."""
        evse = self.evse(evse_id)
        if evse.car is not None:
            raise ValueError(f"{self.id}/{evse_id} already has a car plugged in")
        self._update()
        evse.car = car
        evse.session_done = False
        self.log(
            logging.INFO,
            "EVSE %d: car %s plugged in (%.0f Wh battery, SoC %.0f%% -> %.0f%%, %.0f W, %d phase%s)",
            evse_id,
            car.name or "?",
            car.battery_wh,
            car.soc_percent,
            car.target_soc,
            car.max_power_w,
            car.phases,
            "" if car.phases == 1 else "s",
        )
        self._refresh_statuses()
        pending = evse.pending_start
        if pending is not None:
            evse.pending_start = None
            self._try_start(
                evse,
                pending.id_tag,
                StartTrigger.REMOTE_START,
                pending.id_token_type,
                pending.remote_start_id,
                pending.profile,
            )
        elif id_tag is not None:
            self._try_start(evse, id_tag, StartTrigger.PLUGGED_IN)
        else:
            self.log(logging.INFO, "EVSE %d: waiting for authorisation (no id tag)", evse_id)

    def present_id_tag(self, evse_id: int, id_tag: str) -> bool:
        """A driver presents an id tag at an EVSE whose car is already plugged in."""
        evse = self.evse(evse_id)
        if evse.car is None or evse.transaction is not None:
            return False
        self._update()
        return self._try_start(evse, id_tag, StartTrigger.AUTHORIZED)

    def unplug(self, evse_id: int) -> Car | None:
        """Unplug the car; a running transaction ends with reason EVDisconnected."""
        evse = self.evse(evse_id)
        self._update()
        if evse.transaction is not None:
            self._stop_transaction(evse, StopReason.EV_DISCONNECTED)
        car, evse.car = evse.car, None
        evse.session_done = False
        if car is not None:
            self.log(logging.INFO, "EVSE %d: car %s unplugged at SoC %.1f%%", evse_id, car.name or "?", car.soc_percent)
        self._recompute()
        return car

    def stop_transaction(self, evse_id: int, reason: StopReason = StopReason.LOCAL) -> bool:
        """End the transaction on an EVSE locally (driver stops at the station)."""
        evse = self.evse(evse_id)
        self._update()
        if evse.transaction is None:
            return False
        self._stop_transaction(evse, reason)
        self._recompute()
        return True

    def effective_limit_w(self, evse_id: int) -> float:
        """The limit a compliant station applies now: min(profiles, EVSE rating) in W.

        With misbehaviour ignore_profiles the car draws more than this; that is the point.
        """
        evse = self.evse(evse_id)
        self._update()
        phases = phases_in_use(evse.car, evse.hardware)
        hardware_w = watts_for(evse.hardware.max_current_a, phases)
        limit = self._profile_limit(evse, self.now())
        return hardware_w if limit is None else min(limit.watts, hardware_w)

    def power_w(self, evse_id: int) -> float:
        self._update()
        return self.evse(evse_id).draw.total_w

    def energy_wh(self, evse_id: int) -> float:
        """Cumulative energy register of the EVSE (Energy.Active.Import.Register)."""
        self._update()
        return self.evse(evse_id).energy_wh

    def status(self, evse_id: int) -> EvseStatus:
        self._update()
        return self.evse(evse_id).status

    def transaction(self, evse_id: int) -> Transaction | None:
        return self.evse(evse_id).transaction

    def car(self, evse_id: int) -> Car | None:
        return self.evse(evse_id).car

    def installed_profiles(self, evse_id: int) -> list[ChargingProfile]:
        """Profiles installed on this EVSE (0 = station-wide), excluding late ones not applied yet."""
        if evse_id != 0:
            self.evse(evse_id)
        return self.profiles.profiles(evse_id)

    def set_meter_interval(self, seconds: float) -> None:
        """Change the sample interval (simulated seconds); 0 disables periodic meter values."""
        if seconds < 0:
            raise ValueError("meter interval must be >= 0")
        self.settings.meter_interval_s = seconds
        self.log(logging.INFO, "meter interval now %gs", seconds)

    def set_aligned_interval(self, seconds: float) -> None:
        """Clock-aligned meter values for EVSEs without a transaction (simulated seconds); 0 = off."""
        if seconds < 0:
            raise ValueError("aligned interval must be >= 0")
        self.settings.aligned_interval_s = seconds
        self.log(logging.INFO, "clock-aligned meter interval now %gs", seconds)

    def set_heartbeat_interval(self, seconds: int) -> None:
        if seconds <= 0:
            raise ValueError("heartbeat interval must be > 0")
        self.settings.heartbeat_interval_s = seconds
        self._heartbeat_wakeup.set()

    def go_offline(self, seconds: float) -> None:
        """Drop the websocket abruptly and stay offline for *seconds* (simulated). Charging goes on;
        transaction messages queue up and are delivered after reconnecting."""
        until = self.clock.now() + timedelta(seconds=seconds)
        if self._offline_until is None or until > self._offline_until:
            self._offline_until = until
        self._abort_connection = True
        self._drop.set()
        self.log(logging.WARNING, "going offline for %gs (simulated network loss)", seconds)

    @property
    def offline_requested(self) -> bool:
        return self._offline_until is not None and self.clock.now() < self._offline_until

    def queued_messages(self) -> list[str]:
        """Descriptions of the CALLs waiting in the outbox (for tests and diagnostics)."""
        return [item.description for item in self._outbox]

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        """Connect, boot and simulate until :meth:`stop` is called. Reconnects with backoff."""
        if self._running:
            raise RuntimeError(f"station {self.id} is already running")
        if self._stop_event.is_set():
            # stop() before run() (e.g. SIGINT while a site is starting): nothing to do.
            self.log(logging.INFO, "stopped before it started")
            return
        self._running = True
        self._last_update = self.now()
        self.log(
            logging.INFO,
            "starting: OCPP %s, %d EVSE(s) %s, %s%s",
            self.config.ocpp_version,
            len(self.evses),
            "/".join(f"{e.hardware.max_power_w / 1000:g}kW" for e in self.evses.values()),
            self.config.endpoint(),
            f", misbehaviour: {', '.join(self.config.misbehaviour.labels())}" if self.config.misbehaviour.any else "",
        )
        connection = asyncio.create_task(self._connection_loop(), name=f"{self.id}-connection")
        loops = [
            asyncio.create_task(self._tick_loop(), name=f"{self.id}-tick"),
            asyncio.create_task(self._meter_loop(), name=f"{self.id}-meter"),
            asyncio.create_task(self._aligned_loop(), name=f"{self.id}-aligned"),
        ]
        if self.config.misbehaviour.disconnect_every_s:
            loops.append(asyncio.create_task(self._auto_disconnect_loop(), name=f"{self.id}-flaky"))
        stopper = asyncio.create_task(self._stop_event.wait(), name=f"{self.id}-stop")
        try:
            done, _ = await asyncio.wait([connection, stopper, *loops], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopper and not task.cancelled() and task.exception() is not None:
                    self.log(logging.ERROR, "task %s crashed: %r", task.get_name(), task.exception())
                    raise task.exception()  # type: ignore[misc]
        finally:
            self._stopping = True
            self._drop.set()
            for task in [*loops, stopper, *self._background]:
                task.cancel()
            try:
                # Give the connection a moment to close the websocket cleanly.
                await asyncio.wait_for(asyncio.shield(connection), timeout=3.0)
            except (TimeoutError, asyncio.CancelledError):
                connection.cancel()
            except Exception as exc:  # already reported above when it crashed
                self.log(logging.DEBUG, "connection task ended with %r", exc)
            await asyncio.gather(connection, stopper, *loops, *self._background, return_exceptions=True)
            self._running = False
            self._connected.clear()
            self.log(logging.INFO, "stopped")

    def stop(self) -> None:
        """Ask :meth:`run` to finish (closes the websocket cleanly). A stopped station stays stopped."""
        self._stopping = True
        self._drop.set()
        self._stop_event.set()

    async def _connection_loop(self) -> None:
        backoff = self.config.reconnect_min_s
        url = self.config.endpoint()
        while not self._stopping:
            await self._wait_until_online()
            if self._stopping:
                return
            self._drop.clear()
            self._abort_connection = False
            booted_in_session = False
            try:
                async with connect(
                    url,
                    subprotocols=[self._adapter_cls.subprotocol],  # type: ignore[list-item]
                    open_timeout=10,
                    close_timeout=2,
                ) as ws:
                    if ws.subprotocol != self._adapter_cls.subprotocol:
                        raise _SubprotocolMismatch(
                            f"central system did not accept subprotocol {self._adapter_cls.subprotocol}"
                            f" (got {ws.subprotocol!r})"
                        )
                    self.log(logging.INFO, "websocket open (%s)", ws.subprotocol)
                    booted_in_session = await self._session(ws)
            except (
                TimeoutError,
                OSError,
                InvalidHandshake,
                InvalidURI,
                ConnectionClosed,
                OCPPError,
                _SubprotocolMismatch,
            ) as exc:
                if not self._stopping:
                    self.log(logging.WARNING, "connection to %s failed/lost: %s", url, _describe_exc(exc))
            finally:
                self._on_disconnected()
            if self._stopping:
                return
            if self._reboot_requested:
                self._reboot_requested = False
                self.log(logging.INFO, "rebooting")
                backoff = self.config.reconnect_min_s
                continue
            if self.offline_requested:
                continue
            if booted_in_session:
                backoff = self.config.reconnect_min_s
            delay = backoff * random.uniform(0.8, 1.2)
            self.log(logging.INFO, "reconnecting in %.1fs", delay)
            try:
                await asyncio.wait_for(self._stop_event.wait(), timeout=delay)
            except TimeoutError:
                pass
            backoff = min(backoff * 2, self.config.reconnect_max_s)

    async def _wait_until_online(self) -> None:
        while self.offline_requested and not self._stopping:
            assert self._offline_until is not None
            remaining = (self._offline_until - self.clock.now()).total_seconds()
            sleeper = asyncio.create_task(self.clock.sleep(remaining))
            stopper = asyncio.create_task(self._stop_event.wait())
            await asyncio.wait([sleeper, stopper], return_when=asyncio.FIRST_COMPLETED)
            sleeper.cancel()
            stopper.cancel()
        if self._offline_until is not None and not self.offline_requested:
            self._offline_until = None
            self.log(logging.INFO, "offline period over, reconnecting")

    async def _session(self, ws: ClientConnection) -> bool:
        """Run one websocket session; returns whether the boot was accepted in it."""
        adapter = self._adapter_cls(self, ws)
        reader = asyncio.create_task(adapter.start(), name=f"{self.id}-reader")
        online = asyncio.create_task(self._online(adapter), name=f"{self.id}-online")
        drop = asyncio.create_task(self._drop.wait(), name=f"{self.id}-drop")
        tasks = [reader, online, drop]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._adapter = None
            self._connected.clear()
        if self._abort_connection:
            # Simulated network loss: no closing handshake, the central system sees 1006.
            ws.transport.abort()
            return self._boot_accepted
        for task in done:
            if task is not drop and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        return self._boot_accepted

    async def _online(self, adapter: ChargePointAdapter) -> None:
        fresh_boot = not self._boot_accepted
        if fresh_boot:
            await self._boot(adapter)
        self._adapter = adapter
        self._online_since = self.now()
        self._connected.set()
        self.log(logging.INFO, "online, %d queued message(s)", len(self._outbox))
        # OCPP 1.6 §4.9 / 2.0.1 B01: report every connector after boot, before anything else.
        # After a reconnect the central system may have missed changes, so report them again, but
        # after the queued transaction messages, which are older (delivered in chronological order).
        self._enqueue_all_statuses(front=fresh_boot)
        heartbeat = asyncio.create_task(self._heartbeat_loop(), name=f"{self.id}-heartbeat")
        try:
            await self._send_loop(adapter)
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)

    async def _boot(self, adapter: ChargePointAdapter) -> None:
        while True:
            result = await adapter.send_boot(self._boot_reason)
            if result.status == "Accepted":
                self._boot_accepted = True
                self._boot_reason = BootReason.POWER_UP
                if result.interval > 0:
                    self.settings.heartbeat_interval_s = result.interval
                self._booted.set()
                self.log(logging.INFO, "BootNotification accepted (heartbeat %ss)", self.settings.heartbeat_interval_s)
                return
            # OCPP 1.6 §4.2 / 2.0.1 B02/B03: while Pending or Rejected, retry after `interval`.
            wait = result.interval if result.interval > 0 else self.config.boot_retry_s
            self.log(logging.WARNING, "BootNotification %s, retrying in %ss", result.status, wait)
            await asyncio.sleep(wait)

    def _on_disconnected(self) -> None:
        was_online = self._online_since is not None
        self._online_since = None
        self._adapter = None
        self._connected.clear()
        dropped = [item for item in self._outbox if not item.persistent]
        if dropped:
            self._outbox = collections.deque(item for item in self._outbox if item.persistent)
            self.log(logging.DEBUG, "dropped %d non-transaction message(s) on disconnect", len(dropped))
        if was_online and not self._stopping:
            level = logging.INFO if self._reboot_requested else logging.WARNING
            self.log(level, "disconnected, %d transaction message(s) queued", len(self._outbox))

    # ------------------------------------------------------------------ outbox

    def _enqueue(
        self,
        description: str,
        send: Callable[[ChargePointAdapter], Awaitable[None]],
        *,
        persistent: bool,
        front: bool = False,
    ) -> None:
        if not persistent and not self.connected:
            self.log(logging.DEBUG, "offline, not sending %s", description)
            return
        item = _Outgoing(description, send, persistent)
        if front:
            self._outbox.appendleft(item)
        else:
            self._outbox.append(item)
        self._outbox_event.set()

    async def _send_loop(self, adapter: ChargePointAdapter) -> None:
        while not self._drop.is_set():
            if not self._outbox:
                self._outbox_event.clear()
                await self._outbox_event.wait()
                continue
            item = self._outbox[0]
            await adapter.wait_inbound_idle()
            if self._drop.is_set():
                return
            try:
                await item.send(adapter)
            except TimeoutError:
                item.attempts += 1
                if item.attempts < TRANSACTION_MESSAGE_ATTEMPTS and item.persistent:
                    self.log(logging.WARNING, "no answer to %s (attempt %d), retrying", item.description, item.attempts)
                    continue
                self.log(
                    logging.ERROR, "no answer to %s after %d attempt(s), giving up", item.description, item.attempts
                )
            except OCPPError as exc:
                self.log(logging.ERROR, "central system answered %s with CallError: %r", item.description, exc)
            except ConnectionClosed:
                raise
            except Exception:
                LOG.exception("[%s] failed to send %s", self.id, item.description)
            if self._outbox and self._outbox[0] is item:
                self._outbox.popleft()

    async def _heartbeat_loop(self) -> None:
        while True:
            self._heartbeat_wakeup.clear()
            try:
                await asyncio.wait_for(self._heartbeat_wakeup.wait(), timeout=self.settings.heartbeat_interval_s)
                continue  # interval changed: restart the wait with the new value
            except TimeoutError:
                pass
            self._enqueue("Heartbeat", lambda a: a.send_heartbeat(), persistent=False)

    def _enqueue_all_statuses(self, front: bool = False) -> None:
        items = list(self.evses.values())
        if front:
            items.reverse()
        for evse in items:
            self._enqueue_status(evse, force=True, front=front)

    def _enqueue_status(self, evse: Evse, *, force: bool = False, front: bool = False) -> None:
        reported = self._adapter_cls.connector_status(evse.status)
        if not force and reported == evse.reported_status:
            return
        evse.reported_status = reported
        status, timestamp, evse_id = evse.status, self.now(), evse.id
        self._enqueue(
            f"StatusNotification {evse_id} {reported}",
            lambda a: a.send_status(evse_id, status, timestamp),
            persistent=False,
            front=front,
        )

    # ------------------------------------------------------------------ simulation

    def _tick_s(self) -> float:
        if self.config.tick_s is not None:
            return self.config.tick_s
        return max(1.0, self.clock.speed * 0.5)

    async def _tick_loop(self) -> None:
        while True:
            await self.clock.sleep(self._tick_s())
            self._update()

    async def _meter_loop(self) -> None:
        while True:
            interval = self.settings.meter_interval_s
            if interval <= 0:
                await self.clock.sleep(self._tick_s())
                continue
            await self.clock.sleep(interval)
            self._update()
            for evse in self.evses.values():
                if evse.transaction is not None:
                    self._enqueue_tx_update(evse, UpdateTrigger.PERIODIC, SampleContext.PERIODIC)

    async def _aligned_loop(self) -> None:
        while True:
            interval = self.settings.aligned_interval_s
            if interval <= 0:
                await self.clock.sleep(self._tick_s())
                continue
            # Clock-aligned means at whole multiples of the interval since midnight (1.6
            # ClockAlignedDataInterval, 2.0.1 AlignedDataCtrlr.Interval).
            now = self.now()
            since_midnight = (now - now.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds()
            await self.clock.sleep(interval - since_midnight % interval)
            self._update()
            for evse in self.evses.values():
                if evse.transaction is None:
                    self._enqueue_meter_values(evse, SampleContext.CLOCK)

    async def _auto_disconnect_loop(self) -> None:
        every = self.config.misbehaviour.disconnect_every_s
        assert every is not None
        while True:
            await self.clock.sleep(every)
            if self.connected:
                self.go_offline(self.config.misbehaviour.disconnect_for_s)

    def _update(self) -> None:
        """Integrate energy up to now, expire timers, recompute draws and statuses."""
        now = self.now()
        elapsed = (now - self._last_update).total_seconds()
        if elapsed > 0:
            for evse in self.evses.values():
                if evse.car is not None and evse.transaction is not None and evse.draw.total_w > 0:
                    evse.energy_wh += evse.car.charge(evse.draw.total_w, elapsed)
            self._last_update = now
        self._expire(now)
        self._recompute()

    def _expire(self, now: datetime) -> None:
        for evse in self.evses.values():
            if evse.reservation is not None and now >= evse.reservation.expires:
                self.log(logging.INFO, "EVSE %d: reservation %d expired", evse.id, evse.reservation.id)
                evse.reservation = None
            if evse.pending_start is not None and now >= evse.pending_start.expires:
                self.log(
                    logging.INFO,
                    "EVSE %d: remote start for %s timed out, no car plugged in",
                    evse.id,
                    evse.pending_start.id_tag,
                )
                evse.pending_start = None

    def _profile_limit(self, evse: Evse, now: datetime) -> Limit | None:
        tx = evse.transaction
        context = TxContext(tx.id, tx.started_at) if tx is not None else None
        phases = phases_in_use(evse.car, evse.hardware)
        return self.profiles.limit_at(evse.id, now, phases, context)

    def _recompute(self) -> None:
        self._recompute_draws()
        self._refresh_statuses()

    def _recompute_draws(self) -> None:
        now = self.now()
        ignore = self.config.misbehaviour.ignore_profiles
        for evse in self.evses.values():
            limit = self._profile_limit(evse, now)
            if _limit_changed(evse.limit, limit):
                self._log_limit(evse, limit)
            evse.limit = limit
            if evse.car is None or evse.transaction is None or not evse.operative:
                evse.draw = NO_DRAW
                continue
            applied = None if ignore else limit
            evse.draw = compute_draw(
                evse.car,
                evse.hardware,
                applied.watts if applied is not None else None,
                applied.number_phases if applied is not None else None,
            )
        if ignore:
            return
        # A ChargingStationMaxProfile limits the whole station (OCPP 1.6 §3.13.1 "ChargePointMaxProfile:
        # configures the maximum power or current available for an entire Charge Point"), so the
        # EVSEs share it.
        station_limit = self.profiles.limit_at(0, now, 3)
        if station_limit is not None:
            total = sum(e.draw.total_w for e in self.evses.values())
            if total > station_limit.watts > 0 or (station_limit.watts <= 0 < total):
                factor = max(0.0, station_limit.watts) / total
                for evse in self.evses.values():
                    evse.draw = scale_draw(evse.draw, factor)

    def _log_limit(self, evse: Evse, limit: Limit | None) -> None:
        if limit is None:
            self.log(
                logging.INFO,
                "EVSE %d: no charging profile applies, EVSE maximum %.0f W",
                evse.id,
                evse.hardware.max_power_w,
            )
        else:
            self.log(
                logging.INFO,
                "EVSE %d: limit now %.0f W (%s #%s)%s",
                evse.id,
                limit.watts,
                limit.purpose.value if limit.purpose else "?",
                limit.profile_id,
                " - IGNORED (misbehaviour)" if self.config.misbehaviour.ignore_profiles else "",
            )

    def _derive_status(self, evse: Evse) -> EvseStatus:
        if evse.transaction is not None:
            if evse.draw.total_w > 0:
                return EvseStatus.CHARGING
            if evse.car is not None and evse.car.acceptance_w() <= 0:
                return EvseStatus.SUSPENDED_EV
            if evse.draw.suspended_by_evse or not evse.operative:
                return EvseStatus.SUSPENDED_EVSE
            return EvseStatus.SUSPENDED_EV
        if not evse.operative:
            return EvseStatus.UNAVAILABLE
        if evse.car is not None:
            return EvseStatus.FINISHING if evse.session_done else EvseStatus.PREPARING
        if evse.reservation is not None:
            return EvseStatus.RESERVED
        return EvseStatus.AVAILABLE

    def _refresh_statuses(self) -> None:
        for evse in self.evses.values():
            new = self._derive_status(evse)
            if new != evse.status:
                self.log(logging.INFO, "EVSE %d: %s -> %s", evse.id, evse.status.value, new.value)
                evse.status = new
                self._enqueue_status(evse)
            tx = evse.transaction
            if tx is not None and self._adapter_cls.reports_charging_state:
                state = ChargingState.of(evse.status)
                if state != tx.reported_charging_state:
                    # OCPP 2.0.1 (E02): a change of charging state is a TransactionEvent Updated
                    # with triggerReason ChargingStateChanged.
                    self._enqueue_tx_update(evse, UpdateTrigger.CHARGING_STATE_CHANGED, SampleContext.TRIGGER)

    def _sample(self, evse: Evse, context: SampleContext) -> MeterSample:
        return MeterSample(
            timestamp=self.now(),
            energy_wh=evse.energy_wh,
            power_w=evse.draw.total_w,
            phase_power_w=evse.draw.phase_w,
            phase_current_a=evse.draw.phase_a,
            soc_percent=evse.car.soc_percent if evse.car is not None else None,
            context=context,
            energy_unit=self.config.meter_energy_unit,
            per_phase_only=self.config.meter_per_phase_only,
        )

    # ------------------------------------------------------------------ transactions

    def _try_start(
        self,
        evse: Evse,
        id_tag: str,
        trigger: StartTrigger,
        id_token_type: str = "ISO14443",
        remote_start_id: int | None = None,
        profile: ChargingProfile | None = None,
    ) -> bool:
        if not evse.operative:
            self.log(logging.WARNING, "EVSE %d is unavailable, not starting a transaction", evse.id)
            return False
        if evse.reservation is not None and evse.reservation.id_tag.lower() != id_tag.lower():
            self.log(
                logging.WARNING,
                "EVSE %d is reserved for %s, not starting for %s",
                evse.id,
                evse.reservation.id_tag,
                id_tag,
            )
            return False
        self._start_transaction(evse, id_tag, trigger, id_token_type, remote_start_id, profile)
        return True

    def _start_transaction(
        self,
        evse: Evse,
        id_tag: str,
        trigger: StartTrigger,
        id_token_type: str,
        remote_start_id: int | None,
        profile: ChargingProfile | None,
    ) -> None:
        now = self.now()
        reservation_id = None
        if evse.reservation is not None:
            reservation_id = evse.reservation.id
            evse.reservation = None
        tx = Transaction(
            id=str(uuid.uuid4()),
            evse_id=evse.id,
            id_tag=id_tag,
            started_at=now,
            meter_start_wh=evse.energy_wh,
            trigger=trigger,
            id_token_type=id_token_type,
            remote_start_id=remote_start_id,
            reservation_id=reservation_id,
        )
        evse.transaction = tx
        evse.session_done = False
        if profile is not None:
            # OCPP 1.6 §5.11 / 2.0.1 F01: the TxProfile of a remote start is for this transaction.
            self._accept_profile(evse.id, replace(profile, transaction_id=tx.id))
        self._recompute_draws()
        state = ChargingState.of(self._derive_status(evse))
        tx.reported_charging_state = state
        sample = self._sample(evse, SampleContext.TRANSACTION_BEGIN)
        offline = not self.connected
        self._enqueue(
            f"transaction start EVSE {evse.id}",
            lambda a: a.send_tx_started(tx, sample, state, offline),
            persistent=True,
        )
        self.log(
            logging.INFO,
            "EVSE %d: transaction %s started for %s (%s, meter %.0f Wh)%s",
            evse.id,
            tx.id[:8],
            id_tag,
            trigger.value,
            evse.energy_wh,
            " [offline]" if offline else "",
        )
        self._refresh_statuses()

    def _stop_transaction(self, evse: Evse, reason: StopReason) -> None:
        tx = evse.transaction
        assert tx is not None
        sample = self._sample(evse, SampleContext.TRANSACTION_END)
        tx.ended = True
        evse.transaction = None
        evse.session_done = evse.car is not None
        removed = self.profiles.remove_tx_profiles(evse.id)
        offline = not self.connected
        self._enqueue(
            f"transaction stop EVSE {evse.id}",
            lambda a: a.send_tx_ended(tx, sample, reason, offline),
            persistent=True,
        )
        self.log(
            logging.INFO,
            "EVSE %d: transaction %s stopped (%s), %.0f Wh delivered%s%s",
            evse.id,
            tx.display_id,
            reason.value,
            evse.energy_wh - tx.meter_start_wh,
            f", removed {describe(removed)}" if removed else "",
            " [offline]" if offline else "",
        )
        if evse.inoperative_scheduled:
            evse.inoperative_scheduled = False
            evse.operative = False
            self.log(logging.INFO, "EVSE %d: scheduled availability change to Inoperative applied", evse.id)
        if self._reset_scheduled is not None and not any(e.transaction for e in self.evses.values()):
            self._reset_scheduled = None
            self._schedule_reboot()

    def _enqueue_tx_update(self, evse: Evse, trigger: UpdateTrigger, context: SampleContext) -> None:
        tx = evse.transaction
        assert tx is not None
        sample = self._sample(evse, context)
        state = ChargingState.of(evse.status)
        tx.reported_charging_state = state
        offline = not self.connected
        self._enqueue(
            f"transaction update EVSE {evse.id} ({trigger.value})",
            lambda a: a.send_tx_updated(tx, sample, trigger, state, offline),
            persistent=True,
        )

    def on_transaction_rejected(self, tx: Transaction, status: str) -> None:
        """The central system did not accept the id tag of a started transaction
        (OCPP 1.6 §4.8 StopTransactionOnInvalidId / 2.0.1 E05): end it as DeAuthorized."""
        evse = self.evses.get(tx.evse_id)
        self.log(
            logging.WARNING, "EVSE %d: id tag %s not accepted (%s), stopping transaction", tx.evse_id, tx.id_tag, status
        )
        if evse is not None and evse.transaction is tx:
            self._update()
            self._stop_transaction(evse, StopReason.DEAUTHORIZED)
            self._recompute()

    def find_transaction(self, transaction_id: str) -> Transaction | None:
        for evse in self.evses.values():
            if evse.transaction is not None and evse.transaction.id == transaction_id:
                return evse.transaction
        return None

    def find_transaction_ocpp16(self, transaction_id: int) -> Transaction | None:
        for evse in self.evses.values():
            if evse.transaction is not None and evse.transaction.ocpp16_id == transaction_id:
                return evse.transaction
        return None

    # ------------------------------------------------------------------ central-system requests

    def set_charging_profile(self, evse_id: int, profile: ChargingProfile) -> Decision:
        """SetChargingProfile: validate against OCPP rules and the station's capabilities."""
        self._update()
        decision = self._check_profile(evse_id, profile)
        if not decision.accepted:
            self.log(
                logging.WARNING,
                "SetChargingProfile %s on EVSE %d rejected: %s",
                describe([profile]),
                evse_id,
                decision.reason,
            )
            return decision
        if self.config.misbehaviour.reject_profiles:
            self.log(
                logging.WARNING,
                "SetChargingProfile %s on EVSE %d rejected (misbehaviour reject_profiles)",
                describe([profile]),
                evse_id,
            )
            return Decision.no("Misbehaviour", "misbehaviour reject_profiles")
        if profile.purpose is ProfilePurpose.TX and profile.transaction_id is None:
            tx = self.evses[evse_id].transaction
            assert tx is not None
            profile = replace(profile, transaction_id=tx.id)
        self._accept_profile(evse_id, profile)
        return Decision.ok()

    def _accept_profile(self, evse_id: int, profile: ChargingProfile) -> None:
        delay = self.config.misbehaviour.late_profiles_s
        if delay > 0:
            self.log(
                logging.WARNING,
                "accepted %s on EVSE %d, applying it only in %gs (misbehaviour late_profiles_s)",
                describe([profile]),
                evse_id,
                delay,
            )
            due = self.clock.now() + timedelta(seconds=delay)
            self._spawn(self._install_later(evse_id, profile, due), f"late-profile-{profile.id}")
            return
        self._install_profile(evse_id, profile)

    def _install_profile(self, evse_id: int, profile: ChargingProfile) -> None:
        replaced = self.profiles.install(evse_id, profile, self.now())
        self.log(
            logging.INFO,
            "EVSE %d: installed %s%s",
            evse_id,
            describe([profile]),
            f" replacing {describe(replaced)}" if replaced else "",
        )
        self._update()

    async def _install_later(self, evse_id: int, profile: ChargingProfile, due: datetime) -> None:
        await self.clock.sleep((due - self.clock.now()).total_seconds())
        if profile.purpose is ProfilePurpose.TX:
            tx = self.evses[evse_id].transaction
            if tx is None or tx.id != profile.transaction_id:
                self.log(logging.INFO, "late %s dropped: its transaction has ended", describe([profile]))
                return
        self._update()
        self._install_profile(evse_id, profile)

    def _check_profile(self, evse_id: int, profile: ChargingProfile) -> Decision:
        cfg = self.config
        if evse_id != 0 and evse_id not in self.evses:
            return Decision.no("UnknownEVSE", f"no EVSE {evse_id}")
        if profile.purpose is ProfilePurpose.STATION_EXTERNAL:
            # 2.0.1 K01: ChargingStationExternalConstraints come from an external system, not the CSMS.
            return Decision.no("InvalidProfile", "ChargingStationExternalConstraints cannot be set remotely")
        if profile.purpose is ProfilePurpose.STATION_MAX and evse_id != 0:
            # 1.6 §3.13.1 / 2.0.1 K01: the station maximum only exists on EVSE/connector 0.
            return Decision.no("InvalidEVSE", "ChargingStationMaxProfile only on EVSE 0")
        if profile.purpose is ProfilePurpose.TX:
            if evse_id == 0:
                return Decision.no("InvalidEVSE", "TxProfile needs an EVSE")
            tx = self.evses[evse_id].transaction
            if tx is None:
                # 1.6 §5.16: "If there is no transaction active on the connector specified, the
                # Charge Point SHALL discard it and return an error status"; the same in 2.0.1 K01.
                return Decision.no("TxNotFound", f"no transaction on EVSE {evse_id}")
            if profile.transaction_id is not None and profile.transaction_id != tx.id:
                return Decision.no("TxNotFound", "transactionId does not match the running transaction")
        problem = validate_profile_shape(profile)
        if problem is not None:
            return Decision.no("InvalidSchedule", problem)
        if profile.stack_level > cfg.max_stack_level:
            return Decision.no("InvalidStackLevel", f"stackLevel {profile.stack_level} > {cfg.max_stack_level}")
        if len(profile.periods) > cfg.max_schedule_periods:
            return Decision.no(
                "TooManyPeriods", f"{len(profile.periods)} periods > {cfg.max_schedule_periods} supported"
            )
        if profile.rate_unit.value not in cfg.allowed_rate_units:
            return Decision.no("UnsupportedRateUnit", f"rate unit {profile.rate_unit.value} not supported")
        return Decision.ok()

    def clear_charging_profiles(
        self,
        *,
        profile_id: int | None = None,
        evse_id: int | None = None,
        purpose: ProfilePurpose | None = None,
        stack_level: int | None = None,
    ) -> int:
        self._update()
        removed = self.profiles.clear(profile_id=profile_id, evse_id=evse_id, purpose=purpose, stack_level=stack_level)
        self.log(logging.INFO, "ClearChargingProfile removed %s", describe(removed))
        self._update()
        return len(removed)

    def composite(self, evse_id: int, duration_s: int, unit: RateUnit | None) -> CompositeResult | None:
        """GetCompositeSchedule from now for *duration_s*; None for an unknown EVSE."""
        if evse_id != 0 and evse_id not in self.evses:
            return None
        self._update()
        now = self.now().replace(microsecond=0)
        chosen = unit or RateUnit(self.config.allowed_rate_units[0])
        if evse_id == 0:
            phases = 3
            hardware_w = sum(e.hardware.max_power_w for e in self.evses.values())
            tx_context = None
        else:
            evse = self.evses[evse_id]
            phases = phases_in_use(evse.car, evse.hardware)
            hardware_w = watts_for(evse.hardware.max_current_a, phases)
            tx = evse.transaction
            tx_context = TxContext(tx.id, tx.started_at) if tx is not None else None
        periods = composite_schedule(self.profiles, evse_id, now, duration_s, chosen, phases, hardware_w, tx_context)
        return CompositeResult(now, duration_s, chosen, periods)

    def remote_start(
        self,
        evse_id: int | None,
        id_tag: str,
        *,
        id_token_type: str = "Central",
        remote_start_id: int | None = None,
        profile: ChargingProfile | None = None,
    ) -> Decision:
        """RemoteStartTransaction / RequestStartTransaction."""
        self._update()
        if profile is not None:
            if profile.purpose is not ProfilePurpose.TX:
                # 1.6 §5.11 / 2.0.1 F01: only a TxProfile may come with a remote start.
                return Decision.no("InvalidProfile", "charging profile must be a TxProfile")
            problem = validate_profile_shape(profile)
            if problem is not None:
                return Decision.no("InvalidSchedule", problem)
            if self.config.misbehaviour.reject_profiles:
                self.log(logging.WARNING, "ignoring the TxProfile of a remote start (misbehaviour reject_profiles)")
                profile = None
        if evse_id is not None and evse_id != 0:
            if evse_id not in self.evses:
                return Decision.no("UnknownEVSE", f"no EVSE {evse_id}")
            evse = self.evses[evse_id]
        else:
            candidates = [e for e in self.evses.values() if e.car is not None and e.transaction is None] or [
                e
                for e in self.evses.values()
                if e.car is None and e.operative and e.reservation is None and e.pending_start is None
            ]
            if not candidates:
                return Decision.no("NoFreeEVSE", "no EVSE available")
            evse = candidates[0]
        if evse.transaction is not None:
            return Decision.no("TxInProgress", f"EVSE {evse.id} already has a transaction")
        if not evse.operative:
            return Decision.no("Unavailable", f"EVSE {evse.id} is unavailable")
        if evse.reservation is not None and evse.reservation.id_tag.lower() != id_tag.lower():
            return Decision.no("Reserved", f"EVSE {evse.id} is reserved")
        if evse.car is not None:
            self.log(logging.INFO, "EVSE %d: remote start for %s", evse.id, id_tag)
            self._start_transaction(evse, id_tag, StartTrigger.REMOTE_START, id_token_type, remote_start_id, profile)
        else:
            evse.pending_start = PendingStart(
                id_tag,
                id_token_type,
                remote_start_id,
                profile,
                expires=self.now() + timedelta(seconds=self.settings.connection_timeout_s),
            )
            self.log(
                logging.INFO,
                "EVSE %d: remote start for %s accepted, waiting %ss for a car",
                evse.id,
                id_tag,
                self.settings.connection_timeout_s,
            )
        return Decision.ok()

    def remote_stop(self, transaction_id: str) -> bool:
        """RemoteStopTransaction / RequestStopTransaction."""
        self._update()
        for evse in self.evses.values():
            if evse.transaction is not None and evse.transaction.id == transaction_id:
                self.log(logging.INFO, "EVSE %d: remote stop", evse.id)
                self._stop_transaction(evse, StopReason.REMOTE)
                self._recompute()
                return True
        return False

    def reset(self, *, reason: StopReason, when_idle: bool = False) -> Outcome:
        """Reset the station: end transactions and reboot (reconnect with a new BootNotification).

        when_idle (2.0.1 OnIdle): with transactions running, answer Scheduled and reboot after the
        last one ends (B12 "Reset - With Ongoing Transaction")."""
        self._update()
        running = [e for e in self.evses.values() if e.transaction is not None]
        if when_idle and running:
            self._reset_scheduled = reason
            self.log(logging.INFO, "reset scheduled until %d transaction(s) end", len(running))
            return Outcome.SCHEDULED
        self.log(logging.WARNING, "reset requested (%s)", reason.value)
        for evse in running:
            self._stop_transaction(evse, reason)
        self._recompute()
        self._schedule_reboot()
        return Outcome.ACCEPTED

    def _schedule_reboot(self) -> None:
        # Queued behind the StopTransactions so they go out before the connection closes.
        async def reboot(_: ChargePointAdapter) -> None:
            self._boot_accepted = False
            self._booted.clear()
            self._boot_reason = BootReason.REMOTE_RESET
            self._reboot_requested = True
            for evse in self.evses.values():
                evse.pending_start = None
            self._drop.set()

        self._enqueue("reboot", reboot, persistent=True)

    def change_availability(self, evse_id: int, operative: bool) -> Outcome:
        """ChangeAvailability; evse 0 = the whole station. A running transaction makes it Scheduled
        (1.6 §5.2, 2.0.1 G03)."""
        self._update()
        if evse_id == 0:
            targets = list(self.evses.values())
        elif evse_id in self.evses:
            targets = [self.evses[evse_id]]
        else:
            return Outcome.REJECTED
        scheduled = False
        for evse in targets:
            if operative:
                evse.operative = True
                evse.inoperative_scheduled = False
            elif evse.transaction is not None:
                evse.inoperative_scheduled = True
                scheduled = True
            else:
                evse.operative = False
        self.log(
            logging.INFO,
            "ChangeAvailability %s -> %s%s",
            evse_id or "station",
            "Operative" if operative else "Inoperative",
            " (scheduled)" if scheduled else "",
        )
        self._recompute()
        return Outcome.SCHEDULED if scheduled else Outcome.ACCEPTED

    def unlock(self, evse_id: int, *, stop_transaction: bool) -> Outcome:
        """UnlockConnector. 1.6 (§5.18) ends a running transaction first; 2.0.1 (F05) refuses
        while one is running."""
        if evse_id not in self.evses:
            return Outcome.UNKNOWN
        evse = self.evses[evse_id]
        self._update()
        if evse.transaction is not None:
            if not stop_transaction:
                return Outcome.ONGOING_TRANSACTION
            self._stop_transaction(evse, StopReason.UNLOCK_COMMAND)
            self._recompute()
        self.log(logging.INFO, "EVSE %d: connector unlocked", evse_id)
        return Outcome.UNLOCKED

    def reserve(self, reservation_id: int, evse_id: int | None, id_tag: str, expires: datetime) -> Outcome:
        """ReserveNow; evse None = any free EVSE (2.0.1 without evseId)."""
        self._update()
        for evse in self.evses.values():
            # Same reservation id again replaces the old reservation (1.6 §5.13, 2.0.1 H01).
            if evse.reservation is not None and evse.reservation.id == reservation_id:
                evse.reservation = None
        if evse_id is None:
            free = [
                e
                for e in self.evses.values()
                if e.operative and e.car is None and e.transaction is None and e.reservation is None
            ]
            if not free:
                return Outcome.OCCUPIED
            target = free[0]
        elif evse_id == 0:
            # ReserveConnectorZeroSupported = false.
            return Outcome.REJECTED
        elif evse_id not in self.evses:
            return Outcome.REJECTED
        else:
            target = self.evses[evse_id]
        if not target.operative:
            return Outcome.UNAVAILABLE
        if target.car is not None or target.transaction is not None or target.reservation is not None:
            return Outcome.OCCUPIED
        target.reservation = Reservation(reservation_id, id_tag, expires)
        self.log(
            logging.INFO,
            "EVSE %d: reserved (#%d) for %s until %s",
            target.id,
            reservation_id,
            id_tag,
            expires.isoformat(),
        )
        self._recompute()
        return Outcome.ACCEPTED

    def cancel_reservation(self, reservation_id: int) -> bool:
        for evse in self.evses.values():
            if evse.reservation is not None and evse.reservation.id == reservation_id:
                evse.reservation = None
                self.log(logging.INFO, "EVSE %d: reservation %d cancelled", evse.id, reservation_id)
                self._recompute()
                return True
        return False

    # -- TriggerMessage ----------------------------------------------------------------------

    def trigger_boot(self) -> None:
        async def boot(adapter: ChargePointAdapter) -> None:
            result = await adapter.send_boot(BootReason.TRIGGERED)
            self.log(logging.INFO, "triggered BootNotification answered %s", result.status)
            if result.status == "Accepted" and result.interval > 0:
                self.set_heartbeat_interval(result.interval)

        self._enqueue("BootNotification (triggered)", boot, persistent=False)

    def trigger_heartbeat(self) -> None:
        self._enqueue("Heartbeat (triggered)", lambda a: a.send_heartbeat(), persistent=False)

    def trigger_status(self, evse_id: int | None) -> bool:
        targets = self._trigger_targets(evse_id)
        for evse in targets:
            self._enqueue_status(evse, force=True)
        return bool(targets)

    def trigger_meter_values(self, evse_id: int | None) -> bool:
        self._update()
        targets = self._trigger_targets(evse_id)
        for evse in targets:
            self._enqueue_meter_values(evse, SampleContext.TRIGGER)
        return bool(targets)

    def _enqueue_meter_values(self, evse: Evse, context: SampleContext) -> None:
        sample, tx, evse_id = self._sample(evse, context), evse.transaction, evse.id
        self._enqueue(
            f"MeterValues {evse_id} ({context.value})",
            lambda a: a.send_meter_values(evse_id, sample, tx),
            persistent=False,
        )

    def trigger_transaction_event(self, evse_id: int | None) -> bool:
        self._update()
        targets = [e for e in self._trigger_targets(evse_id) if e.transaction is not None]
        for evse in targets:
            self._enqueue_tx_update(evse, UpdateTrigger.TRIGGER, SampleContext.TRIGGER)
        return True

    async def send(self, payload: Any) -> Any:
        """Sends one OCPP call (an ``ocpp.v16.call`` / ``ocpp.v201.call`` payload of this station's
        version) on the live connection and returns the answer; raises the library's OCPPError on
        a CallError. For messages the simulated behaviour does not produce on its own (Authorize,
        DataTransfer, security events, ...): conformance tests drive them through the same
        ChargePoint the station uses."""
        adapter = self._adapter
        if adapter is None:
            raise RuntimeError(f"{self.id} is not connected")
        await adapter.wait_inbound_idle()
        return await adapter.call(payload, suppress=False)

    def update_firmware(self, retrieve_at: datetime, notification: Callable[[str], Any]) -> None:
        """UpdateFirmware (OCPP 1.6 §5.19, 2.0.1 L01): download and install, reporting each step
        (`notification(status)` builds the version's FirmwareStatusNotification). With
        `firmware_step_s` set, the station waits for the retrieve time (one in the past means now)
        and takes that long per step; without, it reports every step at once."""
        step_s = self.config.firmware_step_s
        if step_s is None:
            for status in FIRMWARE_STEPS:
                self.enqueue_call(f"FirmwareStatusNotification {status}", notification(status))
            return

        async def run(step_s: float) -> None:
            await self.clock.sleep((retrieve_at - self.now()).total_seconds())
            for i, status in enumerate(FIRMWARE_STEPS):
                if i:
                    await self.clock.sleep(step_s)
                self.enqueue_call(f"FirmwareStatusNotification {status}", notification(status))

        self._spawn(run(step_s), "firmware-update")

    def enqueue_call(self, description: str, payload: Any) -> None:
        """Queues a call to be sent after the answer to the call being handled (status reports
        that follow a command, e.g. FirmwareStatusNotification after UpdateFirmware)."""

        async def send(adapter: ChargePointAdapter) -> None:
            await adapter.call(payload, suppress=False)

        self._enqueue(description, send, persistent=False)

    def _trigger_targets(self, evse_id: int | None) -> list[Evse]:
        if evse_id is None or evse_id == 0:
            return list(self.evses.values())
        return [self.evses[evse_id]] if evse_id in self.evses else []

    # ------------------------------------------------------------------ helpers

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        task.set_name(f"{self.id}-{name}")
        self._background.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._background.discard(t)
            if not t.cancelled() and t.exception() is not None:
                self.log(logging.ERROR, "background task %s failed: %r", t.get_name(), t.exception())

        task.add_done_callback(done)


def _limit_changed(old: Limit | None, new: Limit | None) -> bool:
    if old is None or new is None:
        return old is not new
    return abs(old.watts - new.watts) > LIMIT_LOG_THRESHOLD_W or old.profile_id != new.profile_id


def _describe_exc(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


__all__ = ["CompositeResult", "Station", "StationSettings"]
