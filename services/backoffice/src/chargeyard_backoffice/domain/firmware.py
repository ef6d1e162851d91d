"""A firmware roll-out's progress per station, from what the platform already has: the energy
manager's roll-out (each station's UpdateFirmware and its answer) and the stations'
FirmwareStatusNotifications, which the reporting service keeps in its event history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

INSTALLED = "Installed"
UNDER_WAY = ("Downloading", "Downloaded", "Installing", "InstallRebooting", "InstallScheduled", "SignatureVerified")
"""Statuses on the way to Installed (the page names them; any status not listed is shown as under way too)."""
FAILED = frozenset(
    {
        # OCPP 1.6 FirmwareStatus (§7.25) and 2.0.1 FirmwareStatusEnumType (L01) values that end an update badly.
        "DownloadFailed",
        "InstallationFailed",
        "InstallVerificationFailed",
        "InvalidSignature",
        "InstallRebootingFailed",
    }
)
ACCEPTED = "Accepted"
"""The station took the UpdateFirmware; it downloads at the retrieve time."""
REFUSED = frozenset({"Rejected", "NotSupported", "TimedOut", "Offline", "Expired", "Failed"})
"""Outcomes of the UpdateFirmware command itself that mean the station will not update."""


@dataclass(frozen=True)
class StationProgress:
    station_id: str
    state: str
    """The station's last firmware status, else the command's answer, else "Sent"."""
    phase: str
    """waiting, running, done or failed: what the page colours and counts."""
    at: datetime | None
    detail: str | None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def progress(rollout: dict[str, Any], events: list[dict[str, Any]]) -> list[StationProgress]:
    """One line per station of the roll-out. `events` are the reporting service's event rows
    (kind "firmware_status", the status in vendor_error_code); only those since the roll-out was
    created count, the last one per station wins."""
    created = _time(rollout["created_at"])
    latest: dict[str, tuple[datetime, str]] = {}
    for event in events:
        if event.get("kind") != "firmware_status" or not event.get("vendor_error_code"):
            continue
        at = _time(event["at"])
        if at is None or (created is not None and at < created):
            continue
        known = latest.get(event["station_id"])
        if known is None or at >= known[0]:
            latest[event["station_id"]] = (at, event["vendor_error_code"])
    lines = []
    for station in rollout["stations"]:
        outcome = station.get("outcome")
        if station["station_id"] in latest:
            at, state = latest[station["station_id"]]
            phase = "done" if state == INSTALLED else "failed" if state in FAILED else "running"
            lines.append(StationProgress(station["station_id"], state, phase, at, None))
        elif outcome in REFUSED:
            lines.append(
                StationProgress(
                    station["station_id"], outcome, "failed", _time(station.get("completed_at")), station.get("detail")
                )
            )
        elif outcome:  # Accepted (ACCEPTED), or an outcome this page does not know yet
            lines.append(
                StationProgress(station["station_id"], outcome, "waiting", _time(station.get("completed_at")), None)
            )
        else:
            lines.append(StationProgress(station["station_id"], "Sent", "waiting", None, None))
    return lines


def summary(lines: list[StationProgress]) -> dict[str, int]:
    counts = {"waiting": 0, "running": 0, "done": 0, "failed": 0}
    for line in lines:
        counts[line.phase] += 1
    return counts
