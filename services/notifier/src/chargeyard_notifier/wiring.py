"""What the HTTP routes need besides the database and the clock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chargeyard_platform.auth import Authenticator
from fastapi import Request

from .adapters.directory import Directory


@dataclass(frozen=True)
class Wiring:
    directory: Directory
    authenticator: Authenticator
    stream_poll_s: float = 0.5
    stream_ping_s: float = 15.0


def wiring_of(request: Request) -> Wiring:
    runtime: Any = request.app.state.runtime
    wiring: Wiring = runtime.state["wiring"]
    return wiring
