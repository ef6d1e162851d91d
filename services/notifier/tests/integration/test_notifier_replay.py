"""Must show 3 for the notifier: the service on a real Tansu broker and a real PostgreSQL
database; replaying the same events (the same envelopes again, and the same facts under new
event ids, as a republish would) changes no notification, delivery or e-mail count."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from chargeyard_contracts import Envelope
from chargeyard_contracts.registry import topic_of
from chargeyard_contracts.stations import FirmwareStatusChanged
from chargeyard_devstack.testing import postgres_database, tansu
from chargeyard_notifier.adapters.orm import deliveries, notifications
from chargeyard_notifier.bootstrap import bootstrap
from chargeyard_notifier.config import Settings
from chargeyard_platform.bus import ensure_topics
from chargeyard_platform.clock import FixedClock
from chargeyard_platform.db import Database, outbox_table, processed_events_table
from notifier_builders import (
    OPERATOR_EMAILS,
    T0,
    FakeDirectory,
    a_charge,
    a_conflict,
    a_reservation,
    a_schedule,
    a_status,
    an_update,
    at,
)
from prometheus_client import REGISTRY
from pydantic import BaseModel

DEADLINE_S = 60.0


@dataclass
class RecordingMailer:
    sent: list[tuple[str, str]] = field(default_factory=list)

    async def send(self, *, to: str, subject: str, body: str, message_id: str) -> None:
        self.sent.append((to, subject))


def a_charge_with_trouble() -> list[BaseModel]:
    return [
        a_reservation(),
        a_schedule(a_charge()),
        an_update("scheduled", updated_at=at(0.1)),
        a_conflict(),
        an_update("conflict", updated_at=at(0.2)),
        an_update("scheduled", updated_at=at(0.3)),
        an_update("charging", updated_at=at(1)),
        a_status("Faulted", error_code="GroundFailure", received_at=at(1.5)),
        a_status("Available", received_at=at(1.6)),
        an_update("charging", updated_at=at(3), delivered_wh=30_000),
        an_update("completed", updated_at=at(3.5), delivered_wh=30_000),
        FirmwareStatusChanged(station_id="CP-1", status="DownloadFailed", received_at=at(4)),
    ]


async def counts(db: Database) -> dict[str, int]:
    async with db.sessions() as session:

        async def count(table: sa.Table) -> int:
            return int((await session.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())

        return {
            "notifications": await count(notifications),
            "deliveries": await count(deliveries),
            "notification.sent": await count(outbox_table),
            "processed": await count(processed_events_table),
        }


async def wait_for(what: str, done: Callable[[], Awaitable[bool]]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not await done():
        assert time.monotonic() < deadline, f"{what} within {DEADLINE_S} s"
        await asyncio.sleep(0.2)


@pytest.mark.asyncio
async def test_replaying_the_same_events_changes_no_notification_count(tmp_path: Path) -> None:
    events = a_charge_with_trouble()
    with tansu(tmp_path) as broker:
        await ensure_topics(broker.bootstrap)
        async with postgres_database() as url:
            settings = Settings(  # type: ignore[call-arg]
                database_url=url,
                kafka_bootstrap_servers=broker.bootstrap,
                kafka_group_id=f"notifier-{uuid.uuid4().hex[:6]}",
                operator_emails=",".join(OPERATOR_EMAILS),
                dispatch_interval_s=0.1,
            )
            mailer = RecordingMailer()
            runtime = bootstrap(settings, clock=FixedClock(T0), mailer=mailer, directory=FakeDirectory())
            producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
            await runtime.start()
            await producer.start()
            try:

                async def consumed() -> float:
                    return sum(
                        sample.value
                        for metric in REGISTRY.collect()
                        if metric.name == "chargeyard_events_consumed"
                        for sample in metric.samples
                        if sample.name.endswith("_total") and sample.labels["outcome"] in ("applied", "duplicate")
                    )

                async def publish(envelopes: list[Envelope]) -> None:
                    """One by one, each consumed before the next: the events span several topics,
                    whose relative order Kafka does not keep, and the story needs its order."""
                    for event, envelope in zip(events, envelopes, strict=True):
                        topic = topic_of(type(event))
                        seen = await consumed()
                        await producer.send_and_wait(
                            topic.name, envelope.model_dump_json().encode(), key=topic.key_of(event).encode()
                        )

                        async def taken(seen: float = seen) -> bool:
                            return await consumed() > seen

                        await wait_for(f"{envelope.type} consumed", taken)

                def wrapped() -> list[Envelope]:
                    return [Envelope.wrap(e, source=min(topic_of(type(e)).publishers), occurred_at=T0) for e in events]

                first = wrapped()
                await publish(first)

                async def mailed() -> bool:
                    return len(mailer.sent) >= 11

                await wait_for("every e-mail sent", mailed)
                before = await counts(runtime.db)
                mails = sorted(mailer.sent)
                # The charge told the driver (requested, scheduled, conflict offer, charging started,
                # station fault, energy reached, completed) and the operators (fault, firmware).
                async with runtime.db.sessions() as session:
                    kinds = sorted((await session.execute(sa.select(notifications.c.kind))).scalars())
                assert kinds == sorted(
                    [
                        "reservation.requested",
                        "reservation.scheduled",
                        "reservation.conflict",
                        "charging.started",
                        "reservation.station_fault",
                        "charging.energy_reached",
                        "charging.completed",
                        "alert.station_faulted",
                        "alert.firmware_failed",
                    ]
                )
                assert [to for to, _ in mails].count("driver@example.com") == 7
                assert sorted(to for to, _ in mails if to != "driver@example.com") == sorted(OPERATOR_EMAILS * 2)
                assert before["processed"] == len(events)

                await publish(first)  # the same envelopes again: the consumer knows their ids
                await publish(wrapped())  # the same facts under new ids: a republish, a rebuild
                await asyncio.sleep(2 * settings.dispatch_interval_s)  # a dispatch pass that could send more

                after = await counts(runtime.db)
                assert after["processed"] == 2 * len(events)  # the new ids were applied ...
                assert {k: after[k] for k in after if k != "processed"} == {
                    k: before[k] for k in before if k != "processed"
                }  # ... and told nothing new
                assert sorted(mailer.sent) == mails
            finally:
                await producer.stop()
                await runtime.stop()
