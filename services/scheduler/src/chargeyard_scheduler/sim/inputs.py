"""Reading the simulator's inputs: sessions CSV, site JSON, prices and green-share CSVs.

Every error names the file, the line or field and what is expected, so a user can fix the input."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SESSION_COLUMNS = ("session_id", "station_id", "arrival", "departure", "energy_kwh", "max_power_kw")


class InputError(ValueError):
    """Bad input: the message says where and what."""


@dataclass(frozen=True, slots=True)
class Session:
    session_id: str
    station_id: str
    arrival: datetime
    departure: datetime
    energy_wh: int
    max_power_w: int


@dataclass(frozen=True, slots=True)
class Station:
    station_id: str
    max_power_w: int
    phases: int = 3
    evses: int = 1
    board_id: str | None = None
    phase_rotation: str = "RST"


@dataclass(frozen=True, slots=True)
class SimBoard:
    board_id: str
    limit_a: float
    parent_id: str | None = None


@dataclass(frozen=True, slots=True)
class Site:
    limit_w: int
    time_zone: ZoneInfo
    voltage_v: float = 230.0
    boards: tuple[SimBoard, ...] = ()
    stations: tuple[Station, ...] = field(default_factory=tuple)


def _time(value: str, where: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise InputError(f"{where}: {value!r} is not an ISO 8601 time") from exc
    if parsed.tzinfo is None:
        raise InputError(f"{where}: {value!r} has no UTC offset (write e.g. 2026-03-29T08:00:00+02:00)")
    return parsed


def _number(value: Any, where: str, *, minimum: float = 0.0, strict: bool = False) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: {value!r} is not a number") from exc
    if not math.isfinite(number) or number < minimum or (strict and number == minimum):
        raise InputError(f"{where}: {value!r} must be {'>' if strict else '>='} {minimum:g}")
    return number


def read_sessions(path: Path) -> list[Session]:
    with _open(path) as f:
        reader = csv.DictReader(f)
        missing = [c for c in SESSION_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(SESSION_COLUMNS)}")
        sessions = []
        seen: set[str] = set()
        for line, row in enumerate(reader, start=2):
            where = f"{path}:{line}"
            sid = (row["session_id"] or "").strip()
            station = (row["station_id"] or "").strip()
            if not sid or not station:
                raise InputError(f"{where}: session_id and station_id must not be empty")
            if sid in seen:
                raise InputError(f"{where}: session_id {sid!r} appears twice")
            seen.add(sid)
            arrival = _time(row["arrival"], f"{where} arrival")
            departure = _time(row["departure"], f"{where} departure")
            if departure <= arrival:
                raise InputError(f"{where}: departure must be after arrival")
            sessions.append(
                Session(
                    sid,
                    station,
                    arrival,
                    departure,
                    round(_number(row["energy_kwh"], f"{where} energy_kwh") * 1000),
                    round(_number(row["max_power_kw"], f"{where} max_power_kw", strict=True) * 1000),
                )
            )
    if not sessions:
        raise InputError(f"{path}: no sessions")
    return sessions


def read_series(path: Path, value_column: str, *, maximum: float | None = None) -> dict[datetime, float]:
    """A step function from a CSV with columns `start` and `value_column` (e.g. price_per_kwh)."""
    with _open(path) as f:
        reader = csv.DictReader(f)
        if "start" not in (reader.fieldnames or []) or value_column not in (reader.fieldnames or []):
            raise InputError(f"{path}: expected columns start,{value_column}")
        series: dict[datetime, float] = {}
        for line, row in enumerate(reader, start=2):
            where = f"{path}:{line}"
            value = _number(row[value_column], f"{where} {value_column}", minimum=-math.inf)
            if maximum is not None and not 0 <= value <= maximum:
                raise InputError(f"{where} {value_column}: {value!r} must be within 0..{maximum:g}")
            series[_time(row["start"], f"{where} start")] = value
    if not series:
        raise InputError(f"{path}: no rows")
    return dict(sorted(series.items()))


def read_site(path: Path, sessions: list[Session]) -> Site:
    """{"limit_kw": X, "time_zone"?, "voltage_v"?, "boards"?: [{"id", "limit_a" | "limit_kw", "parent"?,
    "stations": [...]}], "stations"?: [...]}; a station is {"id", "max_power_kw", "phases"?, "evses"?,
    "phase_rotation"?}. Stations the sessions use but the site does not list get the highest
    max_power_kw of their sessions, three phases, on the grid connection only."""
    with _open(path) as f:
        try:
            raw = json.load(f)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(raw, dict) or "limit_kw" not in raw:
        raise InputError(f'{path}: expected an object with "limit_kw"')
    voltage = _number(raw.get("voltage_v", 230), f"{path} voltage_v", strict=True)
    try:
        zone = ZoneInfo(str(raw.get("time_zone", "UTC")))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InputError(f"{path} time_zone: {raw.get('time_zone')!r} is not an IANA time zone") from exc
    boards: list[SimBoard] = []
    stations: list[Station] = []

    def station_of(item: Any, where: str, board_id: str | None) -> Station:
        if not isinstance(item, dict) or "id" not in item or "max_power_kw" not in item:
            raise InputError(f'{where}: a station needs "id" and "max_power_kw"')
        phases = int(_number(item.get("phases", 3), f"{where} phases", minimum=1))
        if phases not in (1, 3):
            raise InputError(f"{where} phases: must be 1 or 3")
        return Station(
            str(item["id"]),
            round(_number(item["max_power_kw"], f"{where} max_power_kw", strict=True) * 1000),
            phases,
            int(_number(item.get("evses", 1), f"{where} evses", minimum=1)),
            board_id,
            str(item.get("phase_rotation", "RST")),
        )

    for i, b in enumerate(raw.get("boards", [])):
        where = f"{path} boards[{i}]"
        if not isinstance(b, dict) or "id" not in b or not ("limit_a" in b or "limit_kw" in b):
            raise InputError(f'{where}: a board needs "id" and "limit_a" or "limit_kw"')
        if "limit_a" in b:
            limit_a = _number(b["limit_a"], f"{where} limit_a")
        else:  # a kW rating of a three-phase board, as a current per phase
            limit_a = _number(b["limit_kw"], f"{where} limit_kw") * 1000 / (3 * voltage)
        boards.append(SimBoard(str(b["id"]), limit_a, b.get("parent")))
        stations.extend(
            station_of(s, f"{where} stations[{j}]", str(b["id"])) for j, s in enumerate(b.get("stations", []))
        )
    stations.extend(station_of(s, f"{path} stations[{j}]", None) for j, s in enumerate(raw.get("stations", [])))
    ids = {b.board_id for b in boards}
    for b in boards:
        if b.parent_id is not None and b.parent_id not in ids:
            raise InputError(f"{path}: board {b.board_id!r} names an unknown parent {b.parent_id!r}")
    known = {s.station_id for s in stations}
    if len(known) != len(stations):
        raise InputError(f"{path}: a station is listed twice")
    for sid in sorted({s.station_id for s in sessions} - known):
        power = max(s.max_power_w for s in sessions if s.station_id == sid)
        stations.append(Station(sid, power))
    return Site(
        round(_number(raw["limit_kw"], f"{path} limit_kw") * 1000), zone, voltage, tuple(boards), tuple(stations)
    )


def _open(path: Path) -> Any:
    try:
        return path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from exc
