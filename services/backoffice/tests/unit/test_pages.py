"""Every page rendered against canned answers of the other services (httpx.MockTransport): the
pages, the language, the sign-in redirect, and what a missing service leaves on a page."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from chargeyard_backoffice.bootstrap import bootstrap
from chargeyard_backoffice.config import Settings
from chargeyard_contracts.commands import ChangeAvailability, Reset, UnlockConnector
from fastapi.testclient import TestClient

NOW = "2026-05-01T10:00:00+02:00"


def a_reservation(**changes: Any) -> dict[str, Any]:
    reservation = {
        "id": "7f1c2d9e-0000-4000-8000-000000000001",
        "tenant_id": "default",
        "site_id": "site-1",
        "time_zone": "Europe/Berlin",
        "vehicle_id": None,
        "driver_id": "d-1",
        "arrival": NOW,
        "departure": "2026-05-01T14:00:00+02:00",
        "duration_s": 14400,
        "energy_wh": 20_000,
        "max_power_w": 11_000,
        "phases": 3,
        "priority": 0,
        "station_id": None,
        "status": "scheduled",
        "assigned_station_id": "S-1",
        "assigned_evse_id": 1,
        "planned_start": NOW,
        "planned_finish": "2026-05-01T12:00:00+02:00",
        "planned_energy_wh": 20_000,
        "conflict": None,
        "decision": None,
        "delivered_wh": None,
        "reason": None,
        "created_at": NOW,
        "updated_at": NOW,
    }
    return reservation | changes


def a_conflict() -> dict[str, Any]:
    return {
        "kind": "short",
        "deliverable_wh": 14_000,
        "requested_wh": 20_000,
        "full_charge_finish": "2026-05-01T15:00:00+02:00",
        "respond_by": "2026-05-01T10:15:00+02:00",
        "default": "less_charge_on_time",
        "choices": ["full_charge_later", "less_charge_on_time"],
    }


ME = {
    "id": "u-1",
    "kind": "user",
    "tenant_id": "default",
    "roles": ["fleet_manager"],
    "permissions": ["reservations:read", "reservations:write", "connectors:read"],
    "driver_id": None,
}
PLAN = {
    "site_id": "site-1",
    "charges": [
        {
            "reservation_id": "7f1c2d9e-0000-4000-8000-000000000001",
            "station_id": "S-1",
            "evse_id": 1,
            "planned_start": "2026-05-01T08:00:00Z",
            "planned_finish": "2026-05-01T10:00:00Z",
            "energy_wh": 20_000,
            "requested_wh": 20_000,
            "slots": [
                {"start": "2026-05-01T08:00:00Z", "end": "2026-05-01T08:15:00Z", "power_w": 11_000},
                {"start": "2026-05-01T08:15:00Z", "end": "2026-05-01T08:30:00Z", "power_w": 7_000},
            ],
        }
    ],
}


def a_rollout(**changes: Any) -> dict[str, Any]:
    rollout = {
        "rollout_id": "fw-1",
        "location": "https://updates.example.com/fw-2.1.bin",
        "retrieve_at": "2026-05-01T08:00:00Z",
        "site_id": "site-1",
        "retries": None,
        "retry_interval_s": None,
        "created_by": "user:u-1",
        "created_at": "2026-05-01T07:00:00Z",
        "stations": [
            {"station_id": s, "command_id": f"fw:{s}", "request_id": n, "outcome": o, "detail": d, "completed_at": c}
            for s, n, o, d, c in (
                ("S-1", 11, "Accepted", None, "2026-05-01T07:00:01Z"),
                ("S-2", 12, "Accepted", None, "2026-05-01T07:00:01Z"),
                ("S-3", 13, "Offline", "not connected", "2026-05-01T07:00:01Z"),
                ("S-4", 14, None, None, None),
            )
        ],
    }
    return rollout | changes


def a_firmware_event(station_id: str, status: str, at: str) -> dict[str, Any]:
    return {
        "at": at,
        "site_id": "site-1",
        "station_id": station_id,
        "vendor": None,
        "model": None,
        "evse_id": None,
        "connector_id": None,
        "kind": "firmware_status",
        "status": None,
        "error_code": None,
        "vendor_error_code": status,
        "detail": "",
    }


PUSHED = (
    ": ping - 2026-05-01 08:00:00\r\n\r\n"
    "id: 42\r\nevent: reservation.scheduled\r\n"
    'data: {"notification_id": "n-42", "kind": "reservation.scheduled", "subject": "Your car charges at S-1/1",'
    ' "body": "", "data": {}, "reservation_id": "r-1", "created_at": "2026-05-01T08:00:00+00:00"}\r\n\r\n'
)
"""What the notifier's push stream sends (sse-starlette writes CRLF line ends)."""


CHECK_TOKENS = {8001, 8002, 8003, 8005, 8006}


class Services:
    """Canned answers by "service-port path"; anything else is that service's 404 route."""

    def __init__(self) -> None:
        self.me = dict(ME)
        self.answers: dict[str, Any] = {
            "8000 /v1/me": self.me,
            "8000 /v1/reservations": {"items": [a_reservation()], "next_cursor": None},
            "8000 /v1/reservations/7f1c2d9e-0000-4000-8000-000000000001": a_reservation(),
            "8000 /v1/sites/site-1": {"id": "site-1", "time_zone": "Europe/Berlin", "stations": []},
            "8000 /v1/sites/site-1/waitlist": [],
            "8000 /v1/vehicles": {"items": [], "next_cursor": None},
            "8000 /v1/drivers": {"items": [], "next_cursor": None},
            "8001 /v1/stations": [{"id": "S-1", "connected": True, "ocpp_version": "1.6"}],
            "8001 /v1/stations/S-1": {"id": "S-1", "connected": True, "ocpp_version": "1.6"},
            "8001 /v1/stations/S-1/journal": [
                {
                    "at": NOW,
                    "direction": "in",
                    "message_type": "Call",
                    "action": "StatusNotification",
                    "error_code": "GroundFailure",
                    "vendor_error_code": "E42",
                }
            ],
            "8002 /v1/plans/site-1": PLAN,
            "8003 /v1/firmware-rollouts": [a_rollout()],
            "8003 /v1/firmware-rollouts/fw-1": a_rollout(),
            "8006 /v1/reports/events": {
                "rows": [
                    a_firmware_event("S-1", "Installed", "2026-05-01T08:03:00Z"),
                    a_firmware_event("S-1", "Installing", "2026-05-01T08:02:00Z"),
                    a_firmware_event("S-2", "Downloading", "2026-05-01T08:01:00Z"),
                    a_firmware_event("S-2", "InstallationFailed", "2026-04-30T08:01:00Z"),
                ]
            },
            "8005 /v1/tariffs": [
                {
                    "tariff_id": "day",
                    "currency": "EUR",
                    "vat_rate": "0.19",
                    "session_fee": "0.50",
                    "energy": [{"starts": "06:00:00", "price_per_kwh": "0.39"}],
                    "price_per_minute": "0",
                    "idle": None,
                    "site_id": "site-1",
                    "tenant_id": None,
                    "user_group": None,
                    "updated_at": NOW,
                }
            ],
            "8003 /v1/sites": [{"site_id": "site-1"}],
            "8003 /v1/groups": [
                {
                    "group_id": "g-1",
                    "name": "Depot",
                    "strategy": "fcfs",
                    "settings": {},
                    "evses": [{"station_id": "S-1", "evse_id": 1}],
                }
            ],
            "8003 /v1/sites/site-1": {
                "site_id": "site-1",
                "time_zone": "Europe/Berlin",
                "grid_limit_w": 44_000,
                "circuits": [],
                "stations": [{"station_id": "S-1", "evse_ids": [1], "max_power_w": 11_000, "phases": 3}],
            },
            "8006 /v1/reports/stations": [
                {
                    "station_id": "S-1",
                    "site_id": "site-1",
                    "power_w": 7_000,
                    "active_transactions": [],
                    "connectors": [
                        {"evse_id": 1, "connector_id": 1, "status": "Charging", "error_code": None, "since": NOW}
                    ],
                }
            ],
            "8006 /v1/reports/energy": {
                "from": None,
                "to": None,
                "energy_wh": 5_000,
                "sites": [
                    {"site_id": "site-1", "energy_wh": 5_000, "stations": [{"station_id": "S-1", "energy_wh": 5_000}]}
                ],
            },
        }
        self.down: set[int] = set()
        self.sent: list[tuple[str, str, Any]] = []
        self.streams: list[httpx.Request] = []
        self.posted: list[httpx.Request] = []
        self.refusals: dict[str, tuple[int, dict[str, Any]]] = {}
        """"method service-port path": the problem-details answer a service refuses it with."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        port = request.url.port or 80
        if port in self.down:
            raise httpx.ConnectError("connection refused", request=request)
        key = f"{port} {request.url.path}"
        if port in CHECK_TOKENS and request.headers.get("authorization") != "Bearer jwt":
            # The gateway, scheduler, energy manager, billing and reporting take the signed-in
            # user's token, as the reservation API does.
            return httpx.Response(401, json={"title": "Unauthorized", "detail": "Send Authorization: Bearer"})
        if key == "8004 /v1/stream":
            self.streams.append(request)
            return httpx.Response(200, text=PUSHED, headers={"content-type": "text/event-stream"})
        if request.method != "GET":
            body = request.content.decode() if request.content else ""
            self.sent.append((request.method, key, body))
            self.posted.append(request)
            refusal = self.refusals.get(f"{request.method} {key}")
            if refusal is not None:
                return httpx.Response(refusal[0], json=refusal[1])
            if key in ("8000 /v1/vehicles", "8000 /v1/drivers"):
                return httpx.Response(201, json={"id": "new-1"})
            if key == "8000 /v1/auth/token":
                return httpx.Response(200, json={"access_token": "jwt", "token_type": "bearer", "expires_in": 3600})
            if key == "8000 /v1/reservations":
                return httpx.Response(201, json=a_reservation(id="7f1c2d9e-0000-4000-8000-000000000002"))
            if key == "8003 /v1/firmware-rollouts":
                return httpx.Response(201, json=a_rollout())
            if key.startswith("8003 /v1/stations/"):
                return httpx.Response(202, json={"command_id": "op:1", "station_id": "S-1", "command": {}})
            if key.endswith("/start"):
                return httpx.Response(202, json={"command_id": "c-1", "reservation": a_reservation(status="arrived")})
            return httpx.Response(200, json=a_reservation())
        if key in self.answers:
            return httpx.Response(200, json=self.answers[key])
        return httpx.Response(404, json={"detail": "Not Found"})


@pytest.fixture
def services() -> Services:
    return Services()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/backoffice.db", max_document_bytes=1_000)


@pytest.fixture
def client(services: Services, settings: Settings) -> Iterator[TestClient]:
    app = bootstrap(settings, transport=httpx.MockTransport(services))
    with TestClient(app, base_url="http://127.0.0.1:8007") as signed_in:
        signed_in.cookies.set("cy_session", "jwt")
        yield signed_in


PAGES = [
    "/dashboard",
    "/dashboard/live",
    "/stations",
    "/stations/S-1",
    "/reservations",
    "/reservations/7f1c2d9e-0000-4000-8000-000000000001",
    "/fleet",
    "/topology",
    "/tariffs",
    "/reports",
    "/app",
    "/app/scan",
    "/app/sessions/7f1c2d9e-0000-4000-8000-000000000001",
    "/maintenance",
    "/maintenance?station=S-1",
    "/firmware/fw-1",
]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_and_references_nothing_outside(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200, page.text[-800:]
    # Text may name a URL (a firmware location); nothing the browser loads or follows may point outside.
    assert re.findall(r'(?:src|href|action|hx-get|hx-post)="(?:https?:)?//[^"]*"', page.text) == []
    assert "url(http" not in page.text and "//cdn" not in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_the_dashboard_carries_the_plan_as_a_timeline_per_connector(client: TestClient) -> None:
    page = client.get("/dashboard").text
    data = json.loads(page.split('id="live-data">', 1)[1].split("</script>", 1)[0])
    assert data["power_w"] == 7_000 and data["limit_w"] == 44_000
    (charge,) = data["timeline"]["datasets"]
    assert data["timeline"]["labels"] == ["S-1/1"]
    # Two contiguous slots are one bar of 30 minutes, at the higher power.
    assert charge["data"] == [{"x": [1777622400000, 1777624200000], "y": "S-1/1", "power_w": 11_000}]
    assert 'data-status="Charging"' in page


def test_a_missing_service_leaves_its_part_not_available(client: TestClient, services: Services) -> None:
    services.down.add(8006)
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert "Not available" in page.text and "station status (reporting)" in page.text


def test_german_from_the_browser_or_the_switch(client: TestClient) -> None:
    assert "<h1>Übersicht</h1>" in client.get("/dashboard", headers={"Accept-Language": "de-DE,de;q=0.9"}).text
    assert "<h1>Dashboard</h1>" in client.get("/dashboard", headers={"Accept-Language": "fr, en;q=0.5"}).text
    switched = client.get("/stations?lang=de")
    assert "<h1>Ladestationen</h1>" in switched.text
    assert "<h1>Ladestationen</h1>" in client.get("/stations").text  # the choice is kept in a cookie


def test_signed_out_goes_to_the_sign_in_page(services: Services, settings: Settings) -> None:
    services.answers.pop("8000 /v1/me")

    def refuse(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/me":
            return httpx.Response(401, json={"title": "Unauthorized", "detail": "expired"})
        return services(request)

    with TestClient(bootstrap(settings, transport=httpx.MockTransport(refuse))) as anonymous:
        assert anonymous.get("/dashboard", follow_redirects=False).headers["location"] == "/login?next=/dashboard"
        anonymous.cookies.set("cy_session", "old")
        polled = anonymous.get("/dashboard/live", headers={"HX-Request": "true"}, follow_redirects=False)
        assert polled.status_code == 204 and polled.headers["HX-Redirect"].startswith("/login")


def test_a_reservation_form_is_sent_in_the_sites_time_zone(client: TestClient, services: Services) -> None:
    created = client.post(
        "/reservations",
        data={"arrival": "2026-05-01T10:00", "departure": "2026-05-01T14:30", "energy_kwh": "12,5"},
        follow_redirects=False,
    )
    assert created.status_code == 303 and created.headers["location"].endswith("000000000002")
    ((_, _, body),) = [s for s in services.sent if s[1] == "8000 /v1/reservations"]
    sent = json.loads(body)
    assert sent["arrival"] == "2026-05-01T10:00:00+02:00" and sent["energy_wh"] == 12_500


@pytest.mark.parametrize(
    ("form", "named"),
    [
        ({"arrival": "tomorrow", "departure": "2026-05-01T14:30", "energy_kwh": "5"}, "arrival"),
        ({"arrival": "2026-05-01T10:00", "departure": "2026-05-01T14:30", "energy_kwh": "-1"}, "energy_kwh"),
        ({"arrival": "2026-05-01T10:00", "departure": "2026-05-01T14:30"}, "energy_kwh"),
    ],
)
def test_bad_input_is_a_4xx_that_names_the_field(client: TestClient, form: dict[str, str], named: str) -> None:
    refused = client.post("/reservations", data=form)
    assert refused.status_code == 422 and named in refused.text


def test_a_scanned_code_starts_at_its_connector(client: TestClient, services: Services) -> None:
    started = client.post(
        "/app/scan", data={"code": "http://cy.example/v1/connectors/S-1/1/start"}, follow_redirects=False
    )
    assert started.status_code == 303 and started.headers["location"].startswith("/app/sessions/")
    assert ("POST", "8000 /v1/connectors/S-1/1/start", "{}") in services.sent
    wrong = client.post("/app/scan", data={"code": "https://example.com/pay"})
    assert wrong.status_code == 422 and "not a Chargeyard connector code" in wrong.text


def test_a_conflict_offers_both_choices_and_sends_the_answer(client: TestClient, services: Services) -> None:
    services.answers["8000 /v1/reservations/7f1c2d9e-0000-4000-8000-000000000001"] = a_reservation(
        status="conflict", conflict=a_conflict()
    )
    page = client.get("/app/sessions/7f1c2d9e-0000-4000-8000-000000000001").text
    assert 'value="full_charge_later"' in page and 'value="less_charge_on_time"' in page
    answered = client.post(
        "/app/reservations/7f1c2d9e-0000-4000-8000-000000000001/decision",
        data={"choice": "less_charge_on_time"},
        follow_redirects=False,
    )
    assert answered.status_code == 303
    assert any(s[1].endswith("/decision") and "less_charge_on_time" in s[2] for s in services.sent)


def test_csv_export_passes_the_filters_on(client: TestClient, services: Services, settings: Settings) -> None:
    seen: list[str] = []
    original: Callable[[httpx.Request], httpx.Response] = services.__call__

    def csv(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/reports/energy.csv":
            seen.append(
                str(request.url.query, "ascii") if isinstance(request.url.query, bytes) else str(request.url.query)
            )
            return httpx.Response(200, text="site_id,station_id,energy_wh,from,to\n")
        return original(request)

    with TestClient(bootstrap(settings, transport=httpx.MockTransport(csv))) as c:
        c.cookies.set("cy_session", "jwt")
        got = c.get("/reports/energy.csv?site=site-1&from=2026-05-01")
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert "site_id=site-1" in seen[0] and "from=2026-05-01T00%3A00%3A00%2B00%3A00" in seen[0]


def test_a_groups_dashboard_shows_the_groups_connectors_only(client: TestClient, services: Services) -> None:
    services.answers["8006 /v1/reports/stations"].append(
        {"station_id": "S-9", "site_id": "site-2", "power_w": 3_000, "active_transactions": [], "connectors": []}
    )
    page = client.get("/dashboard?group=g-1")
    assert page.status_code == 200
    assert 'data-station="S-1"' in page.text and 'data-station="S-9"' not in page.text
    assert "group=g-1" in page.text  # the live part keeps polling the group
    unknown = client.get("/dashboard?group=g-404")
    assert unknown.status_code == 404 and "g-404" in unknown.text


def test_remote_start_from_the_back_office_names_the_reservation(client: TestClient, services: Services) -> None:
    started = client.post("/reservations/7f1c2d9e-0000-4000-8000-000000000001/start", follow_redirects=False)
    assert started.status_code == 303
    ((_, key, body),) = [s for s in services.sent if s[1].endswith("/start")]
    assert key == "8000 /v1/connectors/S-1/1/start" and "7f1c2d9e-0000-4000-8000-000000000001" in body


def test_the_maintenance_log_keeps_entries_and_their_documents(client: TestClient) -> None:
    added = client.post(
        "/maintenance",
        data={"site_id": "site-1", "station_id": "S-1", "kind": "repair", "note": "RCD replaced"},
        files={"document": ("wiring <plan>.pdf", b"%PDF-1.4 wiring", "application/pdf")},
        follow_redirects=False,
    )
    assert added.status_code == 303 and added.headers["location"] == "/maintenance?station=S-1"
    client.post("/maintenance", data={"site_id": "site-1", "station_id": "S-2", "kind": "fault", "note": "E42"})
    page = client.get("/maintenance?station=S-1").text
    assert "RCD replaced" in page and "E42" not in page
    link = page.split('href="/maintenance/', 1)[1].split('"', 1)[0]
    document = client.get(f"/maintenance/{link}")
    assert document.content == b"%PDF-1.4 wiring" and document.headers["content-type"] == "application/pdf"
    assert 'filename="wiring _plan_.pdf"' in document.headers["content-disposition"]
    assert "E42" in client.get("/maintenance?site=site-1").text


def test_a_document_of_an_unsafe_type_is_only_downloaded(client: TestClient) -> None:
    client.post(
        "/maintenance",
        data={"site_id": "site-1", "kind": "document", "note": "page"},
        files={"document": ("x.html", b"<script>alert(1)</script>", "text/html")},
    )
    link = client.get("/maintenance").text.split('href="/maintenance/', 1)[1].split('"', 1)[0]
    served = client.get(f"/maintenance/{link}")
    assert served.headers["content-type"] == "application/octet-stream"
    assert served.headers["content-disposition"].startswith("attachment")


@pytest.mark.parametrize(
    ("form", "status", "named"),
    [
        ({"site_id": "site-1", "kind": "party", "note": "x"}, 422, "kind"),
        ({"site_id": "site-1", "kind": "fault", "note": ""}, 422, "note"),
    ],
)
def test_a_bad_log_entry_is_refused_naming_the_field(
    client: TestClient, form: dict[str, str], status: int, named: str
) -> None:
    refused = client.post("/maintenance", data=form)
    assert refused.status_code == status and named in refused.text


def test_a_document_over_the_limit_is_refused(client: TestClient) -> None:
    refused = client.post(
        "/maintenance",
        data={"site_id": "site-1", "kind": "document", "note": "scan"},
        files={"document": ("scan.png", b"x" * 1_001, "image/png")},
    )
    assert refused.status_code == 413 and "1000 bytes" in refused.text


def test_drivers_do_not_see_the_maintenance_log(client: TestClient, services: Services) -> None:
    services.me.update(roles=["driver"], driver_id="d-1")
    assert client.get("/maintenance").status_code == 403


def test_tariffs_show_their_prices(client: TestClient) -> None:
    page = client.get("/tariffs").text
    assert 'data-tariff="day"' in page and "06:00: 0.39 EUR/kWh" in page


def test_metrics_count_the_pages_served(client: TestClient) -> None:
    def served() -> float:
        text = client.get("/metrics").text
        line = 'chargeyard_backoffice_request_seconds_count{method="GET",status="2xx"}'
        return next((float(row.split()[-1]) for row in text.splitlines() if row.startswith(line)), 0.0)

    before = served()
    assert client.get("/").status_code == 200
    assert served() >= before + 1


def test_a_firmware_rollout_to_a_site_is_sent_in_the_sites_time_zone(client: TestClient, services: Services) -> None:
    page = client.post(
        "/firmware",
        data={
            "location": " https://updates.example.com/fw-2.1.bin ",
            "retrieve_at": "2026-05-01T22:30",
            "target": "site",
            "site_id": "site-1",
            "station_ids": "S-2",
        },
        follow_redirects=False,
    )
    assert page.status_code == 303 and page.headers["location"] == "/firmware/fw-1", page.text[-500:]
    method, key, body = services.sent[-1]
    assert (method, key) == ("POST", "8003 /v1/firmware-rollouts")
    assert json.loads(body) == {
        "location": "https://updates.example.com/fw-2.1.bin",
        "retrieve_at": "2026-05-01T22:30:00+02:00",
        "site_id": "site-1",
    }


def test_a_firmware_rollout_to_the_stations_ticked(client: TestClient, services: Services) -> None:
    page = client.post(
        "/firmware",
        data={"location": "ftp://fw.example.com/x.bin", "target": "stations", "station_ids": ["S-1", "S-2"]},
        follow_redirects=False,
    )
    assert page.status_code == 303, page.text[-500:]
    assert json.loads(services.sent[-1][2]) == {"location": "ftp://fw.example.com/x.bin", "station_ids": ["S-1", "S-2"]}
    page = client.post("/firmware", data={"location": "ftp://fw.example.com/x.bin", "target": "stations"})
    assert page.status_code == 422 and "station_ids" in page.text
    page = client.post("/firmware", data={"location": "ftp://x/y", "target": "site", "retrieve_at": "tomorrow"})
    assert page.status_code == 422 and "retrieve_at" in page.text
    assert len([s for s in services.sent if s[1] == "8003 /v1/firmware-rollouts"]) == 1, "nothing sent when refused"


def test_a_rollout_shows_each_stations_progress(client: TestClient) -> None:
    page = client.get("/firmware/fw-1").text
    states = dict(re.findall(r'<tr data-station="([^"]+)">.*?data-state="([^"]+)"', page, re.S))
    # S-2's failure is older than the roll-out: another update, not this one.
    assert states == {"S-1": "Installed", "S-2": "Downloading", "S-3": "Offline", "S-4": "Sent"}
    assert 'data-done="1" data-failed="1" data-total="4"' in page
    assert 'hx-trigger="every' in page, "the progress refreshes in place"
    live = client.get("/firmware/fw-1", headers={"HX-Request": "true"}).text
    assert "<html" not in live and 'data-station="S-1"' in live


def test_the_stations_page_lists_rollouts_and_offers_the_form(client: TestClient, services: Services) -> None:
    page = client.get("/stations").text
    assert 'data-rollout="fw-1"' in page and 'id="new-rollout"' in page
    services.me["permissions"] = ["reservations:read"]
    assert 'id="new-rollout"' not in client.get("/stations").text
    refused = client.post("/firmware", data={"location": "ftp://x/y", "target": "site"})
    assert refused.status_code == 403
    assert not [s for s in services.sent if s[1] == "8003 /v1/firmware-rollouts"]


def test_a_running_session_is_stopped_from_the_station_page(client: TestClient, services: Services) -> None:
    services.answers["8006 /v1/reports/stations"][0]["active_transactions"] = ["tx-77"]
    page = client.get("/stations/S-1").text
    assert 'data-transaction="tx-77"' in page
    stopped = client.post("/stations/S-1/stop", data={"transaction_id": "tx-77"}, follow_redirects=False)
    assert stopped.status_code == 303 and stopped.headers["location"] == "/stations/S-1?sent=op:1"
    assert services.sent[-1][1] == "8003 /v1/stations/S-1/remote-stop"
    assert json.loads(services.sent[-1][2]) == {"transaction_id": "tx-77"}
    assert client.post("/stations/S-1/stop", data={"transaction_id": ""}).status_code == 422


def as_driver(services: Services) -> None:
    services.me.update(roles=["driver"], driver_id="d-1", permissions=["reservations:read", "reservations:write"])
    services.answers["8004 /v1/deliveries"] = [{"id": 41}]
    services.answers["8004 /v1/notifications"] = [
        {"id": "n-41", "kind": "reservation.created", "subject": "Booked", "created_at": NOW, "reservation_id": None}
    ]


def test_the_app_relays_the_drivers_push_stream_with_the_token(client: TestClient, services: Services) -> None:
    as_driver(services)
    home = client.get("/app").text
    assert 'data-notifications="/app/notifications/stream?after=41"' in home, "the stream starts after the page's news"
    assert 'data-notification="n-41"' in home and "/static/notifications.js" in home
    assert 'id="notifications"' not in client.get("/app", headers={"HX-Request": "true"}).text, "not polled"
    relayed = client.get("/app/notifications/stream?after=41")
    assert relayed.status_code == 200 and relayed.headers["content-type"].startswith("text/event-stream")
    events = [e for e in relayed.text.split("\n\n") if e.strip()]
    assert events[-1].splitlines() == [
        "id: 42",
        "event: notification",
        "data: " + PUSHED.split("data: ", 1)[1].split("\r\n", 1)[0],
    ], relayed.text
    upstream = services.streams[-1]
    assert upstream.headers["authorization"] == "Bearer jwt" and upstream.url.params["after"] == "41"
    # A reconnect resumes from the browser's Last-Event-ID, not from the page's position.
    client.get("/app/notifications/stream?after=41", headers={"Last-Event-ID": "42"})
    assert services.streams[-1].headers["last-event-id"] == "42" and "after" not in services.streams[-1].url.params
    # Opened without a position: from the newest delivery now.
    client.get("/app/notifications/stream")
    assert services.streams[-1].url.params["after"] == "41"


def test_only_drivers_get_a_push_stream(client: TestClient, services: Services) -> None:
    assert client.get("/app/notifications/stream").status_code == 204
    assert services.streams == []
    assert "data-notifications" not in client.get("/app").text


@pytest.mark.parametrize("button", ["soft-reset", "hard-reset", "inoperative", "operative", "unlock"])
def test_a_station_command_is_sent_in_the_energy_managers_terms(
    client: TestClient, services: Services, button: str
) -> None:
    """The bodies are what the energy manager's operator endpoints accept: checked against the
    shared command contracts, not against a copy of their values."""
    done = client.post("/stations/S-1/commands", data={"command": button}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/stations/S-1?sent=op:1", done.text[-400:]
    ((method, key, body),) = services.sent
    assert method == "POST"
    contract = {"reset": Reset, "availability": ChangeAvailability, "unlock": UnlockConnector}[key.rsplit("/", 1)[1]]
    contract.model_validate({"station_id": "S-1", **json.loads(body)})
    assert services.posted[-1].headers["authorization"] == "Bearer jwt", "the energy manager records who sent it"


VEHICLE_FORM = {
    "idempotency_key": "v-0123456789abcdef",
    "make": " Renault ",
    "model": "Zoe",
    "battery_kwh": "52,5",
    "consumption_kwh_per_100km": "17.2",
    "max_ac_power_kw": "22",
    "phases": "3",
    "connector_type": "Type2",
    "priority": "2",
    "external_ref": "",
}


def test_a_fleet_manager_adds_a_vehicle_and_a_driver(client: TestClient, services: Services) -> None:
    services.me["permissions"] = [*ME["permissions"], "fleet:read", "fleet:write"]
    services.answers["8000 /v1/vehicles"] = {
        "items": [{"id": "v-9", "make": "Renault", "model": "Zoe", "battery_wh": 52_500, "max_ac_power_w": 22_000}],
        "next_cursor": None,
    }
    page = client.get("/fleet").text
    assert 'id="new-vehicle"' in page and 'id="new-driver"' in page and 'value="v-9"' in page
    done = client.post("/fleet/vehicles", data=VEHICLE_FORM, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/fleet?created=new-1", done.text[-400:]
    sent = services.posted[-1]
    assert (sent.url.path, sent.headers["idempotency-key"]) == ("/v1/vehicles", "v-0123456789abcdef")
    assert json.loads(sent.content) == {
        "make": "Renault",
        "model": "Zoe",
        "battery_wh": 52_500,
        "consumption_wh_per_100km": 17_200,
        "max_ac_power_w": 22_000,
        "phases": 3,
        "connector_type": "Type2",
        "priority": 2,
    }
    done = client.post(
        "/fleet/drivers",
        data={"idempotency_key": "d-0123456789abcdef", "name": "Dana", "email": "", "vehicle_ids": ["v-9"]},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text[-400:]
    assert json.loads(services.posted[-1].content) == {"name": "Dana", "vehicle_ids": ["v-9"]}
    assert 'id="fleet-created"' in client.get("/fleet?created=new-1").text


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"battery_kwh": "lots"}, "battery_kwh"),
        ({"battery_kwh": "0"}, "battery_kwh"),
        ({"max_ac_power_kw": "400"}, "max_ac_power_kw"),
        ({"connector_type": "Schuko"}, "connector_type"),
        ({"priority": "11"}, "priority"),
        ({"make": ""}, "make"),
        ({"idempotency_key": "x"}, "idempotency_key"),
    ],
)
def test_a_bad_vehicle_is_refused_naming_the_field(
    client: TestClient, services: Services, change: dict[str, str], named: str
) -> None:
    page = client.post("/fleet/vehicles", data=VEHICLE_FORM | change)
    assert page.status_code == 422 and named in page.text, page.text[-400:]
    assert services.posted == [], "nothing sent"


def test_the_fleet_forms_need_fleet_write(client: TestClient, services: Services) -> None:
    services.answers["8000 /v1/vehicles"] = {"items": [A_VEHICLE], "next_cursor": None}
    services.answers["8000 /v1/drivers"] = {"items": [A_DRIVER], "next_cursor": None}
    page = client.get("/fleet").text
    assert 'data-vehicle="v-9"' in page and 'data-driver="d-1"' in page
    assert 'id="new-vehicle"' not in page and 'id="new-driver"' not in page
    assert "/fleet/vehicles/v-9" not in page and "/fleet/drivers/d-1" not in page


A_VEHICLE = {
    "id": "v-9",
    "tenant_id": "default",
    "external_ref": "van-9",
    "make": "Renault",
    "model": "Zoe",
    "battery_wh": 52_500,
    "consumption_wh_per_100km": 17_200,
    "max_ac_power_w": 22_000,
    "phases": 3,
    "connector_type": "Type2",
    "priority": 2,
    "created_at": NOW,
}
A_DRIVER = {
    "id": "d-1",
    "tenant_id": "default",
    "pseudonym": "drv_1",
    "external_ref": None,
    "name": "Dana",
    "email": "dana@example.org",
    "phone": None,
    "vehicle_ids": [],
    "created_at": NOW,
    "erased_at": None,
}
EDIT_VEHICLE_FORM = {k: v for k, v in VEHICLE_FORM.items() if k != "idempotency_key"} | {"external_ref": "van-9"}


def as_fleet_writer(services: Services) -> None:
    services.me["permissions"] = [*ME["permissions"], "fleet:read", "fleet:write"]
    services.answers["8000 /v1/vehicles"] = {"items": [A_VEHICLE], "next_cursor": None}
    services.answers["8000 /v1/drivers"] = {"items": [A_DRIVER], "next_cursor": None}
    services.answers["8000 /v1/vehicles/v-9"] = A_VEHICLE
    services.answers["8000 /v1/drivers/d-1"] = A_DRIVER


def test_a_fleet_manager_edits_a_vehicle_and_a_driver_sending_only_what_changed(
    client: TestClient, services: Services
) -> None:
    as_fleet_writer(services)
    page = client.get("/fleet").text
    vehicle_form = page.split('action="/fleet/vehicles/v-9"', 1)[1].split("</form>", 1)[0]
    # The form starts from what is stored, in the units people type.
    for name, value in (("battery_kwh", "52.5"), ("consumption_kwh_per_100km", "17.2"), ("max_ac_power_kw", "22")):
        assert re.search(rf'name="{name}"[^>]*value="{re.escape(value)}"', vehicle_form), (name, vehicle_form)
    assert 'value="van-9"' in vehicle_form and "<option selected>3</option>" in vehicle_form
    driver_form = page.split('action="/fleet/drivers/d-1"', 1)[1].split("</form>", 1)[0]
    assert 'value="dana@example.org"' in driver_form and 'value="v-9">' in driver_form  # not ticked yet

    done = client.post(
        "/fleet/vehicles/v-9", data=EDIT_VEHICLE_FORM | {"battery_kwh": "64,8", "priority": "5"}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/fleet?changed=v-9", done.text[-400:]
    sent = services.posted[-1]
    assert (sent.method, sent.url.path) == ("PATCH", "/v1/vehicles/v-9")
    assert json.loads(sent.content) == {"battery_wh": 64_800, "priority": 5}

    done = client.post(
        "/fleet/drivers/d-1",
        data={"name": "Dana", "email": "", "phone": "+49 30 1", "vehicle_ids": ["v-9"]},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/fleet?changed=d-1", done.text[-400:]
    sent = services.posted[-1]
    assert (sent.method, sent.url.path) == ("PATCH", "/v1/drivers/d-1")
    # An emptied e-mail field clears the address; the unchanged name is not sent.
    assert json.loads(sent.content) == {"email": None, "phone": "+49 30 1", "vehicle_ids": ["v-9"]}
    assert 'id="fleet-changed"' in client.get("/fleet?changed=d-1").text

    # Saved without a change: nothing to send.
    before = len(services.posted)
    assert client.post("/fleet/vehicles/v-9", data=EDIT_VEHICLE_FORM, follow_redirects=False).status_code == 303
    assert len(services.posted) == before


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"battery_kwh": "lots"}, "battery_kwh"),
        ({"consumption_kwh_per_100km": "-1"}, "consumption_kwh_per_100km"),
        ({"phases": "4"}, "phases"),
        ({"make": ""}, "make"),
    ],
)
def test_a_bad_vehicle_edit_is_refused_naming_the_field(
    client: TestClient, services: Services, change: dict[str, str], named: str
) -> None:
    as_fleet_writer(services)
    page = client.post("/fleet/vehicles/v-9", data=EDIT_VEHICLE_FORM | change)
    assert page.status_code == 422 and named in page.text, page.text[-400:]
    assert services.posted == [], "nothing sent"


def test_the_reservation_apis_refusal_of_an_edit_reaches_the_page(client: TestClient, services: Services) -> None:
    """A 422 of the API (a vehicle of another tenant, say) is shown naming the field, not lost."""
    as_fleet_writer(services)
    services.answers["8000 /v1/drivers/d-2"] = A_DRIVER | {"id": "d-2"}
    services.refusals["PATCH 8000 /v1/drivers/d-2"] = (
        422,
        {
            "title": "Unknown vehicle",
            "detail": "No vehicle v-other in this tenant",
            "errors": [{"field": "vehicle_ids", "message": "unknown vehicle", "type": "value_error"}],
        },
    )
    page = client.post("/fleet/drivers/d-2", data={"name": "Dana", "vehicle_ids": ["v-other"]})
    assert page.status_code == 422 and "vehicle_ids" in page.text, page.text[-400:]


def test_a_push_stream_without_the_notifier_is_a_503(client: TestClient, services: Services) -> None:
    as_driver(services)
    services.down.add(8004)
    assert client.get("/app/notifications/stream?after=1").status_code == 503
    assert client.get("/app").status_code == 200, "the app works without its notifications"


def test_a_driver_watches_a_session_whose_billing_is_not_for_drivers(
    client: TestClient, services: Services, settings: Settings
) -> None:
    """Billing answers a driver's token with 403 (reporting, which gives the power, does not): that
    part says "not available", the rest of the page (the reservation API's delivered energy) is shown."""
    as_driver(services)
    services.answers["8000 /v1/reservations/7f1c2d9e-0000-4000-8000-000000000001"] = a_reservation(
        status="charging", delivered_wh=4_200
    )
    original: Callable[[httpx.Request], httpx.Response] = services.__call__
    asked: list[str] = []

    def refusing(request: httpx.Request) -> httpx.Response:
        if request.url.port == 8005:
            asked.append(request.headers.get("authorization", ""))
            forbidden = {"title": "Forbidden", "detail": "Only administrator may read; this caller has driver"}
            return httpx.Response(403, json=forbidden)
        return original(request)

    with TestClient(bootstrap(settings, transport=httpx.MockTransport(refusing))) as c:
        c.cookies.set("cy_session", "jwt")
        page = c.get("/app/sessions/7f1c2d9e-0000-4000-8000-000000000001")
    assert page.status_code == 200, page.text[-400:]
    assert asked == ["Bearer jwt"], "asked with the driver's own token"
    assert "4.2" in page.text
