"""Must show 4 through the API: the waiting list, conflict decisions (by the driver and by default
on time-out), no-show, a reservation across a daylight-saving change, and erasure. Events the
service consumes are delivered to its real handlers; what it publishes is read from its outbox."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from chargeyard_contracts import (
    ConflictKind,
    PlannedCharge,
    ReservationConflict,
    ScheduleUpdated,
    StationStatusChanged,
    TransactionEventReported,
)
from chargeyard_contracts.stations import ConnectorStatus, TransactionEventKind

from ..builders import a_reservation, a_tenant, a_topology, bearer_for, ok
from ..conftest import T0, outbox_rows


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def conflict(
    r: dict[str, Any],
    kind: ConflictKind,
    deliverable_wh: int = 0,
    later: timedelta = timedelta(hours=1),
    **changes: Any,
) -> ReservationConflict:
    return ReservationConflict(
        **{
            "reservation_id": r["id"],
            "site_id": r["site_id"],
            "plan_id": "p1",
            "kind": kind,
            "departure": at(r["departure"]),
            "requested_wh": r["energy_wh"],
            "deliverable_wh": deliverable_wh,
            "full_charge_finish": at(r["departure"]) + later,
            "detected_at": T0,
            **changes,
        }
    )


def plan(site_id: str, *charges: tuple[dict[str, Any], str]) -> ScheduleUpdated:
    return ScheduleUpdated(
        site_id=site_id,
        plan_id="p2",
        time_zone="Europe/Berlin",
        horizon_start=T0,
        horizon_end=T0 + timedelta(days=2),
        slot_seconds=900,
        site_limit_w=44_000,
        strategy="fcfs",
        solver_status="Optimal",
        solve_ms=5,
        charges=tuple(
            PlannedCharge(
                reservation_id=r["id"],
                station_id=station,
                evse_id=1,
                planned_start=at(r["arrival"]),
                planned_finish=at(r["departure"]),
                energy_wh=r["energy_wh"],
                requested_wh=r["energy_wh"],
            )
            for r, station in charges
        ),
    )


async def updates(db: Any, reservation_id: str) -> list[dict[str, Any]]:
    return [
        e["payload"]
        for e in await outbox_rows(db, "reservation.updated")
        if e["payload"]["reservation_id"] == reservation_id
    ]


@pytest.mark.asyncio
async def test_the_waiting_list_promotes_the_first_waiting_reservation_that_now_fits(  # type: ignore[no-untyped-def]
    client,
    connect,
    deliver,
    db,
    runtime,
) -> None:
    a = await a_tenant(client, connect, deliver, "tenant-a")
    manager = connect(a.key)
    first, second, third = [
        ok(await manager.post("/v1/reservations", json=a_reservation(site_id=a.site_id, energy_wh=e)), 201)
        for e in (10_000, 11_000, 12_000)
    ]
    await deliver(plan(a.site_id, (first, a.station_id)))
    await deliver(conflict(second, ConflictKind.NO_CONNECTOR))
    runtime.clock.advance(60)
    await deliver(conflict(third, ConflictKind.NO_CONNECTOR))
    await deliver(conflict(third, ConflictKind.NO_CONNECTOR))  # a repeat changes nothing
    waiting = ok(await manager.get(f"/v1/sites/{a.site_id}/waitlist"))
    assert [(r["id"], r["status"], r["waitlist_position"]) for r in waiting] == [
        (second["id"], "waitlisted", 1),
        (third["id"], "waitlisted", 2),
    ]
    told = await updates(db, second["id"])
    assert told[-1]["status"] == "waitlisted" and told[-1]["waitlist_position"] == 1
    assert len(await updates(db, third["id"])) == 1
    # The first car cancels: capacity frees up and the next plan has room for the second.
    ok(await manager.post(f"/v1/reservations/{first['id']}/cancel", json={"reason": "trip cancelled"}))
    cancelled = [e["payload"] for e in await outbox_rows(db, "reservation.cancelled")]
    assert [c["reservation_id"] for c in cancelled] == [first["id"]]
    await deliver(plan(a.site_id, (second, a.station_id)))
    promoted = ok(await manager.get(f"/v1/reservations/{second['id']}"))
    assert (promoted["status"], promoted["assigned_station_id"], promoted["reason"]) == (
        "scheduled",
        a.station_id,
        "promoted from the waiting list",
    )
    assert (await updates(db, second["id"]))[-1]["status"] == "scheduled"
    assert [(r["id"], r["waitlist_position"]) for r in ok(await manager.get(f"/v1/sites/{a.site_id}/waitlist"))] == [
        (third["id"], 1)
    ]


@pytest.mark.asyncio
async def test_a_conflict_is_decided_by_the_driver_or_by_default_on_time_out(
    client,
    connect,
    deliver,
    db,
    runtime,  # type: ignore[no-untyped-def]
    sweep_now,
) -> None:
    a = await a_tenant(client, connect, deliver, "tenant-a")
    driver = connect(await bearer_for(client, "driver@tenant-a.example", "correct horse b"))
    mine = ok(await driver.get(f"/v1/reservations/{a.ids['reservation_id']}"))
    await deliver(plan(a.site_id, (mine, a.station_id)))
    await deliver(conflict(mine, ConflictKind.SHORT, deliverable_wh=21_000, later=timedelta(minutes=50)))
    shown = ok(await driver.get(f"/v1/reservations/{mine['id']}"))
    assert shown["status"] == "conflict"
    assert shown["conflict"]["deliverable_wh"] == 21_000 and shown["conflict"]["default"] == "less_charge_on_time"
    assert set(shown["conflict"]["choices"]) == {"full_charge_later", "less_charge_on_time"}
    decided = ok(await driver.post(f"/v1/reservations/{mine['id']}/decision", json={"choice": "full_charge_later"}))
    assert decided["status"] == "scheduled" and decided["energy_wh"] == 30_000
    assert at(decided["departure"]) == at(mine["departure"]) + timedelta(minutes=50)
    assert decided["decision"]["decided_by"] == "driver"
    (event,) = [e["payload"] for e in await outbox_rows(db, "reservation.decided")]
    assert (event["choice"], event["decided_by"], event["energy_wh"]) == ("full_charge_later", "driver", 30_000)
    # The same conflict again (made against the old departure) is stale: nothing reopens.
    await deliver(conflict(mine, ConflictKind.SHORT, deliverable_wh=21_000))
    assert ok(await driver.get(f"/v1/reservations/{mine['id']}"))["status"] == "scheduled"
    again = await driver.post(f"/v1/reservations/{mine['id']}/decision", json={"choice": "less_charge_on_time"})
    assert again.status_code == 409
    # Nobody answers the next one: the default applies at respond_by, not before.
    other = ok(await connect(a.key).post("/v1/reservations", json=a_reservation(site_id=a.site_id)), 201)
    await deliver(conflict(other, ConflictKind.SHORT, deliverable_wh=18_000))
    runtime.clock.advance(runtime.settings.decision_timeout_s - 1)
    assert (await sweep_now())["decided_by_default"] == 0
    runtime.clock.advance(1)
    assert (await sweep_now())["decided_by_default"] == 1
    defaulted = ok(await connect(a.key).get(f"/v1/reservations/{other['id']}"))
    assert (defaulted["status"], defaulted["energy_wh"], defaulted["departure"]) == (
        "scheduled",
        18_000,
        other["departure"],
    )
    assert defaulted["decision"]["decided_by"] == "default"


@pytest.mark.asyncio
async def test_a_car_that_does_not_come_is_a_no_show_after_the_grace_period(
    client,
    connect,
    deliver,
    db,
    runtime,  # type: ignore[no-untyped-def]
    sweep_now,
) -> None:
    a = await a_tenant(client, connect, deliver, "tenant-a")
    await deliver(a_topology(a.site_id, a.station_id, "TENANT-A-ST2"))
    manager = connect(a.key)
    arrival = T0 + timedelta(hours=1)
    absent, present = [
        ok(
            await manager.post(
                "/v1/reservations",
                json=a_reservation(
                    site_id=a.site_id, arrival=arrival.isoformat(), departure=(arrival + timedelta(hours=8)).isoformat()
                ),
            ),
            201,
        )
        for _ in range(2)
    ]
    await deliver(plan(a.site_id, (absent, a.station_id), (present, "TENANT-A-ST2")))
    await deliver(
        StationStatusChanged(
            station_id="TENANT-A-ST2",
            evse_id=1,
            connector_id=1,
            status=ConnectorStatus.PREPARING,
            received_at=arrival + timedelta(minutes=5),
        )
    )
    assert ok(await manager.get(f"/v1/reservations/{present['id']}"))["status"] == "arrived"
    runtime.clock.advance(3600 + runtime.settings.no_show_grace_s - 1)
    assert (await sweep_now())["no_show"] == 0
    runtime.clock.advance(1)
    assert (await sweep_now())["no_show"] == 1
    gone = ok(await manager.get(f"/v1/reservations/{absent['id']}"))
    assert gone["status"] == "no_show" and gone["reason"].startswith("no-show")
    assert ok(await manager.get(f"/v1/reservations/{present['id']}"))["status"] == "arrived"
    released = [e["payload"] for e in await outbox_rows(db, "reservation.cancelled")]
    assert [(r["reservation_id"], r["reason"][:7]) for r in released] == [(absent["id"], "no-show")]
    assert (await updates(db, absent["id"]))[-1]["status"] == "no_show"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("arrival", "departure", "shown", "hours"),
    [
        # Spring forward in Berlin: 00:30 CET to 06:30 CEST is five real hours, not six.
        (
            "2026-03-28T23:30:00Z",
            "2026-03-29T06:30:00+02:00",
            ("2026-03-29T00:30:00+01:00", "2026-03-29T06:30:00+02:00"),
            5,
        ),
        # Fall back: 00:30 CEST to 06:30 CET is seven real hours.
        (
            "2026-10-25T00:30:00+02:00",
            "2026-10-25T05:30:00Z",
            ("2026-10-25T00:30:00+02:00", "2026-10-25T06:30:00+01:00"),
            7,
        ),
    ],
)
async def test_a_reservation_across_a_daylight_saving_change_keeps_its_real_duration(  # type: ignore[no-untyped-def]
    client,
    connect,
    deliver,
    db,
    arrival: str,
    departure: str,
    shown: tuple[str, str],
    hours: int,
) -> None:
    a = await a_tenant(client, connect, deliver, "tenant-a")
    manager = connect(a.key)
    fits = ok(
        await manager.post(
            "/v1/reservations",
            json=a_reservation(
                site_id=a.site_id, arrival=arrival, departure=departure, energy_wh=11_000 * hours, max_power_w=11_000
            ),
        ),
        201,
    )
    assert (fits["arrival"], fits["departure"]) == shown and fits["time_zone"] == "Europe/Berlin"
    assert fits["duration_s"] == hours * 3600 and fits["status"] == "requested"
    created = [
        e["payload"]
        for e in await outbox_rows(db, "reservation.created")
        if e["payload"]["reservation_id"] == fits["id"]
    ]
    assert at(created[0]["departure"]) - at(created[0]["arrival"]) == timedelta(hours=hours)
    # One more hour of energy than the real window holds is refused, with the ways out.
    too_much = ok(
        await manager.post(
            "/v1/reservations",
            json=a_reservation(
                site_id=a.site_id,
                arrival=arrival,
                departure=departure,
                energy_wh=11_000 * (hours + 1),
                max_power_w=11_000,
            ),
        ),
        201,
    )
    assert too_much["status"] == "rejected"
    later, less = too_much["alternatives"]
    assert at(later["departure"]) - at(later["arrival"]) == timedelta(hours=hours + 1)
    assert less["energy_wh"] == 11_000 * hours and less["departure"] == shown[1]


@pytest.mark.asyncio
async def test_an_erased_driver_leaves_only_pseudonymous_charge_records(client, connect, deliver, db) -> None:  # type: ignore[no-untyped-def]
    a = await a_tenant(client, connect, deliver, "tenant-a")
    manager = connect(a.key)
    driver_id = a.ids["driver_id"]
    before = ok(await manager.get(f"/v1/drivers/{driver_id}/export"))
    assert before["driver"]["name"] == "Ada Lovelace" and [t["id_token"] for t in before["rfid_tokens"]] == [
        a.ids["id_token"]
    ]
    assert [r["id"] for r in before["reservations"]] == [a.ids["reservation_id"]]
    assert before["users"][0]["email"] == "driver@tenant-a.example"
    # Own data, by the driver: export works with the driver's own token too.
    driver = connect(await bearer_for(client, "driver@tenant-a.example", "correct horse b"))
    assert ok(await driver.get(f"/v1/drivers/{driver_id}/export"))["driver"]["id"] == driver_id
    report = ok(await manager.delete(f"/v1/drivers/{driver_id}"))
    assert (report["cards_invalidated"], report["logins_removed"]) == (1, 1)
    after = ok(await manager.get(f"/v1/drivers/{driver_id}/export"))
    assert {k: after["driver"][k] for k in ("name", "email", "phone", "external_ref")} == dict.fromkeys(
        ("name", "email", "phone", "external_ref")
    )
    assert after["rfid_tokens"] == [] and after["users"] == []
    kept = ok(await manager.get(f"/v1/reservations/{a.ids['reservation_id']}"))
    assert kept["driver_id"] == driver_id, "the charge record stays, under the pseudonymous id"
    assert (
        await client.post("/v1/auth/token", data={"username": "driver@tenant-a.example", "password": "correct horse b"})
    ).status_code == 401
    assert (await manager.delete(f"/v1/drivers/{driver_id}")).status_code == 409
    tokens = [e["payload"] for e in await outbox_rows(db, "tokens.updated")]
    last = {t["id_token"]: t["status"] for e in tokens for t in e["tokens"]}
    assert last[a.ids["id_token"]] == "Invalid" and sorted(e["version"] for e in tokens) == list(
        range(1, len(tokens) + 1)
    )
    # Nothing on a public topic ever named the person.
    everything = json.dumps(await outbox_rows(db))
    for personal in ("Ada Lovelace", "driver@tenant-a.example", "+49 30 1234567", driver_id):
        assert personal not in everything, personal


@pytest.mark.asyncio
async def test_qr_scan_starts_the_reservation_and_the_session_ends_completed(  # type: ignore[no-untyped-def]
    client,
    connect,
    deliver,
    db,
    runtime,
) -> None:
    a = await a_tenant(client, connect, deliver, "tenant-a")
    manager = connect(a.key)
    svg = await manager.get(f"/v1/connectors/{a.station_id}/1/qr")
    png = await manager.get(f"/v1/connectors/{a.station_id}/1/qr", params={"format": "png"})
    assert svg.headers["content-type"] == "image/svg+xml" and svg.text.startswith("<svg")
    assert png.headers["content-type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert (await manager.get(f"/v1/connectors/{a.station_id}/9/qr")).status_code == 404
    runtime.clock.advance((at(a_reservation()["arrival"]) - T0).total_seconds() - 600)  # 10 min early
    driver = connect(await bearer_for(client, "driver@tenant-a.example", "correct horse b"))
    mine = ok(await driver.get(f"/v1/reservations/{a.ids['reservation_id']}"))
    started = await driver.post(f"/v1/connectors/{a.station_id}/1/start", json={})
    assert started.status_code == 202, started.text
    assert started.json()["reservation"]["status"] == "arrived"
    (command,) = [e["payload"] for e in await outbox_rows(db, "station.commands")]
    assert command["command"]["command"] == "RemoteStart" and command["station_id"] == a.station_id
    app_token = command["command"]["id_token"]
    assert len(app_token) <= 20, "OCPP 1.6 §7.28: an idTag is a CiString20, or a 1.6 station refuses the start"
    gateway_knows = {t["id_token"] for e in await outbox_rows(db, "tokens.updated") for t in e["payload"]["tokens"]}
    assert app_token in gateway_knows, "the gateway can authorise the remote start from its token copy"
    # A plan made before the scan put this car on another station: it is here, so here it stays.
    await deliver(plan(a.site_id, (mine | {"energy_wh": 9_000}, "CP-ELSEWHERE")))
    kept = ok(await driver.get(f"/v1/reservations/{mine['id']}"))
    assert (kept["assigned_station_id"], kept["assigned_evse_id"], kept["planned_energy_wh"]) == (
        a.station_id,
        1,
        9_000,
    ), "the plan's energy applies, its connector does not"
    tx = {
        "station_id": a.station_id,
        "evse_id": 1,
        "transaction_id": "tx-1",
        "id_token": app_token,
        "station_timestamp": at(mine["arrival"]),
        "received_at": at(mine["arrival"]),
    }
    await deliver(TransactionEventReported(kind=TransactionEventKind.STARTED, meter_wh=1_000, **tx))
    assert ok(await driver.get(f"/v1/reservations/{mine['id']}"))["status"] == "charging"
    await deliver(
        TransactionEventReported(
            kind=TransactionEventKind.ENDED,
            meter_wh=29_500,
            reason="EVDisconnected",
            **tx | {"station_timestamp": at(mine["departure"])},
        )
    )
    done = ok(await driver.get(f"/v1/reservations/{mine['id']}"))
    assert (done["status"], done["delivered_wh"]) == ("completed", 28_500)
    assert [u["status"] for u in await updates(db, mine["id"])] == ["arrived", "arrived", "charging", "completed"]


@pytest.mark.asyncio
async def test_a_known_card_at_a_station_without_a_reservation_makes_an_ad_hoc_one(
    client, connect, deliver, db
) -> None:  # type: ignore[no-untyped-def]
    a = await a_tenant(client, connect, deliver, "tenant-a")
    manager = connect(a.key)
    ok(await manager.post(f"/v1/reservations/{a.ids['reservation_id']}/cancel", json={}))
    tx = {
        "station_id": a.station_id,
        "evse_id": 1,
        "transaction_id": "tx-9",
        "station_timestamp": T0,
        "received_at": T0,
    }
    await deliver(TransactionEventReported(kind=TransactionEventKind.STARTED, id_token="STRANGER", meter_wh=0, **tx))
    assert len(await outbox_rows(db, "reservation.created")) == 1, "an unknown card makes no reservation"
    await deliver(
        TransactionEventReported(
            kind=TransactionEventKind.STARTED,
            id_token=a.ids["id_token"],
            meter_wh=0,
            **tx | {"transaction_id": "tx-10"},
        )
    )
    ad_hoc = [r for r in ok(await manager.get("/v1/reservations", params={"status": "charging"}))["items"]]
    assert len(ad_hoc) == 1 and ad_hoc[0]["ad_hoc"] is True and ad_hoc[0]["driver_id"] == a.ids["driver_id"]
    assert ad_hoc[0]["vehicle_id"] == a.ids["vehicle_id"] and ad_hoc[0]["site_id"] == a.site_id
    created = (await outbox_rows(db, "reservation.created"))[-1]["payload"]
    assert created["reservation_id"] == ad_hoc[0]["id"] and created["driver_id"].startswith("drv_")
