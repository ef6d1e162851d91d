"""The bus: typed publishing through a transactional outbox, and idempotent consumers.

Publishing: a handler or an API call adds events to the outbox in the same transaction as its
state change (`Outbox.add`); the `OutboxRelay` publishes committed rows and marks them sent.
A crash between publishing and marking publishes a row twice: delivery is at-least-once.

Consuming: `Consumer` reads its service's topics in one consumer group, checks each envelope
and payload against libs/contracts, and runs the handler in a transaction that also records the
event id in processed_events, so a redelivered event is applied once. Offsets are committed only
after that transaction. An event that fails its schema, or whose handler keeps failing after the
retries, goes to the dead-letter topic with the reason, and the consumer carries on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from chargeyard_contracts import DEAD_LETTER_TOPIC, TOPICS, Envelope, decode, registration_of
from chargeyard_contracts.registry import RETENTION_MS, Retention
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from . import metrics
from .clock import Clock
from .db import Database, outbox_table, processed_events_table

log = logging.getLogger(__name__)

E = TypeVar("E", bound=BaseModel)


class UnauthorisedPublisher(PermissionError):
    pass


class Outbox:
    """Adds events to the service's outbox inside the caller's transaction."""

    def __init__(self, source: str, clock: Clock) -> None:
        self.source = source
        self.clock = clock

    async def add(self, session: AsyncSession, payload: BaseModel, *, correlation_id: str | None = None) -> Envelope:
        envelope, row = self._row(payload, correlation_id)
        await session.execute(outbox_table.insert().values(**row))
        return envelope

    async def add_many(self, session: AsyncSession, payloads: Sequence[BaseModel]) -> None:
        """Many events in one INSERT (executemany)."""
        await self.add_rows(session, self.rows(payloads))

    def rows(self, payloads: Sequence[BaseModel]) -> list[dict[str, Any]]:
        """Outbox rows built before the transaction that writes them (`add_rows`). A group commit
        (batching.py) builds each message's rows as it arrives: built inside the flush, a batch
        of 1,000 events held the event loop for ~50 ms of envelope serialisation at once. Only the
        envelope's JSON is made (`Envelope.wrap_json`), not the Envelope."""
        rows = []
        for payload in payloads:
            topic = self._topic_of(payload)
            now = self.clock.now()
            event_id, key, envelope = Envelope.wrap_json(payload, source=self.source, occurred_at=now)
            rows.append(_outbox_row(event_id, topic, key, envelope, now))
        return rows

    async def add_rows(self, session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await session.execute(outbox_table.insert(), list(rows))

    async def write_rows(self, db: Database, rows: Sequence[dict[str, Any]]) -> None:
        """Rows built ahead, committed in a transaction of their own (`Database.write_batch`)."""
        await db.write_batch(outbox_table.insert(), rows)

    def _topic_of(self, payload: BaseModel) -> str:
        topic = registration_of(type(payload)).topic
        if self.source not in topic.publishers:
            raise UnauthorisedPublisher(f"{self.source} may not publish on {topic.name}")
        return topic.name

    def _row(self, payload: BaseModel, correlation_id: str | None) -> tuple[Envelope, dict[str, Any]]:
        topic = self._topic_of(payload)
        envelope = Envelope.wrap(
            payload, source=self.source, occurred_at=self.clock.now(), correlation_id=correlation_id
        )
        return envelope, _outbox_row(
            envelope.event_id, topic, envelope.key, envelope.model_dump_json(), envelope.occurred_at
        )


def _outbox_row(event_id: uuid.UUID, topic: str, key: str, envelope: str, created_at: datetime) -> dict[str, Any]:
    return {"event_id": str(event_id), "topic": topic, "key": key, "envelope": envelope, "created_at": created_at}


def kafka_producer(bootstrap: str, client_id: str, *, idempotent: bool = False) -> AIOKafkaProducer:
    # Idempotence is off by default: Tansu's memory build refuses InitProducerId. On Apache Kafka
    # the setting turns it on (no duplicates from producer retries; acks=all, which it needs, is
    # already set). Consumers deduplicate by event id either way: the outbox relay can resend.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, client_id=client_id, acks="all", enable_idempotence=idempotent, linger_ms=0
    )


class OutboxRelay:
    """Publishes committed outbox rows in id order, then marks them sent."""

    def __init__(
        self,
        db: Database,
        producer: AIOKafkaProducer,
        clock: Clock,
        *,
        poll_interval_s: float,
        linger_s: float = 0.0,
        kill_after_publish: int | None = None,
        batch_size: int = 200,
    ) -> None:
        self.db = db
        self.producer = producer
        self.clock = clock
        self.poll_interval_s = poll_interval_s
        self.linger_s = linger_s
        self.batch_size = batch_size
        self.kill_after_publish = kill_after_publish
        self.published = 0
        self.wakeup = asyncio.Event()
        self.healthy = False

    async def run(self) -> None:
        while True:
            try:
                sent = await self.relay_once()
                self.healthy = True
            except Exception:
                # Never silent: logged and counted; the rows stay unsent and are retried.
                self.healthy = False
                metrics.OUTBOX_ERRORS.inc()
                log.exception("outbox relay failed; retrying")
                await asyncio.sleep(1.0)
                continue
            if sent < self.batch_size:
                self.wakeup.clear()
                try:
                    await asyncio.wait_for(self.wakeup.wait(), self.poll_interval_s)
                except TimeoutError:
                    continue
                if self.linger_s:
                    # Woken by one commit: the next ones of a steady trickle join this pass
                    # (one read, one publish, one "sent" write for all of them).
                    await asyncio.sleep(self.linger_s)

    async def relay_once(self) -> int:
        query = (
            sa.select(outbox_table.c.id, outbox_table.c.topic, outbox_table.c.key, outbox_table.c.envelope)
            .where(outbox_table.c.sent_at.is_(None))
            .order_by(outbox_table.c.id)
            .limit(self.batch_size)
        )
        if not self.db.is_postgres:
            # SQLite: one process owns the file. Read, publish, then mark sent as a frequent writer
            # taking its turn (Database.write_batch), not in SQLite's busy handler beside the
            # group commits. A crash between publishing and marking republishes: at-least-once.
            async with self.db.sessions() as session:
                rows = (await session.execute(query)).all()
            if await self._publish(rows):
                await self.db.write_batch(self._mark_sent(rows))
            return len(rows)
        async with self.db.transaction() as session:
            # Several instances of a service share the outbox without publishing a row twice.
            rows = (await session.execute(query.with_for_update(skip_locked=True))).all()
            if await self._publish(rows):
                await session.execute(self._mark_sent(rows))
            return len(rows)

    async def _publish(self, rows: Sequence[Any]) -> bool:
        metrics.OUTBOX_BACKLOG.set(len(rows))
        if not rows:
            return False
        futures = [await self.producer.send(row.topic, row.envelope.encode(), key=row.key.encode()) for row in rows]
        await asyncio.gather(*futures)
        self.published += len(rows)
        for row in rows:
            metrics.EVENTS_PUBLISHED.labels(topic=row.topic).inc()
        if self.kill_after_publish is not None and self.published >= self.kill_after_publish:
            # Fault injection for the kill test: die after publishing, before marking sent.
            log.warning("fault injection: SIGKILL after publishing %d events", self.published)
            os.kill(os.getpid(), signal.SIGKILL)
        return True

    def _mark_sent(self, rows: Sequence[Any]) -> sa.Update:
        return (
            outbox_table.update()
            .where(outbox_table.c.id.in_([row.id for row in rows]))
            .values(sent_at=self.clock.now())
        )


@dataclass
class Context:
    """What a handler gets besides its event: the transaction and a way to publish in it."""

    session: AsyncSession
    envelope: Envelope
    outbox: Outbox
    clock: Clock

    async def publish(self, payload: BaseModel) -> Envelope:
        return await self.outbox.add(
            self.session, payload, correlation_id=self.envelope.correlation_id or str(self.envelope.event_id)
        )


Handler = Callable[[Any, Context], Awaitable[None]]


@dataclass
class Subscription(Generic[E]):
    model: type[E]
    handler: Callable[[E, Context], Awaitable[None]]


@dataclass
class Consumer:
    service: str
    db: Database
    outbox: Outbox
    clock: Clock
    bootstrap: str
    group_id: str
    handlers: Mapping[type[BaseModel], Handler]
    producer: AIOKafkaProducer
    retries: int = 3
    retry_backoff_s: float = 0.2
    running: bool = field(default=False, init=False)
    _consumer: AIOKafkaConsumer | None = field(default=None, init=False)

    @property
    def topics(self) -> list[str]:
        return sorted({registration_of(model).topic.name for model in self.handlers})

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            *self.topics,
            bootstrap_servers=self.bootstrap,
            group_id=self.group_id,
            client_id=f"{self.service}-consumer",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # docs/tansu.md: Tansu holds every join for session_timeout / 2, so a short session
            # keeps start-up and rebalances quick; fetch_max_wait 100 ms instead of 500 cuts the
            # end-to-end latency of an event from ~220 ms to ~20 ms.
            session_timeout_ms=6_000,
            heartbeat_interval_ms=1_000,
            fetch_max_wait_ms=100,
        )
        await self._consumer.start()
        self.running = True

    async def stop(self) -> None:
        self.running = False
        if self._consumer is not None:
            await self._consumer.stop()

    async def run(self) -> None:
        assert self._consumer is not None, "start() first"
        while True:
            batches = await self._consumer.getmany(timeout_ms=500, max_records=200)
            for tp, records in batches.items():
                for record in records:
                    await self.handle_record(record)
                self._record_lag(tp, records[-1].offset + 1)
            if batches:
                await self._consumer.commit()

    def _record_lag(self, tp: TopicPartition, next_offset: int) -> None:
        assert self._consumer is not None
        highwater = self._consumer.highwater(tp)
        if highwater is not None:
            metrics.CONSUMER_LAG.labels(service=self.service, topic=tp.topic, partition=str(tp.partition)).set(
                max(0, highwater - next_offset)
            )

    async def handle_record(self, record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            envelope = Envelope.model_validate_json(record.value or b"")
            event = decode(envelope)
        except (ValidationError, LookupError, ValueError) as exc:
            await self.dead_letter(record, f"schema: {exc}")
            return
        handler = self.handlers.get(type(event))
        if handler is None:
            return  # another model on a topic we read; not ours to handle
        for attempt in range(self.retries + 1):
            try:
                applied = await self._apply(record.topic, envelope, event, handler)
                metrics.EVENTS_CONSUMED.labels(topic=record.topic, outcome="applied" if applied else "duplicate").inc()
                return
            except Exception as exc:
                if attempt == self.retries:
                    log.exception("handler for %s failed %d times; dead-lettering", envelope.type, attempt + 1)
                    await self.dead_letter(record, f"handler: {type(exc).__name__}: {exc}")
                    return
                log.warning("handler for %s failed (%s); retry %d", envelope.type, exc, attempt + 1)
                await asyncio.sleep(self.retry_backoff_s * 2**attempt)

    async def _apply(self, topic: str, envelope: Envelope, event: BaseModel, handler: Handler) -> bool:
        try:
            async with self.db.transaction() as session:
                await session.execute(
                    processed_events_table.insert().values(
                        event_id=str(envelope.event_id), topic=topic, type=envelope.type, processed_at=self.clock.now()
                    )
                )
                await handler(event, Context(session, envelope, self.outbox, self.clock))
        except IntegrityError as exc:
            if await self._already_processed(envelope.event_id):
                return False
            raise exc
        return True

    async def _already_processed(self, event_id: uuid.UUID) -> bool:
        async with self.db.sessions() as session:
            found = await session.execute(
                sa.select(processed_events_table.c.event_id).where(processed_events_table.c.event_id == str(event_id))
            )
            return found.first() is not None

    async def dead_letter(self, record: ConsumerRecord[bytes, bytes], reason: str) -> None:
        metrics.EVENTS_CONSUMED.labels(topic=record.topic, outcome="dead-lettered").inc()
        log.error("dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason)
        headers = [
            ("reason", reason[:2000].encode()),
            ("original-topic", record.topic.encode()),
            ("original-partition", str(record.partition).encode()),
            ("original-offset", str(record.offset).encode()),
            ("consumer", self.service.encode()),
        ]
        await self.producer.send_and_wait(DEAD_LETTER_TOPIC, record.value, key=record.key, headers=headers)


async def ensure_topics(bootstrap: str, *, partitions: int | None = None) -> list[str]:
    """Create every registered topic (and the dead-letter topic) that does not exist yet."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="chargeyard-topics")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name,
                num_partitions=partitions or topic.partitions,
                replication_factor=1,
                topic_configs=topic_configs(topic.retention),
            )
            for name, topic in TOPICS.items()
            if name not in existing
        ]
        if DEAD_LETTER_TOPIC not in existing:
            wanted.append(
                NewTopic(
                    DEAD_LETTER_TOPIC,
                    num_partitions=1,
                    replication_factor=1,
                    topic_configs=topic_configs(Retention.AUDIT),
                )
            )
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass  # another runner created them first
        return [t.name for t in wanted]
    finally:
        await admin.close()


def topic_configs(retention: Retention) -> dict[str, str]:
    ms = RETENTION_MS[retention]
    if ms is None:
        return {"cleanup.policy": "compact"}
    return {"retention.ms": str(ms)}


def envelope_json(payload: BaseModel, *, source: str, occurred_at: datetime) -> bytes:
    """Serialise one event outside any outbox (tools and tests that play a foreign publisher)."""
    return Envelope.wrap(payload, source=source, occurred_at=occurred_at).model_dump_json().encode()
