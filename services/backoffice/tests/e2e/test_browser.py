"""Must show 1-3 of issue 9 in a real browser: headless Debian chromium driven by Playwright,
against the whole platform with simulated stations.

One stack for the module, and the first tests build on each other in file order: the fleet
manager plugs nothing in but watches a car arrive live, books and sees the plan; the driver books
more than the site gives, answers the conflict and starts by scanning the connector's QR code; a
notification reaches the driver's app without a reload (the notifier's push stream). Then, each
on its own (`-k remote_stop` runs alone): the fleet manager rolls out firmware to the site, stops
a charging session remotely (one it sets up itself), adds a vehicle and a driver and edits the
vehicle; then every page at phone width."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from chargeyard_simulator import Car
from playwright.sync_api import expect

from .conftest import PASSWORD, Offline, System, a_charging_session, new_context

PHONE = {"width": 390, "height": 844}


def sign_in(page: Any, system: System, email: str) -> None:
    page.goto(f"{system.url}/login")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


@contextmanager
def showing(page: Any) -> Iterator[None]:
    """A failed step says what the page showed."""
    try:
        yield
    except AssertionError as failed:
        raise AssertionError(f"{failed}\n--- {page.url} showed:\n{page.inner_text('main')[:1500]}") from failed
    except Exception as failed:
        raise AssertionError(f"{failed}\n--- {page.url} showed:\n{page.inner_text('main')[:1500]}") from failed


def first_station(system: System) -> str:
    return sorted(system.stations)[0]


def test_a_fleet_manager_sees_a_station_change_live_and_books_a_reservation(
    system: System, browser: Any, offline: Offline, shots: Path
) -> None:
    context = new_context(browser, offline, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    with showing(page):
        sign_in(page, system, system.fleet_manager)
        expect(page).to_have_url(f"{system.url}/dashboard")
        station_id = first_station(system)
        tile = page.locator(f"li.tile[data-station='{station_id}'] .status")
        expect(tile).to_have_attribute("data-status", "Available")
        # A mark on this very document: if the page reloaded, it would be gone.
        page.evaluate("window.notReloaded = true")
        system.call(
            lambda: system.stations[station_id].plug_in(1, Car(battery_wh=60_000, soc_percent=30, max_power_w=11_000))
        )
        expect(tile).to_have_attribute("data-status", "Preparing")
        assert page.evaluate("window.notReloaded === true"), "the dashboard reloaded instead of updating in place"

        page.goto(f"{system.url}/reservations")
        page.fill("input[name=energy_kwh]", "5")
        page.click("#new-reservation button[type=submit]")
        expect(page).to_have_url(re.compile(r"/reservations/[0-9a-f-]{36}$"))
        expect(page.locator("#reservation-status")).to_have_attribute("data-status", "scheduled")
        expect(page.locator("#reservation-connector")).to_have_text(re.compile(r"/1$"))

        page.goto(f"{system.url}/dashboard")
        expect(page.locator("#live tr[data-reservation] .status[data-status=scheduled]").first).to_be_visible()
        page.wait_for_timeout(2500)  # two live refreshes: the power chart has points
        page.screenshot(path=str(shots / "dashboard.png"), full_page=True)
    context.close()


def test_a_driver_answers_a_conflict_and_starts_by_the_connectors_qr_code(
    system: System, browser: Any, offline: Offline, shots: Path, tmp_path: Path
) -> None:
    context = new_context(browser, offline, viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    with showing(page):
        sign_in(page, system, system.driver)
        expect(page).to_have_url(f"{system.url}/app")
        assert overflow(page) <= 0, f"the app's home is {overflow(page)} px wider than the phone"
        # 20 kWh within two hours: the car could (11 kW), the site cannot (7 kW shared): a conflict.
        departure = datetime.now(ZoneInfo("Europe/Berlin")) + timedelta(hours=2)
        page.fill("#book input[name=departure]", departure.strftime("%Y-%m-%dT%H:%M"))
        page.fill("#book input[name=amount]", "20")
        page.click("#book button[type=submit]")
        expect(page).to_have_url(re.compile(r"/app/sessions/[0-9a-f-]{36}$"))
        session_url = page.url
        expect(page.locator("#session-status")).to_have_attribute("data-status", "conflict")
        assert overflow(page) <= 0, f"the session page is {overflow(page)} px wider than the phone"
        page.click("button[value=less_charge_on_time]")
        expect(page.locator("#session-decision")).to_have_text("Less charge, on time")
        expect(page.locator("#session-status")).not_to_have_attribute("data-status", "conflict")

        station_id = first_station(system)
        with system.admin() as admin:
            qr = admin.get(f"/v1/connectors/{station_id}/1/qr", params={"format": "png"})
            assert qr.status_code == 200, qr.text
        photo = tmp_path / "qr.png"
        photo.write_bytes(qr.content)
        page.goto(f"{system.url}/app/scan")
        assert overflow(page) <= 0, f"the scan page is {overflow(page)} px wider than the phone"
        page.set_input_files("#qr-photo", str(photo))  # the photo the phone's camera takes
        expect(page).to_have_url(session_url)
        expect(page.locator("#session-connector")).to_have_text(f"{station_id}/1")
        expect(page.locator("#session-status")).to_have_attribute("data-status", "charging")
        # The station's metered power reaches the page (simulated meter -> gateway -> reporting); what
        # the car draws right now is the plan's business (it may be 0 W until its slot).
        expect(page.locator("#session-power")).to_have_text(re.compile(r"^\d+\.\d kW$"))
        page.screenshot(path=str(shots / "app-session.png"), full_page=True)
    context.close()


def test_a_driver_sees_a_notification_arrive_without_a_reload(system: System, browser: Any, offline: Offline) -> None:
    """The notifier's push stream reaches the app: a booking made in another tab is announced on
    the home page (list and toast) with no reload; the home page's polling does not carry it."""
    context = new_context(browser, offline, viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    with showing(page):
        sign_in(page, system, system.driver)
        expect(page).to_have_url(f"{system.url}/app")
        expect(page.locator("body")).to_have_attribute("data-notifications", re.compile(r"^/app/notifications/stream"))
        page.evaluate("window.notReloaded = true")
        other = context.new_page()
        other.goto(f"{system.url}/app")
        other.fill("#book input[name=amount]", "3")
        other.click("#book button[type=submit]")
        expect(other).to_have_url(re.compile(r"/app/sessions/[0-9a-f-]{36}$"))
        reservation_id = other.url.rsplit("/", 1)[1]
        other.close()
        pushed = page.locator(f"#notifications li[data-reservation='{reservation_id}']").first
        expect(pushed).to_be_visible()
        expect(pushed).to_have_attribute("data-kind", re.compile(r"^reservation\."))
        expect(page.locator(".toasts .toast").first).to_be_visible()
        assert page.evaluate("window.notReloaded === true"), "the app reloaded instead of receiving the notification"
        assert overflow(page) <= 0, f"the app's home is {overflow(page)} px wider than the phone with a notification"
    context.close()


def test_a_site_operator_rolls_out_firmware_to_a_site(system: System, browser: Any, offline: Offline) -> None:
    """Both simulated stations (OCPP 1.6 and 2.0.1) take the UpdateFirmware and report
    Downloading ... Installed; the roll-out page follows each without a reload."""
    context = new_context(browser, offline, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    with showing(page):
        sign_in(page, system, system.site_operator)
        page.goto(f"{system.url}/stations")
        page.fill("#new-rollout input[name=location]", "http://127.0.0.1:9/firmware-2.1.bin")
        page.check("#new-rollout input[name=target][value=site]")
        page.select_option("#new-rollout select[name=site_id]", "site-1")
        page.click("#new-rollout button[type=submit]")
        expect(page).to_have_url(re.compile(r"/firmware/fw-[0-9a-f]{12}$"))
        page.evaluate("window.notReloaded = true")
        for station_id in sorted(system.stations):
            expect(page.locator(f"tr[data-station='{station_id}'] .fw-state")).to_have_attribute(
                "data-state", "Installed"
            )
        expect(page.locator("#rollout-summary")).to_have_attribute("data-done", str(len(system.stations)))
        expect(page.locator("#rollout-summary")).to_have_attribute("data-failed", "0")
        assert page.evaluate("window.notReloaded === true"), "the roll-out page reloaded instead of updating"
        rollout_id = page.url.rsplit("/", 1)[1]
        page.goto(f"{system.url}/stations")
        expect(page.locator(f"#rollouts tr[data-rollout='{rollout_id}']")).to_be_visible()
    context.close()


def test_remote_stop_of_a_charging_session_from_the_station_page(
    system: System, browser: Any, offline: Offline
) -> None:
    """A session of its own (a car with an RFID card at the OCPP 2.0.1 station, which no other test
    plugs into) is stopped from the station page: RemoteStop through the energy manager to the
    station (RequestStopTransaction). Runs alone or after the others."""
    station_id = sorted(system.stations)[1]
    system.run(a_charging_session(system, station_id), timeout=30)
    context = new_context(browser, offline, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        with showing(page):
            sign_in(page, system, system.site_operator)
            page.goto(f"{system.url}/stations/{station_id}")
            # The station page is not live: the reporting service learns of the transaction from
            # transaction.events a moment after the station started it. It is the station's only one
            # (the platform's transaction id, not the station's own, so it is read from the page).
            running = page.locator("li[data-transaction]")
            deadline = time.monotonic() + 15
            while not running.count():
                assert time.monotonic() < deadline, f"no running session listed 15 s after {station_id} started one"
                page.wait_for_timeout(500)
                page.reload()
            assert running.count() == 1, f"{station_id} lists {running.count()} running sessions, started one"
            transaction = running.first.get_attribute("data-transaction")
            running.first.locator("button").click()
            expect(page.locator("p.ok[role=status]")).to_be_visible()
            deadline = time.monotonic() + 15
            while page.locator(f"li[data-transaction='{transaction}']").count():
                assert time.monotonic() < deadline, f"transaction {transaction} still listed 15 s after the stop"
                page.wait_for_timeout(500)
                page.reload()
            assert system.call(lambda: system.stations[station_id].transaction(1)) is None, "the station still charges"
    finally:
        context.close()
        system.call(lambda: system.stations[station_id].unplug(1))


def test_a_fleet_manager_adds_a_vehicle_and_a_driver_and_edits_the_vehicle(
    system: System, browser: Any, offline: Offline
) -> None:
    """Through the reservation API: a vehicle (kWh and kW as typed), then a driver who drives it,
    then the vehicle edited."""
    context = new_context(browser, offline, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    with showing(page):
        sign_in(page, system, system.fleet_manager)
        page.goto(f"{system.url}/fleet")
        page.fill("#new-vehicle input[name=make]", "Kia")
        page.fill("#new-vehicle input[name=model]", "e-Niro")
        page.fill("#new-vehicle input[name=battery_kwh]", "lots")
        page.click("#new-vehicle button[type=submit]")
        expect(page.locator("main")).to_contain_text("battery_kwh")  # the 422 page names the field
        page.go_back()
        page.fill("#new-vehicle input[name=battery_kwh]", "64,8")
        page.click("#new-vehicle button[type=submit]")
        expect(page).to_have_url(re.compile(r"/fleet\?created=[0-9a-f-]{36}$"))
        vehicle_id = page.url.rsplit("=", 1)[1]
        expect(page.locator(f"#vehicles tr[data-vehicle='{vehicle_id}']")).to_contain_text("64.8 kWh")
        page.fill("#new-driver input[name=name]", "Robin Rider")
        page.check(f"#new-driver input[name=vehicle_ids][value='{vehicle_id}']")
        page.click("#new-driver button[type=submit]")
        expect(page).to_have_url(re.compile(r"/fleet\?created=[0-9a-f-]{36}$"))
        driver_id = page.url.rsplit("=", 1)[1]
        expect(page.locator(f"#drivers tr[data-driver='{driver_id}']")).to_contain_text("Kia e-Niro")
        # Edited: the reservation API's PATCH, only the battery changes.
        edit = page.locator(f"#vehicles tr[data-edit-vehicle='{vehicle_id}']")
        edit.locator("summary").click()
        expect(edit.locator("input[name=battery_kwh]")).to_have_value("64.8")
        edit.locator("input[name=battery_kwh]").fill("77,4")
        edit.locator("button[type=submit]").click()
        expect(page).to_have_url(f"{system.url}/fleet?changed={vehicle_id}")
        expect(page.locator(f"#vehicles tr[data-vehicle='{vehicle_id}']")).to_contain_text("77.4 kWh")
        expect(page.locator(f"#vehicles tr[data-vehicle='{vehicle_id}']")).to_contain_text("Kia e-Niro")
    context.close()


BACK_OFFICE_PAGES = (
    "/login",
    "/dashboard",
    "/stations",
    "/reservations",
    "/fleet",
    "/topology",
    "/tariffs",
    "/reports",
    "/maintenance",
    "/dashboard?lang=de",
)


def overflow(page: Any) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def test_every_page_fits_a_phone_and_loads_nothing_from_the_internet(
    system: System, browser: Any, offline: Offline
) -> None:
    """The driver's pages (/app, /app/scan, the session page) are checked at 390 px in the driver's test."""
    wide: dict[str, int] = {}
    errors: list[str] = []
    took: dict[str, float] = {}
    context = new_context(browser, offline, viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, system, system.fleet_manager)
    for path in (*BACK_OFFICE_PAGES, f"/stations/{first_station(system)}"):
        started = time.monotonic()
        response = page.goto(f"{system.url}{path}")
        took[path] = round(time.monotonic() - started, 2)
        assert response is not None and response.status == 200, f"{path}: {response and response.status}"
        page.wait_for_timeout(400)  # scripts ran, charts drawn, the first live refresh swapped in
        if overflow(page) > 0:
            wide[path] = overflow(page)
        if path == "/dashboard?lang=de":  # the other language, kept for the pages after it
            expect(page.locator("h1")).to_have_text("Übersicht")
            expect(page.locator("header nav a[href='/stations']")).to_have_text("Ladestationen")
    context.close()
    print(f"seconds per page at phone width: {took}")
    assert errors == [], errors
    assert wide == {}, f"pages wider than a 390 px phone (px too wide): {wide}"
    assert offline.refused == [], f"pages asked the internet for: {offline.refused}"
