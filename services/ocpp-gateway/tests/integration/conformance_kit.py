"""What the conformance tests share: an independent charge point (ocpp-rpc under Node, installed
from tests/conformance/package-lock.json), a tap on every gateway topic, command builders."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from chargeyard_contracts.commands import StationCommandIssued
from chargeyard_contracts.registry import GATEWAY, TOPICS
from chargeyard_gateway.bootstrap import gateway_of
from chargeyard_platform.bus import envelope_json
from chargeyard_platform.runtime import Runtime

TIMEOUT = 30  # time-based; the shared 2-core machine runs several suites at once
NODE_PACKAGE = Path(__file__).resolve().parents[1] / "conformance"


def install_node_station() -> Path:
    """`npm ci` from the committed lock file, once; the tests never rely on a hand install."""
    modules = NODE_PACKAGE / "node_modules" / "ocpp-rpc"
    lock = NODE_PACKAGE / "package-lock.json"
    stamp = NODE_PACKAGE / "node_modules" / ".installed"
    if not (modules.exists() and stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime):
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is required for the conformance tests (node 18+)")
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_PACKAGE, check=True, timeout=180
        )
        stamp.touch()
    return NODE_PACKAGE / "station.mjs"


def wire(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def a_station_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class RpcError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class NodeStation:
    """One ocpp-rpc charge point process."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self._next = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.calls: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self.frames: list[Any] = []
        self._frame_seen = asyncio.Event()
        self.opened = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            msg = json.loads(line)
            if "id" in msg:
                self._pending.pop(msg["id"]).set_result(msg)
            elif msg.get("event") == "call":
                self.calls.put_nowait((msg["method"], msg["params"]))
            elif msg.get("event") == "in":
                self.frames.append(json.loads(msg["message"]) if msg["message"].startswith("[") else msg["message"])
                self._frame_seen.set()
            elif msg.get("event") == "open":
                self.opened.set()

    async def _send(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self._next += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[self._next] = future
        self.proc.stdin.write((json.dumps({**request, "id": self._next}) + "\n").encode())
        await self.proc.stdin.drain()
        return await asyncio.wait_for(future, TIMEOUT)

    async def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        answer = await self._send({"op": "call", "method": method, "params": params})
        if "error" in answer:
            raise RpcError(answer["error"]["code"], answer["error"]["message"])
        result: dict[str, Any] = answer["result"]
        return result

    def handle(self, method: str, response: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"op": "handle", "method": method, "response": response}) + "\n").encode())

    async def raw(self, frame: str, answer_id: str) -> list[Any]:
        """Sends a frame as is; returns the CallError the gateway answers with (id `answer_id`)."""
        await self._send({"op": "raw", "frame": frame})
        async with asyncio.timeout(TIMEOUT):
            while True:
                for f in self.frames:
                    if isinstance(f, list) and f[0] == 4 and f[1] == answer_id:
                        self.frames.remove(f)
                        return f
                self._frame_seen.clear()
                await self._frame_seen.wait()

    async def next_call(self, method: str) -> dict[str, Any]:
        async with asyncio.timeout(TIMEOUT):
            while True:
                name, params = await self.calls.get()
                if name == method:
                    return params


@contextlib.asynccontextmanager
async def node_station(runtime: Runtime, station_id: str, protocol: str) -> AsyncIterator[NodeStation]:
    script = install_node_station()
    await asyncio.wait_for(gateway_of(runtime).server.listening.wait(), TIMEOUT)
    port = runtime.settings.ocpp_port  # type: ignore[attr-defined]
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(script),
        f"ws://127.0.0.1:{port}/ocpp",
        station_id,
        protocol,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=NODE_PACKAGE,
    )
    station = NodeStation(proc)
    try:
        await asyncio.wait_for(station.opened.wait(), TIMEOUT)
        yield station
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        station._reader.cancel()


async def open_node_station(runtime: Runtime, station_id: str, protocol: str) -> NodeStation:
    """A station kept open across several tests; `close_node_station` ends it."""
    opening = node_station(runtime, station_id, protocol)
    station = await opening.__aenter__()
    _open_stations[id(station)] = opening
    return station


async def close_node_station(station: NodeStation) -> None:
    await _open_stations.pop(id(station)).__aexit__(None, None, None)


_open_stations: dict[int, contextlib.AbstractAsyncContextManager[NodeStation]] = {}


class KafkaTap:
    """Every event the gateway publishes, read once from the beginning and kept in memory."""

    def __init__(self, kafka: str) -> None:
        self.kafka = kafka
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._arrived = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        topics = [t.name for t in TOPICS.values() if GATEWAY in t.publishers]
        self._consumer = AIOKafkaConsumer(
            *topics, bootstrap_servers=self.kafka, group_id=None, auto_offset_reset="earliest"
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=100)
            for tp, records in batches.items():
                for record in records:
                    envelope = json.loads(record.value)
                    self.events.append((tp.topic, {**envelope["payload"], "_type": envelope["type"]}))
            if batches:
                self._arrived.set()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer:
            await self._consumer.stop()

    async def wait(self, topic: str, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        async with asyncio.timeout(TIMEOUT):
            while True:
                for t, payload in self.events:
                    if t == topic and match(payload):
                        return payload
                self._arrived.clear()
                await self._arrived.wait()

    def all(self, topic: str, match: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        return [p for t, p in self.events if t == topic and match(p)]


def for_station(station_id: str, **fields: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda p: p.get("station_id") == station_id and all(p.get(k) == v for k, v in fields.items())


async def publish(kafka: str, topic: str, payload: Any, source: str, key: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka, enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, envelope_json(payload, source=source, occurred_at=datetime.now(UTC)), key=key.encode()
        )
    finally:
        await producer.stop()


async def issue(kafka: str, command: Any) -> StationCommandIssued:
    issued = StationCommandIssued(command_id=uuid.uuid4().hex, station_id=command.station_id, command=command)
    await publish(kafka, "station.commands", issued, "energy-manager", command.station_id)
    return issued


async def outcome(tap: KafkaTap, issued: StationCommandIssued) -> dict[str, Any]:
    return await tap.wait("station.command-results", lambda p: p["command_id"] == issued.command_id)
