"""The kill test (issue: Foundation, must show 2).

A numbered stream of N reservations goes through the reservation API's transactional outbox while
a consumer process handles them. The consumer's handler is deliberately not idempotent (a plain
INSERT without a unique key: chargeyard_devstack.probe), so anything applied twice would show.
Mid-stream the consumer is SIGKILLed and restarted; then the publishing service is made to SIGKILL
itself after publishing a batch and before marking it sent (fault injection in the outbox relay),
and is restarted. Afterwards the consumer's database must hold exactly the set 1..N, each once.
Runs on SQLite and on PostgreSQL; Tansu keeps memory only, so it is never the process killed.
"""

from __future__ import annotations

import asyncio
import collections
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer
from chargeyard_contracts import Envelope
from chargeyard_devstack.probe import applied
from chargeyard_devstack.stack import SERVICES, ServiceProcess, Stack, StackConfig, free_port
from chargeyard_platform.db import Database

from .conftest import POSTGRES_DSN

N = 150
RESERVATIONS = next(s for s in SERVICES if s.name == "reservation-api")
PROBE = ServiceProcess("kill-probe", "chargeyard_devstack.probe", "PROBE_", 8090)


async def post_until_accepted(
    client: httpx.AsyncClient, stack: Stack, n: int, run: str, restarts: collections.Counter[str]
) -> str:
    """Retries through the publisher's restarts; the Idempotency-Key makes a retry safe."""
    # Tomorrow, whatever today is: a fixed date became a past one, and the reservation API's sweep
    # then released all 60 as no-shows at its restart, publishing more than the fault allows.
    arrival = (datetime.now(UTC) + timedelta(days=1)).replace(hour=7, minute=0, second=0, microsecond=0)
    body = {
        "site_id": f"kill-{run}",
        "arrival": arrival.isoformat(),
        "departure": (arrival + timedelta(hours=9)).isoformat(),
        "energy_wh": 1000 + n,
    }
    for _ in range(300):
        try:
            response = await client.post(
                f"{stack.url('reservation-api')}/v1/reservations", json=body, headers={"Idempotency-Key": f"{run}-{n}"}
            )
            if response.status_code in (200, 201):
                return str(response.json()["id"])
            response.raise_for_status()
        except httpx.TransportError:
            pass
        restarts["reservation-api"] += restart_if_dead(stack, "reservation-api")
        await asyncio.sleep(0.1)
    raise TimeoutError(f"reservation {n} was never accepted")


def restart_if_dead(stack: Stack, name: str) -> bool:
    process = stack.processes.get(name)
    if process is not None and process.poll() is not None:
        stack.start_service(name)  # without the fault this time
        return True
    return False


async def applied_counts(url: str, ids: set[str]) -> collections.Counter[str]:
    db = Database.connect(url)
    try:
        async with db.sessions() as session:
            rows = (await session.execute(sa.select(applied.c.reservation_id))).scalars().all()
    finally:
        await db.dispose()
    return collections.Counter(r for r in rows if r in ids)


async def duplicates_on_topic(bootstrap: str, ids: set[str]) -> int:
    consumer = AIOKafkaConsumer(
        "reservation.created",
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"audit-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: collections.Counter[str] = collections.Counter()
    try:
        idle = 0
        while idle < 3:
            batch = await consumer.getmany(timeout_ms=1000)
            idle = 0 if batch else idle + 1
            for records in batch.values():
                for record in records:
                    envelope = Envelope.model_validate_json(record.value or b"")
                    if envelope.payload["reservation_id"] in ids:
                        seen[str(envelope.event_id)] += 1
    finally:
        await consumer.stop()
    return sum(count - 1 for count in seen.values())


@pytest.mark.asyncio
@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_kill_consumer_and_publisher_mid_stream_each_event_applied_once(database: str, run_dir: Path) -> None:
    run = uuid.uuid4().hex[:8]
    stack = Stack(
        StackConfig(
            run_dir=run_dir,
            kafka_port=free_port(),
            port_offset=1000 + (free_port() % 500),
            postgres_dsn=POSTGRES_DSN if database == "postgres" else None,
            database_prefix=f"kill_{run}_",
            services=(RESERVATIONS, PROBE),
        )
    )
    try:
        await stack.start()
        ids: dict[int, str] = {}
        restarts: collections.Counter[str] = collections.Counter()
        async with httpx.AsyncClient(timeout=5, headers=stack.admin_headers) as client:
            # Phase 1: the consumer dies mid-stream and comes back while events keep coming.
            for n in range(1, 61):
                ids[n] = await post_until_accepted(client, stack, n, run, restarts)
                if n == 20:
                    await asyncio.sleep(0.3)  # let it be mid-way through handling
                    stack.kill_service("kill-probe")
                if n == 40:
                    stack.start_service("kill-probe")
            # Phase 2: the publisher dies after publishing and before marking sent.
            stack.kill_service("reservation-api")
            stack.start_service("reservation-api", {"RESERVATIONS_FAULT_KILL_AFTER_PUBLISH": "25"})
            await stack.wait_ready(["reservation-api"], 60)
            for n in range(61, N + 1):
                ids[n] = await post_until_accepted(client, stack, n, run, restarts)
            for _ in range(50):
                restarts["reservation-api"] += restart_if_dead(stack, "reservation-api")
                await asyncio.sleep(0.1)
            assert restarts["reservation-api"] == 1, "the publisher never hit its fault: nothing was tested"

        wanted = set(ids.values())
        assert len(wanted) == N, "an Idempotency-Key retry created a second reservation"
        probe_url = stack.database_url(PROBE)
        deadline = asyncio.get_running_loop().time() + 90
        counts = await applied_counts(probe_url, wanted)
        while set(counts) != wanted and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.5)
            counts = await applied_counts(probe_url, wanted)

        missing = sorted(n for n, rid in ids.items() if counts[rid] == 0)
        twice = sorted(n for n, rid in ids.items() if counts[rid] > 1)
        assert missing == [], f"never applied: {missing}"
        assert twice == [], f"applied more than once: {twice}"
        # The fault really published some events twice; the consumer still applied them once.
        assert await duplicates_on_topic(stack.broker.bootstrap, wanted) > 0
    finally:
        stack.stop()
        await stack.drop_databases()
