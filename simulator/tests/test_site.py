from __future__ import annotations

import json
from pathlib import Path

import pytest
from chargeyard_simulator import build_fleet, load_site_config
from chargeyard_simulator.__main__ import build_site_config, parse_args
from pydantic import ValidationError


def test_generated_fleet_mixes_versions_evse_counts_and_power() -> None:
    site = build_fleet(url="ws://cs:9000/ocpp", stations=10, cars=4, seed=7)
    assert {s.ocpp_version for s in site.stations} == {"1.6", "2.0.1"}
    assert {len(s.evses) for s in site.stations} == {1, 2}
    assert {e.max_power_w for s in site.stations for e in s.evses} == {11_000, 22_000}
    assert len(site.cars) == 4
    assert site.stations[0].endpoint() == "ws://cs:9000/ocpp/CY-SIM-001"
    assert not any(s.misbehaviour.any for s in site.stations)


def test_misbehaving_stations_are_the_last_ones() -> None:
    site = build_fleet(url="ws://cs/ocpp", stations=4, cars=0, misbehaving=2)
    assert [s.misbehaviour.any for s in site.stations] == [False, False, True, True]


def test_site_json_and_cli_overrides(tmp_path: Path) -> None:
    path = tmp_path / "site.json"
    path.write_text(
        json.dumps(
            {
                "url": "ws://127.0.0.1:9100/ocpp",
                "speed": 30,
                "stations": [
                    {"station_id": "A-1", "ocpp_version": "2.0.1", "evses": [{"max_power_w": 22000}, {}]},
                    {"station_id": "A-2", "misbehaviour": {"reject_profiles": True, "clock_skew_s": 120}},
                ],
                "cars": [
                    {
                        "station_id": "A-1",
                        "evse_id": 2,
                        "id_tag": "T1",
                        "car": {"battery_wh": 60000, "soc_percent": 30, "max_power_w": 11000},
                    }
                ],
            }
        )
    )
    site = load_site_config(path)
    assert site.stations[0].endpoint() == "ws://127.0.0.1:9100/ocpp/A-1"
    assert site.stations[1].misbehaviour.reject_profiles
    config = build_site_config(parse_args(["--config", str(path), "--url", "ws://other:9000/ocpp", "--speed", "2"]))
    assert config.speed == 2
    assert all(s.endpoint().startswith("ws://other:9000/ocpp/") for s in config.stations)


def test_cars_must_reference_known_evses(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps(
            {
                "stations": [{"station_id": "A-1"}],
                "cars": [
                    {"station_id": "A-1", "evse_id": 3, "car": {"battery_wh": 1, "soc_percent": 1, "max_power_w": 1}}
                ],
            }
        )
    )
    with pytest.raises(ValidationError):
        load_site_config(path)
