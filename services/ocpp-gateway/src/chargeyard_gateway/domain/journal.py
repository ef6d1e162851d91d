"""The message journal's pure part: one OCPP-J frame -> the row the back office reads.

OCPP-J (1.6 §4.1, 2.0.1 Part 4 §4.1) frames are JSON arrays: [2, id, action, payload] (Call),
[3, id, payload] (CallResult), [4, id, code, description, details] (CallError). A result names no
action, so the journal pairs it with the Call of the same id, which the caller remembers.
"""

from __future__ import annotations

from typing import Any, NamedTuple

CALL, CALL_RESULT, CALL_ERROR = 2, 3, 4
_KINDS = {CALL: "Call", CALL_RESULT: "CallResult", CALL_ERROR: "CallError"}


class Entry(NamedTuple):
    """Two per message (its frame and the answer): a NamedTuple, which is made in a quarter of a
    frozen dataclass's time (meter.Sample)."""

    station_id: str
    direction: str
    """"in" (from the station) or "out" (to it)."""
    message_type: str
    unique_id: str | None
    action: str | None
    frame: str
    error_code: str | None = None
    """The OCPP error: a status errorCode other than NoError, or a CallError's code."""
    vendor_error_code: str | None = None
    """1.6 StatusNotification vendorErrorCode, 2.0.1 NotifyEvent techCode: what the vendor's
    service manual looks up."""


def entry(station_id: str, direction: str, frame: str, parsed: Any, action_of_result: str | None) -> Entry:
    """`parsed` is the decoded frame (or None when it was not JSON); `action_of_result` the action
    of the Call a result answers."""
    if not isinstance(parsed, list) or not parsed or parsed[0] not in _KINDS:
        return Entry(station_id, direction, "Malformed", None, None, frame)
    kind = parsed[0]
    unique_id = str(parsed[1])[:64] if len(parsed) > 1 else None
    if kind == CALL:
        action = str(parsed[2])[:64] if len(parsed) > 2 else None
        payload = parsed[3] if len(parsed) > 3 and isinstance(parsed[3], dict) else {}
        code, vendor = _codes(action, payload)
        return Entry(station_id, direction, "Call", unique_id, action, frame, code, vendor)
    if kind == CALL_ERROR:
        code = str(parsed[2])[:50] if len(parsed) > 2 else None
        return Entry(station_id, direction, "CallError", unique_id, action_of_result, frame, code)
    return Entry(station_id, direction, "CallResult", unique_id, action_of_result, frame)


def _codes(action: str | None, payload: dict[str, Any]) -> tuple[str | None, str | None]:
    if action == "StatusNotification":
        code = payload.get("errorCode")
        return (None if code in (None, "NoError") else str(code)), _text(payload.get("vendorErrorCode"))
    if action == "NotifyEvent":
        data = payload.get("eventData") or []
        codes = [str(d["techCode"]) for d in data if isinstance(d, dict) and d.get("techCode")]
        return None, _text(",".join(codes)) if codes else None
    if action == "SecurityEventNotification":
        return _text(payload.get("type")), None
    return None, None


def _text(value: Any) -> str | None:
    return str(value)[:255] if value not in (None, "") else None
