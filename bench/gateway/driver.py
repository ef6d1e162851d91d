"""The load driver: N simulated OCPP 1.6J stations in one process, raw OCPP-J frames.

One scenario per run, result as one JSON object on stdout:

1. connect N stations to ws://127.0.0.1:PORT/ocpp/{prefix}{i} (at most --connect-concurrency
   handshakes in flight) and boot each (BootNotification); server-initiated calls (the gateway's
   GetConfiguration after boot) are answered with a canned CallResult;
2. settle, then the server's RSS - its RSS before the first connect = memory of N connections;
3. saturation: every station calls back to back (closed loop) for --saturate-s: capacity;
4. rated: open loop at fractions of that capacity for --rated-s each (latency measured from the
   *intended* send time, so a backed-up server is not flattered by coordinated omission);
5. optionally a reconnect storm: every socket dropped at once, every station reconnecting at once
   (failed attempts retried after 1 s + jitter, like a station's back-off), done when each has
   had a Heartbeat answered on its new socket; a station asked by the gateway's re-sync
   (TriggerMessage) sends its StatusNotification too, as a real one does, and the storm waits
   for those answers.

The traffic mix is nine MeterValues (energy register, power, per-phase current and voltage, SoC)
to one Heartbeat. Everything is bounded: the phases by time, the storm by --storm-deadline-s.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import json
import os
import random
import resource
import sys
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
HEARTBEAT_INTERVAL_S = 30.0
"""What the gateway answers in BootNotification.conf (its heartbeat_interval_s default)."""

_GET_CONFIGURATION_RESULT = json.dumps(
    {
        "configurationKey": [
            {"key": "ChargingScheduleAllowedChargingRateUnit", "readonly": True, "value": "Current,Power"},
            {"key": "ChargingScheduleMaxPeriods", "readonly": True, "value": "24"},
            {"key": "MaxChargingProfilesInstalled", "readonly": True, "value": "8"},
            {"key": "NumberOfConnectors", "readonly": True, "value": "1"},
        ],
        "unknownKey": [],
    },
    separators=(",", ":"),
)
_ANSWERS = {
    "GetConfiguration": _GET_CONFIGURATION_RESULT,
    "DataTransfer": '{"status":"Rejected"}',
    "ClearCache": '{"status":"Accepted"}',
    "GetDiagnostics": "{}",
    "UpdateFirmware": "{}",
}
"""Answers to the central system's calls; anything else gets {"status": "Accepted"} (OCPP 1.6
confirmations of SetChargingProfile, TriggerMessage, ChangeConfiguration, Reset ... all have it)."""


# --- process statistics from /proc (no psutil needed) --------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its threads (for the server: aiosqlite's thread too)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def server_rss(pids: list[int]) -> int:
    return sum(rss_bytes(pid) for pid in pids)


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


class CpuMeter:
    """CPU of named process groups (the server may be several gateway processes), % of one core."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.pids = pids
        self.start_wall = time.monotonic()
        self.start = {name: self._used(name) for name in pids}

    def _used(self, name: str) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids[name])

    def seconds(self) -> dict[str, float]:
        return {name: round(self._used(name) - self.start[name], 2) for name in self.pids}

    def percent(self) -> dict[str, float]:
        wall = time.monotonic() - self.start_wall
        return {name: round(100 * used / wall, 1) for name, used in self.seconds().items()}


# --- the station -----------------------------------------------------------------------------------


class Clock:
    """The wire timestamp, re-formatted at most every 100 ms (not per message)."""

    def __init__(self) -> None:
        self._at = 0.0
        self._text = ""

    def now(self) -> str:
        t = time.time()
        if t - self._at > 0.1:
            self._at = t
            self._text = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        return self._text


CLOCK = Clock()
TRIGGERED_ANSWERED: list[float] = []
"""When each triggered StatusNotification was answered (perf_counter)."""


def meter_values_payload(energy_wh: int) -> str:
    """The MeterValues every station sends: energy register, power, current per phase, voltage, SoC."""
    ts = CLOCK.now()
    return (
        '{"connectorId":1,"meterValue":[{"timestamp":"' + ts + '","sampledValue":['
        '{"value":"' + str(energy_wh) + '","measurand":"Energy.Active.Import.Register","unit":"Wh",'
        '"context":"Sample.Periodic"},'
        '{"value":"11040","measurand":"Power.Active.Import","unit":"W","context":"Sample.Periodic"},'
        '{"value":"16.0","measurand":"Current.Import","unit":"A","phase":"L1","context":"Sample.Periodic"},'
        '{"value":"16.0","measurand":"Current.Import","unit":"A","phase":"L2","context":"Sample.Periodic"},'
        '{"value":"16.0","measurand":"Current.Import","unit":"A","phase":"L3","context":"Sample.Periodic"},'
        '{"value":"230.1","measurand":"Voltage","unit":"V","phase":"L1-N","context":"Sample.Periodic"},'
        '{"value":"57","measurand":"SoC","unit":"Percent","location":"EV","context":"Sample.Periodic"}]}]}'
    )


@dataclass
class Recorder:
    latencies: array = field(default_factory=lambda: array("d"))
    sent: array = field(default_factory=lambda: array("d"))
    """When each recorded call was (meant to be) sent, perf_counter: for --trace."""
    calls: int = 0
    meter_values: int = 0
    errors: int = 0
    recording: bool = False

    def record(self, latency: float, action: str, answered: bool, sent: float) -> None:
        if self.recording:
            self.latencies.append(latency)
            self.sent.append(sent)
            self.calls += 1
            if action == "MeterValues" and answered:  # a CallError is no promise that it was published
                self.meter_values += 1

    def reset(self) -> None:
        self.latencies = array("d")
        self.sent = array("d")
        self.calls = self.meter_values = self.errors = 0

    def summary(self, seconds: float) -> dict[str, Any]:
        lat = sorted(self.latencies)

        def pct(p: float) -> float | None:
            return round(1000 * lat[min(len(lat) - 1, int(p * len(lat)))], 2) if lat else None

        return {
            "msg_s": round(self.calls / seconds, 1),
            "calls": self.calls,
            "meter_values": self.meter_values,
            "errors": self.errors,
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "max_ms": pct(1.0),
        }


class Station:
    def __init__(self, station_id: str, url: str, recorder: Recorder) -> None:
        self.station_id = station_id
        self.url = url
        self.recorder = recorder
        self.ws: ClientConnection | None = None
        self.reader: asyncio.Task[None] | None = None
        self.pending: dict[str, asyncio.Future[Any]] = {}
        self.seq = 0
        self.energy_wh = random.randint(0, 100_000)
        self.last_call = time.monotonic()
        self.calling = asyncio.Lock()
        self.triggered: set[asyncio.Task[None]] = set()

    async def connect(self, open_timeout: float) -> None:
        # No permessage-deflate: stations on a LAN rarely offer it and it costs ~40 KB per socket.
        self.ws = await connect(
            f"{self.url}/{self.station_id}",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            compression=None,
            open_timeout=open_timeout,
            ping_interval=None,
            close_timeout=1,
            max_queue=4,
        )
        self.reader = asyncio.create_task(self._read(self.ws))

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                msg = json.loads(raw)
                if msg[0] == 2:  # a call from the central system: answer at once
                    body = _ANSWERS.get(msg[2], '{"status":"Accepted"}')
                    await ws.send(f'[3,"{msg[1]}",{body}]')
                    if msg[2] == "TriggerMessage" and msg[3].get("requestedMessage") == "StatusNotification":
                        # OCPP 1.6 §5.17: having accepted, the station sends the message asked for
                        # (the gateway's re-sync after a reconnect asks every station at once).
                        self._triggered(msg[3].get("connectorId", 1))
                else:
                    future = self.pending.pop(msg[1], None)
                    if future is not None and not future.done():
                        future.set_result(msg)
        except ConnectionClosed:
            pass
        finally:
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("closed"))
            self.pending.clear()

    def _triggered(self, connector_id: int) -> None:
        async def send() -> None:
            with contextlib.suppress(Exception):
                answer = await self.call(
                    "StatusNotification",
                    f'{{"connectorId":{connector_id},"errorCode":"NoError","status":"Available",'
                    f'"timestamp":"{CLOCK.now()}"}}',
                )
                if answer[0] == 3:
                    TRIGGERED_ANSWERED.append(time.perf_counter())

        task = asyncio.create_task(send())
        self.triggered.add(task)
        task.add_done_callback(self.triggered.discard)

    async def call(self, action: str, payload: str, intended: float | None = None, timeout: float = 60.0) -> list[Any]:
        # One outstanding call per station (OCPP-J §4.1.1): a triggered StatusNotification and
        # the station's own next call take turns.
        async with self.calling:
            return await self._call(action, payload, intended, timeout)

    async def _call(self, action: str, payload: str, intended: float | None, timeout: float) -> list[Any]:
        assert self.ws is not None
        self.seq += 1
        uid = str(self.seq)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[uid] = future
        sent = time.perf_counter()
        self.last_call = time.monotonic()
        await self.ws.send(f'[2,"{uid}","{action}",{payload}]')
        try:
            result = await asyncio.wait_for(future, timeout)
        except (TimeoutError, ConnectionError):
            self.pending.pop(uid, None)
            self.recorder.errors += 1
            raise
        if result[0] != 3:
            self.recorder.errors += 1
        start = intended if intended is not None else sent
        self.recorder.record(time.perf_counter() - start, action, result[0] == 3, start)
        return result  # type: ignore[no-any-return]

    async def boot(self) -> None:
        await self.call(
            "BootNotification",
            '{"chargePointVendor":"Chargeyard","chargePointModel":"bench",'
            f'"chargePointSerialNumber":"{self.station_id}","firmwareVersion":"1.0"}}',
        )

    def next_message(self) -> tuple[str, str]:
        if self.seq % 10 == 9:
            return "Heartbeat", "{}"
        self.energy_wh += 7
        return "MeterValues", meter_values_payload(self.energy_wh)

    def abort(self) -> None:
        if self.ws is not None:
            self.ws.transport.abort()  # a dropped link, no close handshake


# --- the phases ------------------------------------------------------------------------------------


async def gather_bounded(factories: list[Callable[[], Any]], concurrency: int) -> list[BaseException | None]:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(factory: Callable[[], Any]) -> BaseException | None:
        async with semaphore:
            try:
                await factory()
                return None
            except Exception as exc:
                return exc

    return await asyncio.gather(*(one(f) for f in factories))


async def keepalive(stations: list[Station], recorder: Recorder, interval_s: float = HEARTBEAT_INTERVAL_S) -> None:
    """Idle stations send their Heartbeat every interval, as real ones do (OCPP 1.6 §4.6): a
    connect phase of minutes would otherwise leave the first stations silent long enough for the
    gateway's silence timeout (3 x the interval) to close them. Not while a phase is measured
    (phases are far shorter than the timeout) and never a second outstanding call."""

    async def beat(station: Station) -> None:
        with contextlib.suppress(Exception):
            await station.call("Heartbeat", "{}")

    tasks: set[asyncio.Task[None]] = set()
    while True:
        await asyncio.sleep(5)
        if recorder.recording:
            continue
        idle_since = time.monotonic() - interval_s
        for station in stations:
            ws = station.ws
            if ws is not None and ws.state is State.OPEN and not station.pending and station.last_call < idle_since:
                task = asyncio.create_task(beat(station))
                tasks.add(task)
                task.add_done_callback(tasks.discard)


async def quiesce(server_pids: list[int], most_s: float = 30.0, idle_percent: float = 20.0) -> float:
    """Seconds until the server is idle (under `idle_percent` of a core over half a second).
    Saturated, the gateway answers faster than its outbox relay publishes: for seconds after, it
    is still putting that backlog on Kafka, at up to 95 % of its core. A rated step that started
    then measured the backlog, not its rate; each starts from an idle server instead."""
    began = time.monotonic()
    while time.monotonic() - began < most_s:
        cpu = CpuMeter({"server": server_pids})
        await asyncio.sleep(0.5)
        if cpu.percent()["server"] < idle_percent:
            break
    return round(time.monotonic() - began, 1)


@contextlib.contextmanager
def no_collector_pauses() -> Iterator[None]:
    """The driver is the measuring instrument: its own garbage collections (gen2 up to 90 ms with
    10,000 stations' objects, gen1 up to 17 ms, measured with gc.callbacks) would show up as the
    server's latency. Reference counting frees the calls' garbage; the collector runs between the
    measured phases, not in them, for the bare server and the gateway alike."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


async def closed_loop(stations: list[Station], seconds: float) -> None:
    deadline = time.perf_counter() + seconds

    async def run(station: Station) -> None:
        while time.perf_counter() < deadline:
            try:
                await station.call(*station.next_message())
            except (TimeoutError, ConnectionError, ConnectionClosed):
                await asyncio.sleep(0.1)

    await asyncio.gather(*(run(s) for s in stations))


async def open_loop(stations: list[Station], rate: float, seconds: float) -> None:
    """Each station calls every len(stations)/rate seconds from a random phase; a station whose
    previous call is unanswered waits (one outstanding call per station, OCPP-J §4.1.1)."""
    interval = len(stations) / rate
    start = time.perf_counter()
    deadline = start + seconds

    async def run(station: Station) -> None:
        due = start + random.random() * interval
        while due < deadline:
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await station.call(*station.next_message(), intended=due)
            except (TimeoutError, ConnectionError, ConnectionClosed):
                pass
            due += interval

    await asyncio.gather(*(run(s) for s in stations))


def kept_up(step: dict[str, Any], p99_ms: float) -> bool:
    """A rated step the server sustained: p99 within `p99_ms` and >= 95 % of the offered rate answered."""
    return step["p99_ms"] is not None and step["p99_ms"] <= p99_ms and step["msg_s"] >= 0.95 * step["offered_msg_s"]


CLIMB_STEP = 0.1


def rated_fractions(
    fractions: list[float], done: list[dict[str, Any]], climb_p99_ms: float, climb_to: float
) -> Iterator[float]:
    """The given steps; then, while the last step was kept up (`kept_up` at `climb_p99_ms`; 0 = no
    climbing), steps of CLIMB_STEP more up to `climb_to`. Without the climb a server that kept up
    with its top step reports that step as its sustained rate, a lower bound: at 70 % the bare
    server's p99 was 27 ms (bench/README.md, seventh round)."""
    yield from fractions
    fraction = max(fractions, default=0.0)
    while climb_p99_ms and done and kept_up(done[-1], climb_p99_ms) and fraction + CLIMB_STEP <= climb_to + 1e-9:
        fraction += CLIMB_STEP
        yield fraction


def most_rated_steps(fractions: list[float], climb_to: float) -> int:
    """How many steps `rated_fractions` takes at most (every step kept up): for a time budget."""
    return len(fractions) + max(0, round((climb_to - max(fractions, default=0.0)) / CLIMB_STEP))


async def storm(stations: list[Station], deadline_s: float) -> dict[str, Any]:
    for s in stations:
        s.abort()
    await asyncio.sleep(0.5)  # let the server see the drops, as after a network or instance failure
    start = time.perf_counter()
    attached: list[float] = []
    attempts = 0
    failures: collections.Counter[str] = collections.Counter()

    async def reattach(station: Station) -> None:
        nonlocal attempts
        while time.perf_counter() - start < deadline_s:
            attempts += 1
            try:
                await station.connect(open_timeout=max(1.0, deadline_s - (time.perf_counter() - start)))
                await station.call("Heartbeat", "{}", timeout=max(1.0, deadline_s - (time.perf_counter() - start)))
                attached.append(time.perf_counter() - start)
                return
            except Exception as exc:
                # Why attempts fail (refused, timed out, reset) tells a full backlog from a slow server.
                failures[type(exc).__name__ + (f" {exc.response.status_code}" if hasattr(exc, "response") else "")] += 1
                if station.ws is not None:
                    station.abort()
                await asyncio.sleep(1.0 + random.random())

    TRIGGERED_ANSWERED.clear()
    await asyncio.gather(*(reattach(s) for s in stations))
    # The gateway's re-sync follows the reconnect (TriggerMessage, then each station reports its
    # status): wait for those answers too, until none came for 2 s (a server that re-syncs
    # nothing, such as the bare one, costs 2 s) or the deadline, so the storm's CPU holds them.
    quiet_since, seen = time.perf_counter(), -1
    while time.perf_counter() - start < deadline_s and time.perf_counter() - quiet_since < 2.0:
        busy = any(s.triggered for s in stations)
        if busy or len(TRIGGERED_ANSWERED) != seen:
            quiet_since, seen = time.perf_counter(), len(TRIGGERED_ANSWERED)
        await asyncio.sleep(0.2)
    attached.sort()
    status = sorted(TRIGGERED_ANSWERED)
    return {
        "stations": len(stations),
        "attached": len(attached),
        "attempts": attempts,
        "all_attached_s": round(attached[-1], 2) if len(attached) == len(stations) else None,
        "p50_attached_s": round(attached[len(attached) // 2], 2) if attached else None,
        "failed_attempts": dict(failures.most_common()),
        "status_notifications_answered": len(status),
        "last_status_answered_s": round(status[-1] - start, 2) if status else None,
    }


async def scenario(args: argparse.Namespace) -> dict[str, Any]:
    recorder = Recorder()
    # Several gateway processes (scale-out): the stations are spread over them round-robin.
    urls = [f"ws://127.0.0.1:{port}/ocpp" for port in args.ports]
    stations = [Station(f"{args.prefix}{i:05d}", urls[i % len(urls)], recorder) for i in range(args.stations)]
    pids = {
        "server": args.server_pids,
        "driver": [os.getpid()],
        **({"broker": [args.broker_pid]} if args.broker_pid else {}),
    }
    out: dict[str, Any] = {"stations": args.stations, "server": args.label}
    rss_before = server_rss(args.server_pids)

    retries = 0

    async def up(station: Station) -> None:
        # A station whose handshake fails tries again after 1 s + jitter (three tries, then counted).
        nonlocal retries
        for attempt in range(3):
            try:
                await station.connect(open_timeout=60)
                await station.boot()
                return
            except Exception:
                if attempt == 2:
                    raise
                retries += 1
                if station.ws is not None:
                    station.abort()
                await asyncio.sleep(1.0 + random.random())

    beating = asyncio.create_task(keepalive(stations, recorder))
    connect_cpu = CpuMeter(pids)
    t0 = time.perf_counter()
    failures = await gather_bounded([lambda s=s: up(s) for s in stations], args.connect_concurrency)
    out["connect_cpu_s"] = connect_cpu.seconds()
    failed = [f for f in failures if f is not None]
    out["connect_boot_s"] = round(time.perf_counter() - t0, 2)
    out["connect_failures"] = len(failed)
    out["connect_retries"] = retries
    checkpoint(args, out)
    if failed:
        out["connect_error"] = repr(failed[0])
    live = [s for s, f in zip(stations, failures, strict=True) if f is None]
    await asyncio.sleep(args.settle_s)
    rss_connected = server_rss(args.server_pids)
    out["server_rss_mb"] = out["server_rss_peak_mb"] = round(rss_connected / 2**20, 1)
    out["mem_per_conn_kb"] = round((rss_connected - rss_before) / max(1, len(live)) / 1024, 1)
    out["saturated"], out["rated"] = None, []
    checkpoint(args, out)

    gc.collect()
    gc.freeze()  # the stations' long-lived objects: out of every later collection
    recorder.recording = True
    cpu = CpuMeter(pids)
    recorder.reset()
    t = time.perf_counter()
    with no_collector_pauses():
        await closed_loop(live, args.saturate_s)
    out["saturated"] = recorder.summary(time.perf_counter() - t) | {"cpu": cpu.percent(), "cpu_s": cpu.seconds()}
    checkpoint(args, out)
    capacity = out["saturated"]["msg_s"]

    out["rated"] = []
    for fraction in rated_fractions(args.fractions, out["rated"], args.climb_p99_ms, args.climb_to):
        rate = max(1.0, capacity * fraction)
        drained_s = await quiesce(pids["server"])
        recorder.reset()
        cpu = CpuMeter(pids)
        t = time.perf_counter()
        with no_collector_pauses():
            await open_loop(live, rate, args.rated_s)
        out["rated"].append(
            {"fraction": round(fraction, 2), "offered_msg_s": round(rate, 1), "drained_s": drained_s}
            | recorder.summary(time.perf_counter() - t)
            | {"cpu": cpu.percent()}
        )
        if args.trace:
            write_trace(f"{args.trace}-{fraction}.txt", recorder, t)
    recorder.recording = False
    out["server_rss_peak_mb"] = round(max(rss_connected, server_rss(args.server_pids)) / 2**20, 1)
    checkpoint(args, out)

    if args.storm:
        cpu = CpuMeter(pids)
        out["storm"] = await storm(live, args.storm_deadline_s) | {"cpu": cpu.percent(), "cpu_s": cpu.seconds()}
    beating.cancel()
    for s in stations:
        s.abort()
    return out


def write_trace(path: str, recorder: Recorder, start: float) -> None:
    """Every call of a step, between steps: seconds from the step's start it was due, latency in ms."""
    with open(path, "w") as f:
        f.writelines(
            f"{at - start:.4f} {1000 * lat:.2f}\n" for at, lat in zip(recorder.sent, recorder.latencies, strict=True)
        )


def checkpoint(args: argparse.Namespace, out: dict[str, Any]) -> None:
    """What is measured so far, for the runner to report if a later phase blows its time budget."""
    if args.partial:
        with open(args.partial, "w") as f:
            json.dump(out, f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ports", type=int, nargs="+", required=True)
    parser.add_argument("--server-pids", type=int, nargs="+", required=True)
    parser.add_argument("--broker-pid", type=int, default=0)
    parser.add_argument("--label", default="server")
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--prefix", default="BENCH")
    parser.add_argument("--connect-concurrency", type=int, default=200)
    parser.add_argument("--settle-s", type=float, default=2.0)
    parser.add_argument("--saturate-s", type=float, default=10.0)
    parser.add_argument("--rated-s", type=float, default=8.0)
    parser.add_argument("--fractions", type=float, nargs="*", default=[0.5, 0.75, 0.9])
    parser.add_argument(
        "--climb-p99-ms",
        type=float,
        default=0.0,
        help="after the fractions, climb by 0.1 while each step keeps p99 within this (0 = off)",
    )
    parser.add_argument("--climb-to", type=float, default=1.0, help="the highest fraction the climb goes to")
    parser.add_argument("--storm", action="store_true")
    parser.add_argument("--partial", default="", help="file to write the results so far after each phase")
    parser.add_argument("--storm-deadline-s", type=float, default=120.0)
    parser.add_argument(
        "--trace", default="", help="write each rated step's calls (due at, latency) to TRACE-<fraction>.txt"
    )
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(scenario(args))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
