"""The bus against the real broker (Tansu) and both databases: outbox, dedup, dead letters."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from chargeyard_contracts import DEAD_LETTER_TOPIC, Envelope, ReservationCreated
from chargeyard_contracts.registry import RESERVATIONS
from chargeyard_devstack.probe import applied, probe_runtime
from chargeyard_devstack.stack import Broker
from chargeyard_platform.bus import ensure_topics
from chargeyard_platform.runtime import Runtime
from chargeyard_platform.settings import ServiceSettings

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


def a_reservation(n: int | str, **changes: object) -> ReservationCreated:
    fields: dict[str, object] = dict(
        reservation_id=f"r-{n}",
        site_id=f"site-{uuid.uuid4().hex[:6]}",
        arrival=NOW,
        departure=NOW + timedelta(hours=4),
        energy_wh=10_000,
        max_power_w=11_000,
        created_at=NOW,
    )
    fields.update(changes)
    return ReservationCreated.model_validate(fields)


def a_probe(db_url: str, broker: Broker, group: str) -> Runtime:
    settings = ServiceSettings(
        database_url=db_url,
        kafka_bootstrap_servers=broker.bootstrap,
        http_port=1,
        kafka_group_id=group,
        consumer_retries=1,
    )
    # Named as a real publisher of reservation.created so the outbox lets it publish there.
    return probe_runtime(settings, name=RESERVATIONS)


async def applied_ids(runtime: Runtime, marker: str) -> list[str]:
    """What this test applied (the topic also holds earlier tests' events: fresh groups read from earliest)."""
    async with runtime.db.sessions() as session:
        query = sa.select(applied.c.reservation_id).where(applied.c.reservation_id.like(f"r-{marker}-%"))
        return sorted((await session.execute(query)).scalars())


async def wait_for(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.1)


@pytest.mark.asyncio
async def test_outbox_events_are_applied_once_and_bad_ones_are_dead_lettered(db_url: str, broker: Broker) -> None:
    await ensure_topics(broker.bootstrap)
    group = f"probe-{uuid.uuid4().hex[:8]}"
    runtime = a_probe(db_url, broker, group)
    await runtime.start()
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=False)
    await producer.start()
    dead = AIOKafkaConsumer(
        DEAD_LETTER_TOPIC, bootstrap_servers=broker.bootstrap, group_id=f"{group}-dlq", auto_offset_reset="earliest"
    )
    await dead.start()
    try:
        marker = uuid.uuid4().hex[:8]
        # 1. Through the outbox, in a transaction, as a service would.
        async with runtime.db.transaction() as session:
            first = await runtime.outbox.add(session, a_reservation(f"{marker}-1"))
        runtime.wake_relay()
        # 2. The same envelope again (a relay that died before marking it sent).
        await producer.send_and_wait("reservation.created", first.model_dump_json().encode(), key=b"k")
        # 3. Not JSON at all, and 4. a payload that breaks its schema.
        await producer.send_and_wait("reservation.created", b"{not json", key=marker.encode())
        bad = json.loads(Envelope.wrap(a_reservation(f"{marker}-3"), source="test", occurred_at=NOW).model_dump_json())
        bad["payload"]["energy_wh"] = -5
        await producer.send_and_wait("reservation.created", json.dumps(bad).encode(), key=marker.encode())
        # 5. A handler that keeps failing, and 6. a good event after all of them: the consumer carries on.
        explodes = Envelope.wrap(a_reservation(f"{marker}-4", vehicle_id="explodes"), source="test", occurred_at=NOW)
        await producer.send_and_wait("reservation.created", explodes.model_dump_json().encode(), key=marker.encode())
        last = Envelope.wrap(a_reservation(f"{marker}-2"), source="test", occurred_at=NOW)
        await producer.send_and_wait("reservation.created", last.model_dump_json().encode(), key=marker.encode())

        async def both_applied() -> bool:
            return await applied_ids(runtime, marker) == [f"r-{marker}-1", f"r-{marker}-2"]

        await wait_for(both_applied)

        reasons: list[str] = []
        deadline = asyncio.get_running_loop().time() + 20
        while len(reasons) < 3 and asyncio.get_running_loop().time() < deadline:
            for records in (await dead.getmany(timeout_ms=500)).values():
                for r in records:
                    headers = {k: v.decode() for k, v in r.headers}
                    if headers["consumer"] == RESERVATIONS and r.key == marker.encode():
                        reasons.append(headers["reason"])
                        assert headers["original-topic"] == "reservation.created"
        assert len(reasons) == 3, reasons
        assert any("schema" in r and "Invalid JSON" in r for r in reasons)
        assert any("schema" in r and "energy_wh" in r for r in reasons)
        assert any("handler" in r and "exploding" in r for r in reasons)
        assert await applied_ids(runtime, marker) == [f"r-{marker}-1", f"r-{marker}-2"], "applied twice"
    finally:
        await dead.stop()
        await producer.stop()
        await runtime.stop()


@pytest.mark.asyncio
async def test_a_service_may_only_publish_on_its_own_topics(db_url: str, broker: Broker) -> None:
    from chargeyard_contracts import ScheduleUpdated
    from chargeyard_platform.bus import UnauthorisedPublisher

    runtime = a_probe(db_url, broker, f"probe-{uuid.uuid4().hex[:8]}")
    await runtime.db.migrate(runtime.spec.migrations)
    plan = ScheduleUpdated(
        site_id="s",
        plan_id="p",
        time_zone="Europe/Berlin",
        horizon_start=NOW,
        horizon_end=NOW,
        slot_seconds=900,
        site_limit_w=1,
        strategy="fcfs",
        solver_status="Optimal",
        solve_ms=1,
    )
    try:
        async with runtime.db.transaction() as session:
            with pytest.raises(UnauthorisedPublisher, match=r"reservation-api may not publish on schedule\.updated"):
                await runtime.outbox.add(session, plan)
    finally:
        await runtime.db.dispose()


@pytest.mark.asyncio
async def test_a_woken_relay_lingers_so_a_trickle_of_commits_goes_out_in_one_pass(db_url: str, broker: Broker) -> None:
    await ensure_topics(broker.bootstrap)
    settings = ServiceSettings(
        database_url=db_url,
        kafka_bootstrap_servers=broker.bootstrap,
        http_port=1,
        kafka_group_id=f"probe-{uuid.uuid4().hex[:8]}",
        outbox_poll_interval_s=30,  # only the commits' wake-ups drive the relay here
        outbox_linger_s=0.5,
    )
    runtime = probe_runtime(settings, name=RESERVATIONS)
    await runtime.start()
    try:
        await asyncio.sleep(0.2)  # the relay's first pass (an empty outbox) is behind it
        assert runtime.relay is not None
        start = runtime.relay.published
        marker = uuid.uuid4().hex[:8]
        for n in (1, 2):
            async with runtime.db.transaction() as session:
                await runtime.outbox.add(session, a_reservation(f"{marker}-{n}"))
            runtime.wake_relay()
            await asyncio.sleep(0.1)
        assert runtime.relay.published == start  # the first commit's wake-up is lingering

        async def both_published() -> bool:
            return runtime.relay is not None and runtime.relay.published == start + 2

        await wait_for(both_published, timeout=5)
    finally:
        await runtime.stop()
