"""The pure parts: QR codes, the plan as a timeline, the language."""

from __future__ import annotations

from pathlib import Path

import pytest
from chargeyard_backoffice.domain.plan import merged_slots, site_power, timeline
from chargeyard_backoffice.domain.qr import Connector, NotAConnectorCode, connector_of
from chargeyard_backoffice.i18n import GERMAN, negotiate, translator

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "chargeyard_backoffice"


@pytest.mark.parametrize(
    ("content", "connector"),
    [
        ("http://127.0.0.1:8000/v1/connectors/S-1/1/start", Connector("S-1", 1)),
        ("https://cy.example/api/v1/connectors/DE%3AABC.7/12/start", Connector("DE:ABC.7", 12)),
        ("  /v1/connectors/BO1-2/3/start/ ", Connector("BO1-2", 3)),
    ],
)
def test_a_connector_code_names_its_station_and_evse(content: str, connector: Connector) -> None:
    assert connector_of(content) == connector


@pytest.mark.parametrize(
    "content",
    [
        "https://example.com/pay?amount=5",
        "http://x/v1/connectors/S-1/0/start",
        "http://x/v1/connectors/S 1/1/start",
        "http://x/v1/connectors/S-1/1/stop",
        "http://x/v1/connectors/%2F..%2Fadmin/1/start",
        "",
    ],
)
def test_anything_else_is_not_a_connector_code(content: str) -> None:
    with pytest.raises(NotAConnectorCode):
        connector_of(content)


def slot(start: str, end: str, power_w: int) -> dict[str, object]:
    return {"start": f"2026-05-01T{start}:00Z", "end": f"2026-05-01T{end}:00Z", "power_w": power_w}


def test_contiguous_slots_are_one_bar_and_idle_slots_split_bars() -> None:
    bars = merged_slots([slot("08:15", "08:30", 7_000), slot("08:00", "08:15", 11_000), slot("08:30", "08:45", 0)])
    assert [(end - start) // 60_000 for start, end, _ in bars] == [30]
    assert bars[0][2] == 11_000
    split = merged_slots([slot("08:00", "08:15", 1), slot("08:45", "09:00", 1)])
    assert len(split) == 2


def test_the_timeline_has_a_row_per_connector_even_without_charges() -> None:
    plan = {
        "charges": [
            {"reservation_id": "r-1", "station_id": "S-2", "evse_id": 1, "slots": [slot("08:00", "08:15", 5_000)]},
            {
                "reservation_id": "r-2",
                "station_id": "S-1",
                "evse_id": 1,
                "slots": [],
                "planned_start": "2026-05-01T09:00:00Z",
                "planned_finish": "2026-05-01T10:00:00Z",
            },
        ]
    }
    chart = timeline(plan, ["S-1/1", "S-1/2"])
    assert chart["labels"] == ["S-1/1", "S-1/2", "S-2/1"]
    assert [d["data"][0]["y"] for d in chart["datasets"]] == ["S-2/1", "S-1/1"]
    assert timeline(None, ["S-1/1"]) == {"labels": ["S-1/1"], "datasets": []}


def test_site_power_counts_stations_that_never_reported_as_zero() -> None:
    assert site_power([{"power_w": 7_000}, {"power_w": None}, {}]) == 7_000


@pytest.mark.parametrize(
    ("chosen", "header", "language"),
    [
        ("de", "en", "de"),
        (None, "de-CH,de;q=0.9,en;q=0.8", "de"),
        (None, "fr-FR, en;q=0.4, de;q=0.7", "de"),
        (None, "de;q=0, en", "en"),
        (None, "fr", "en"),
        ("xx", None, "en"),
    ],
)
def test_the_language_is_the_choice_else_the_browsers_else_english(
    chosen: str | None, header: str | None, language: str
) -> None:
    assert negotiate(chosen, header, "en") == language


def test_every_german_entry_is_used_and_untranslated_text_stays_english() -> None:
    used = "\n".join(
        p.read_text() for p in TEMPLATES.rglob("*") if p.suffix in (".html", ".py") and p.name != "i18n.py"
    )
    statuses = {"Available", "Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Occupied",
                "Reserved", "Unavailable", "Faulted", "Unknown", "requested", "scheduled", "waitlisted", "conflict",
                "arrived", "charging", "completed", "cancelled", "no_show", "rejected", "expired"}  # fmt: skip
    unused = sorted(k for k in GERMAN if f'"{k}"' not in used and f"'{k}'" not in used and k not in statuses)
    assert unused == []
    assert translator("de")("Dashboard") == "Übersicht"
    assert translator("de")("no such text") == "no such text"
