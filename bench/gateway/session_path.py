"""CPU per MeterValues through the gateway's OCPP 1.6 session, in one process, with no sockets.

The load runs (run.py) measure the whole server, and this machine's speed drifts between runs by
more than the change being measured (bench/README.md, seventh round). This times only the code a
MeterValues runs through from its frame to its answer: the real `CentralSystem16` session (frame
checks, the `ocpp` library's routing and schema validation, normalisation, the journal), the real
`Stations` and its group commit into the outbox of a SQLite file, the answer handed to a socket
stand-in. Many sessions send at once, so group commits are as large as under saturation.

    .venv/bin/python bench/gateway/session_path.py [--sessions 100] [--messages 60] [--repeat 5]

Against another checkout of the code in the same run (PYTHONPATH before the editable installs):

    PYTHONPATH=OTHER/services/ocpp-gateway/src:OTHER/libs/platform/src:OTHER/libs/contracts/src \
        .venv/bin/python bench/gateway/session_path.py
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from chargeyard_gateway.adapters.ocpp.v16 import CentralSystem16
from chargeyard_gateway.bootstrap import MIGRATIONS
from chargeyard_gateway.config import Settings
from chargeyard_gateway.entrypoints.ocpp_server import tune_process
from chargeyard_gateway.service_layer.journal import Journal
from chargeyard_gateway.service_layer.stations import Stations
from chargeyard_platform.bus import Outbox
from chargeyard_platform.clock import SystemClock
from chargeyard_platform.db import Database
from driver import meter_values_payload  # this directory is the script's, first on sys.path


class Socket:
    """What the session sends on: counts the answers."""

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, _frame: str) -> None:
        self.sent += 1


async def measure(sessions: int, messages: int, repeat: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'gateway.db'}"
        settings = Settings(database_url=url)
        tune_process(settings)  # as the server does for its sessions
        db = Database.connect(url)
        await db.migrate(MIGRATIONS)
        clock = SystemClock()
        stations = Stations(db, Outbox("ocpp-gateway", clock), clock, settings, lambda: None)
        journal = Journal(db, clock, flush_interval_s=settings.journal_flush_interval_s, retention_days=1)
        journal_task = asyncio.ensure_future(journal.run())

        async def accepted(_session: Any) -> None:
            return None

        pool = [
            CentralSystem16(
                f"SESSION-{i}",
                Socket(),
                stations=stations,
                settings=settings,
                accepted=True,
                capabilities=None,
                on_accepted=accepted,
                journal=journal,
            )
            for i in range(sessions)
        ]

        async def send(session: CentralSystem16, count: int, tag: str) -> None:
            for k in range(count):
                payload = meter_values_payload(1000 + k)
                await session.route_message(f'[2,"{tag}-{k}","MeterValues",{payload}]')

        try:
            await asyncio.gather(*(send(s, 5, "warm") for s in pool))
            per_message = []
            for r in range(repeat):
                cpu = time.process_time()
                await asyncio.gather(*(send(s, messages, f"r{r}") for s in pool))
                per_message.append((time.process_time() - cpu) / (sessions * messages))
            answered = sum(s._connection.sent for s in pool)  # type: ignore[attr-defined]
            if answered != sessions * (5 + repeat * messages):
                raise SystemExit(f"{answered} answers for {sessions * (5 + repeat * messages)} MeterValues")
            return per_message
        finally:
            journal_task.cancel()  # its last flush runs before the writer thread is shut down
            await asyncio.gather(journal_task, return_exceptions=True)
            await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--messages", type=int, default=60, help="per session and repeat")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    runs = asyncio.run(measure(args.sessions, args.messages, args.repeat))
    micros = sorted(1e6 * r for r in runs)
    print(
        f"session path, {args.sessions} sessions x {args.messages} MeterValues x {args.repeat}: CPU per message "
        f"median {statistics.median(micros):.0f} us, min {micros[0]:.0f}, max {micros[-1]:.0f}"
    )


if __name__ == "__main__":
    main()
