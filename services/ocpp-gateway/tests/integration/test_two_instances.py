"""Two gateway processes share one fleet through PostgreSQL; one is SIGKILLed mid-run.

The way production runs it: one Tansu, one PostgreSQL database, two `python -m chargeyard_gateway`
processes (devstack's Stack, prod profile: stations must authenticate), simulated stations behind
a TCP balancer standing in for the ingress (each new connection goes to the next instance that
accepts it). Shown:
- the stations spread over both instances; each command on station.commands, whichever instance
  consumed its partition, is delivered by the instance holding the station's socket;
- after SIGKILL of one instance its stations reconnect through the balancer to the survivor;
  commands issued during the outage end Accepted after the reconnect, meter values keep flowing
  and transactions keep their ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from chargeyard_contracts.commands import SchedulePeriod, SetChargingProfile, StationCommandIssued
from chargeyard_contracts.registry import GATEWAY, TOPICS
from chargeyard_devstack.stack import ServiceProcess, Stack, StackConfig, free_port
from chargeyard_devstack.testing import TEST_JWT_SECRET, as_role, postgres_database, tansu
from chargeyard_platform.bus import ensure_topics, envelope_json
from chargeyard_simulator import Car, ScaledClock, Station, StationConfig

pytestmark = pytest.mark.asyncio

A = ServiceProcess("ocpp-gateway", "chargeyard_gateway", "GATEWAY_", free_port())
B = ServiceProcess("ocpp-gateway-b", "chargeyard_gateway", "GATEWAY_", free_port())
INSTANCE = {A.name: "gw-a", B.name: "gw-b"}


class Balancer:
    """A TCP proxy: each new connection goes to the next backend that accepts it (round robin)."""

    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self._next = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, backlog=512)
        return int(self._server.sockets[0].getsockname()[1])

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first, self._next = self._next, (self._next + 1) % len(self.backends)
        for attempt in range(len(self.backends)):
            port = self.backends[(first + attempt) % len(self.backends)]
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue  # that instance is down: the next one
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
            return
        writer.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()


class Tap:
    """Every gateway event, read from the beginning while the test runs."""

    def __init__(self, kafka: str) -> None:
        self.kafka = kafka
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._consumer = AIOKafkaConsumer(
            *[t.name for t in TOPICS.values() if GATEWAY in t.publishers],
            bootstrap_servers=kafka,
            group_id=None,
            auto_offset_reset="earliest",
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            for tp, records in (await self._consumer.getmany(timeout_ms=100)).items():
                self.events.extend((tp.topic, json.loads(r.value)["payload"]) for r in records)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    def all(self, topic: str, match: Callable[[dict[str, Any]], bool] = lambda p: True) -> list[dict[str, Any]]:
        return [p for t, p in self.events if t == topic and match(p)]


async def until(what: str, check: Callable[[], Any], within: float) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.2)


def a_profile(station_id: str, profile_id: int, limit_a: float) -> StationCommandIssued:
    command = SetChargingProfile(
        station_id=station_id,
        evse_id=1,
        profile_id=profile_id,
        purpose="TxDefaultProfile",
        stack_level=2,
        unit="A",
        start=datetime.now(UTC),
        periods=(SchedulePeriod(start_offset_s=0, limit=limit_a),),
    )
    return StationCommandIssued(command_id=uuid.uuid4().hex, station_id=station_id, command=command)


async def publish(kafka: str, commands: list[StationCommandIssued]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka, enable_idempotence=False)
    await producer.start()
    try:
        for command in commands:
            await producer.send_and_wait(
                "station.commands",
                envelope_json(command, source="energy-manager", occurred_at=datetime.now(UTC)),
                key=command.station_id.encode(),
            )
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def gateways(run_dir: Path, kafka_port: int, database_url: str) -> AsyncIterator[tuple[Stack, dict[str, int]]]:
    stack = Stack(
        StackConfig(
            run_dir=run_dir,
            kafka_port=kafka_port,
            services=(A, B),
            profile="prod",
            extra_env={
                "GATEWAY_DATABASE_URL": database_url,
                "GATEWAY_ACCEPT_UNKNOWN_TOKENS": "true",
                "GATEWAY_COMMAND_TIMEOUT_S": "10",
                "GATEWAY_OFFLINE_GRACE_S": "60",
                "GATEWAY_CONNECTION_REFRESH_S": "2",
                "GATEWAY_PING_INTERVAL_S": "2",
                "GATEWAY_PING_TIMEOUT_S": "2",
                "GATEWAY_LOG_LEVEL": "INFO",
                "GATEWAY_JWT_SECRET": TEST_JWT_SECRET,
            },
        )
    )
    ports = {A.name: free_port(), B.name: free_port()}
    try:
        for service in (A, B):
            stack.start_service(
                service.name,
                {"GATEWAY_OCPP_PORT": str(ports[service.name]), "GATEWAY_INSTANCE_ID": INSTANCE[service.name]},
            )
        await stack.wait_ready([A.name, B.name], 45)
        yield stack, ports
    finally:
        stack.stop()


async def holders(database_url: str) -> dict[str, str]:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        return {
            r["station_id"]: r["instance_id"]
            for r in await conn.fetch("SELECT station_id, instance_id FROM connections")
        }
    finally:
        await conn.close()


async def deliveries(database_url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        return {
            r["command_id"]: r
            for r in await conn.fetch(
                "SELECT command_id, station_id, outcome, instance_id, recorded_by FROM station_commands"
            )
        }
    finally:
        await conn.close()


async def test_two_instances_share_the_fleet_and_survive_a_kill(tmp_path: Path) -> None:
    async with postgres_database("gw_2i") as database_url:
        with tansu(tmp_path) as broker:
            await ensure_topics(broker.bootstrap)
            async with gateways(tmp_path, broker.port, database_url) as (stack, ports):
                try:
                    await run_scenario(stack, ports, broker.bootstrap, database_url)
                except BaseException:
                    for name in (A.name, B.name):
                        log = (tmp_path / "logs" / f"{name}.log").read_text(errors="replace")
                        print(f"--- {name} (last 60 lines)\n" + "\n".join(log.splitlines()[-60:]))
                    raise


async def run_scenario(stack: Stack, ports: dict[str, int], kafka: str, database_url: str) -> None:
    # Credentials live in the shared database: registered through A, checked by both (prod profile).
    passwords = {f"TWO-{v}-{i}-{uuid.uuid4().hex[:4]}": secrets.token_hex(12) for i, v in enumerate(["16", "201"] * 3)}
    async with httpx.AsyncClient(base_url=stack.url(A.name), timeout=10, headers=as_role("site_operator")) as http:
        for station_id, password in passwords.items():
            created = await http.put(f"/v1/stations/{station_id}", json={"security_profile": 1, "password": password})
            assert created.status_code == 201, created.text

    balancer = Balancer([ports[A.name], ports[B.name]])
    front = await balancer.start()
    tap = Tap(kafka)
    await tap.start()
    fleet = [
        Station(
            StationConfig(
                station_id=station_id,
                ocpp_version="1.6" if "-16-" in station_id else "2.0.1",
                url=f"ws://{station_id}:{password}@127.0.0.1:{front}/ocpp",
                meter_interval_s=1,
                heartbeat_interval_s=5,
                reconnect_min_s=0.2,
                reconnect_max_s=1.0,
            ),
            ScaledClock(1),
        )
        for station_id, password in passwords.items()
    ]
    runs = [asyncio.create_task(s.run()) for s in fleet]
    try:
        await asyncio.wait_for(asyncio.gather(*(s.wait_connected() for s in fleet)), 20)
        for station in fleet:
            station.plug_in(1, Car(60_000, 20, 11_000, phases=3, target_soc=90), "TAG-TWO")
        spread = await until("every station held", lambda: _all_held(database_url, passwords), 15)
        assert set(spread.values()) == {"gw-a", "gw-b"}, spread

        # Round 1: each command reaches its station through the instance that holds it.
        first = [a_profile(s, profile_id=11, limit_a=16) for s in passwords]
        await publish(kafka, first)
        await until("round 1 answered", lambda: _answered(tap, first), 30)
        outcomes = {p["command_id"]: p["outcome"] for p in _answered(tap, first)}
        assert set(outcomes.values()) == {"Accepted"}, outcomes
        rows = await deliveries(database_url)
        for command in first:
            assert rows[command.command_id]["instance_id"] == spread[command.station_id]
        crossed = sum(rows[c.command_id]["recorded_by"] != rows[c.command_id]["instance_id"] for c in first)
        print(f"round 1: {crossed} of {len(first)} commands consumed by one instance and delivered by the other")

        tx_before = {s: await until(f"{s} transaction", lambda s=s: _tx_of(tap, s), 20) for s in passwords}
        victims = [s for s, holder in spread.items() if holder == "gw-a"]

        # SIGKILL A: no goodbye to anyone (its consumer's partitions move after the session timeout).
        killed_at = datetime.now(UTC)
        stack.kill_service(A.name)
        second = [a_profile(s, profile_id=12, limit_a=10) for s in passwords]
        await publish(kafka, second)

        moved = await until("A's stations on B", lambda: _all_held(database_url, passwords, only="gw-b"), 30)
        assert set(moved.values()) == {"gw-b"}
        await until("round 2 answered", lambda: _answered(tap, second), 45)
        outcomes = {p["command_id"]: (p["outcome"], p.get("detail")) for p in _answered(tap, second)}
        assert {o for o, _ in outcomes.values()} == {"Accepted"}, outcomes
        for station in fleet:
            limits = {p.id: p for p in station.installed_profiles(1)}
            assert 12 in limits, (station.id, limits)

        # Meter values keep flowing, under the same transaction ids, for the stations that moved too.
        for station_id in passwords:
            await until(
                f"{station_id} meter values after the kill",
                lambda s=station_id: [
                    p
                    for p in tap.all("meter.values", lambda p, s=s: p["station_id"] == s)
                    if datetime.fromisoformat(p["received_at"]) > killed_at
                ],
                20,
            )
            after = [
                p["transaction_id"]
                for p in tap.all("meter.values", lambda p, s=station_id: p["station_id"] == s)
                if datetime.fromisoformat(p["received_at"]) > killed_at and p["transaction_id"]
            ]
            assert after and set(after) == {tx_before[station_id]}, (station_id, tx_before[station_id], set(after))
        started = tap.all("transaction.events", lambda p: p["kind"] == "Started")
        assert sorted(p["station_id"] for p in started) == sorted(passwords), "one transaction per station, once"
        assert victims, "A held none of the stations"
    finally:
        for station in fleet:
            station.stop()
        await asyncio.gather(*runs, return_exceptions=True)
        await tap.stop()
        await balancer.stop()


async def _all_held(database_url: str, stations: dict[str, str], only: str | None = None) -> dict[str, str] | None:
    held = await holders(database_url)
    if all(s in held and (only is None or held[s] == only) for s in stations):
        return {s: held[s] for s in stations}
    return None


def _answered(tap: Tap, commands: list[StationCommandIssued]) -> list[dict[str, Any]] | None:
    ids = {c.command_id for c in commands}
    found = tap.all("station.command-results", lambda p: p["command_id"] in ids)
    return found if len({p["command_id"] for p in found}) == len(ids) else None


def _tx_of(tap: Tap, station_id: str) -> str | None:
    for p in tap.all("meter.values", lambda p: p["station_id"] == station_id and p["transaction_id"]):
        return str(p["transaction_id"])
    return None
