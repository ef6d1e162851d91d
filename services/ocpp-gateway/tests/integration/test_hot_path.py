"""The hot-path settings (bench/README.md) as a station sees them: no permessage-deflate even when
offered, schema validation inline, MeterValues answered only once their events are committed to
the outbox by the group commit, the garbage collector on a clock, the journal written in slices."""

from __future__ import annotations

import asyncio
import gc
import json
import uuid
import weakref

import pytest
import sqlalchemy as sa
import websockets
from chargeyard_gateway.adapters.orm import stations
from chargeyard_gateway.bootstrap import gateway_of
from chargeyard_gateway.domain import journal as journal_rules
from chargeyard_gateway.service_layer.journal import Journal
from chargeyard_platform.clock import SystemClock
from chargeyard_platform.db import outbox_table
from chargeyard_platform.runtime import Runtime
from ocpp import messages as ocpp_messages
from prometheus_client import REGISTRY

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_deflate_is_declined_validation_is_inline_and_answers_follow_the_commit(gateway: Runtime) -> None:
    await asyncio.wait_for(gateway_of(gateway).server.listening.wait(), 15)
    assert ocpp_messages.ASYNC_VALIDATION is False
    station_id = "HOT-PATH-1"
    url = f"ws://127.0.0.1:{gateway.settings.ocpp_port}/ocpp/{station_id}"  # type: ignore[attr-defined]
    async with websockets.connect(url, subprotocols=["ocpp1.6"], compression="deflate") as ws:  # type: ignore[list-item]
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers  # ~40 KB per socket saved

        async def call(uid: str, action: str, payload: dict[str, object]) -> list[object]:
            await ws.send(json.dumps([2, uid, action, payload]))
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 15))
                if msg[0] == 2:  # the gateway's own calls after boot: answered, not ours to check
                    await ws.send(
                        json.dumps(
                            [
                                3,
                                msg[1],
                                {"configurationKey": []} if msg[2] == "GetConfiguration" else {"status": "Accepted"},
                            ]
                        )
                    )
                elif msg[1] == uid:
                    return msg  # type: ignore[no-any-return]

        boot = await call("1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        assert boot[0] == 3 and boot[2]["status"] == "Accepted"  # type: ignore[index]
        answers = await asyncio.gather(
            *[
                call(
                    str(10 + i),
                    "MeterValues",
                    {
                        "connectorId": 1,
                        "meterValue": [
                            {
                                "timestamp": "2026-11-21T12:00:00Z",
                                "sampledValue": [
                                    {"value": str(1000 + i), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
                                ],
                            }
                        ],
                    },
                )
                for i in range(1)
            ]
        )
        assert answers[0][0] == 3
        # Answered means committed: the event is in the outbox at the moment the answer arrives.
        async with gateway.db.sessions() as session:
            rows = (
                (
                    await session.execute(
                        sa.select(outbox_table.c.envelope).where(
                            outbox_table.c.topic == "meter.values", outbox_table.c.key == station_id
                        )
                    )
                )
                .scalars()
                .all()
            )
        assert any(json.loads(r)["payload"]["energy_wh"] == 1000 for r in rows)


async def boot_over_new_socket(port: int, station_id: str, firmware: str) -> None:
    url = f"ws://127.0.0.1:{port}/ocpp/{station_id}"
    async with websockets.connect(url, subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        payload = {"chargePointVendor": "V", "chargePointModel": "M", "firmwareVersion": firmware}
        await ws.send(json.dumps([2, "b", "BootNotification", payload]))
        while True:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 15))
            if msg[0] == 2:  # the gateway's own calls after boot
                body = {"configurationKey": []} if msg[2] == "GetConfiguration" else {"status": "Accepted"}
                await ws.send(json.dumps([3, msg[1], body]))
            elif msg[1] == "b":
                assert msg[0] == 3 and msg[2]["status"] == "Accepted"
                return


async def test_a_boot_that_repeats_the_last_one_writes_only_last_seen(gateway: Runtime) -> None:
    await asyncio.wait_for(gateway_of(gateway).server.listening.wait(), 15)
    port = gateway.settings.ocpp_port  # type: ignore[attr-defined]
    station_id = "HOT-PATH-REBOOT"

    async def row() -> sa.Row[tuple[object, ...]]:
        async with gateway.db.sessions() as session:
            query = sa.select(stations.c.firmware_version, stations.c.updated_at, stations.c.last_seen_at)
            return (await session.execute(query.where(stations.c.id == station_id))).one()

    await boot_over_new_socket(port, station_id, "1.0")
    first = await row()
    await asyncio.sleep(0.05)
    await boot_over_new_socket(port, station_id, "1.0")  # the same boot data: nothing but last_seen_at
    same = await row()
    assert same.firmware_version == "1.0" and same.updated_at == first.updated_at
    assert same.last_seen_at > first.last_seen_at  # type: ignore[operator]
    await asyncio.sleep(0.05)
    await boot_over_new_socket(port, station_id, "2.0")  # a firmware update is written
    changed = await row()
    assert changed.firmware_version == "2.0" and changed.updated_at > same.updated_at  # type: ignore[operator]


async def test_status_notifications_are_committed_when_answered_and_new_connectors_stored(gateway: Runtime) -> None:
    await asyncio.wait_for(gateway_of(gateway).server.listening.wait(), 15)
    port = gateway.settings.ocpp_port  # type: ignore[attr-defined]
    station_id = "HOT-PATH-STATUS"
    await boot_over_new_socket(port, station_id, "1.0")
    url = f"ws://127.0.0.1:{port}/ocpp/{station_id}"
    async with websockets.connect(url, subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        # Connector 2 twice (new, then stored already: the group commit) and the station itself.
        for uid, connector, status in (("s1", 2, "Charging"), ("s2", 2, "Finishing"), ("s3", 0, "Available")):
            payload = {"connectorId": connector, "errorCode": "NoError", "status": status}
            await ws.send(json.dumps([2, uid, "StatusNotification", payload]))
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 15))
                if msg[0] == 2:  # the gateway's re-sync calls
                    await ws.send(json.dumps([3, msg[1], {"status": "Accepted"}]))
                elif msg[1] == uid:
                    assert msg[0] == 3
                    break
            # Answered means committed: the event is in the outbox when the answer arrives.
            async with gateway.db.sessions() as session:
                envelopes = (
                    await session.execute(
                        sa.select(outbox_table.c.envelope).where(
                            outbox_table.c.topic == "station.status", outbox_table.c.key == station_id
                        )
                    )
                ).scalars()
                reported = [
                    (json.loads(e)["payload"]["evse_id"], json.loads(e)["payload"]["status"]) for e in envelopes
                ]
            assert (connector, status) in reported
    async with gateway.db.sessions() as session:
        evses = (await session.execute(sa.select(stations.c.evses).where(stations.c.id == station_id))).scalar_one()
    assert 2 in [e["evse_id"] for e in evses]


async def test_made_up_action_names_are_counted_as_one_label(gateway: Runtime) -> None:
    await asyncio.wait_for(gateway_of(gateway).server.listening.wait(), 15)
    port = gateway.settings.ocpp_port  # type: ignore[attr-defined]

    def received(action: str) -> float:
        value = REGISTRY.get_sample_value(
            "chargeyard_gateway_ocpp_messages_total", {"action": action, "direction": "received"}
        )
        return value or 0.0

    before = received("unknown")
    async with websockets.connect(f"ws://127.0.0.1:{port}/ocpp/HOT-PATH-NAMES", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        for name in ("MadeUpOne", "MadeUpTwo"):
            await ws.send(json.dumps([2, name, name, {}]))
            answer = json.loads(await asyncio.wait_for(ws.recv(), 15))
            assert answer[0] == 4 and answer[1] == name  # a CallError, as before
    assert received("unknown") == before + 2
    assert received("MadeUpOne") == 0.0 and received("MadeUpTwo") == 0.0


class _Node:
    """A reference cycle of its own: only the cycle collector can free it."""

    def __init__(self) -> None:
        self.me = self


async def test_the_garbage_collector_runs_on_a_clock_once_the_server_listens(gateway: Runtime) -> None:
    await asyncio.wait_for(gateway_of(gateway).server.listening.wait(), 15)
    young_s, _full_s = gateway.settings.gc_intervals_s  # type: ignore[attr-defined]
    assert not gc.isenabled()  # no collection started by allocation counts
    assert gc.get_freeze_count() > 10_000  # what start-up built, out of every collection
    before = _pauses("1")
    cycle = _Node()
    gone = weakref.ref(cycle)
    del cycle
    for _ in range(50):
        await asyncio.sleep(young_s)
        if gone() is None:
            break
    assert gone() is None  # garbage in a cycle is freed by the next young collection
    assert _pauses("1") > before


async def test_the_gateways_outbox_relay_lingers_after_a_wake_up(gateway: Runtime) -> None:
    # The gateway's own default (config.py); the platform's is 0 (publish at once).
    assert gateway.relay is not None
    assert gateway.relay.linger_s == gateway.settings.outbox_linger_s == 0.02


def _pauses(generation: str) -> float:
    return REGISTRY.get_sample_value("chargeyard_gateway_gc_pause_seconds_count", {"generation": generation}) or 0.0


async def test_the_journal_is_written_in_slices_and_the_outbox_writer_gets_its_turn_between(
    gateway: Runtime,
) -> None:
    station_id = f"HOT-PATH-JOURNAL-{uuid.uuid4().hex[:6]}"
    history = Journal(gateway.db, SystemClock(), flush_interval_s=60, retention_days=1, slice_rows=200)
    for n in range(450):
        frame = json.dumps([2, str(n), "Heartbeat", {}])
        history.record(journal_rules.entry(station_id, "in", frame, json.loads(frame), None))

    flushing = asyncio.create_task(history.flush())
    await asyncio.sleep(0)  # the flush has taken the writer for its first slice
    async with gateway.db.write_transaction() as session:
        # An outbox group commit between the journal's slices, not after all 450 rows.
        await session.execute(sa.select(1))
    assert not flushing.done()
    assert await flushing == 450

    rows = await history.history(station_id, limit=1000)
    assert [int(r.unique_id) for r in rows] == list(range(449, -1, -1))  # every frame, newest first
