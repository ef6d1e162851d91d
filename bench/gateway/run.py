"""`make bench`: the OCPP gateway against a bare `ocpp` + `websockets` server, side by side.

For each size (1,000, 5,000, 10,000 stations; BENCH_QUICK=1: 200 and 1,000) the bare server and
then the real gateway (`python -m chargeyard_gateway`, SQLite, Tansu, every MeterValues validated
and published to Kafka through the outbox) are started fresh, pinned to core 0; the load driver
(driver.py) runs pinned to core 1 with the broker. At the largest size a reconnect storm follows.
Rated steps are open loops at fractions of each server's own saturated rate; while a server keeps
p99 <= 100 ms they climb by 0.1 up to that rate, so its sustained rate is bracketed by a step it
did not keep up with (or marked >=). Prints the machine and a table; the raw results go to
var/bench/gateway-<time>.json.

    python bench/gateway/run.py [--sizes 1000 5000] [--servers bare gateway] [--no-storm]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer
from chargeyard_devstack.stack import Broker, free_port, tansu_binary, wait_for_port
from chargeyard_platform.bus import ensure_topics
from driver import kept_up, most_rated_steps  # this directory is the script's, first on sys.path
from host import cpu_model

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
METER_TOPIC = "meter.values"
P99_TARGET_MS = 100.0


def quick() -> bool:
    return os.environ.get("BENCH_QUICK", "") not in ("", "0")


# --- the machine -----------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    versions = {
        name: _version(name)
        for name in ("ocpp", "websockets", "aiokafka", "sqlalchemy", "aiosqlite", "uvloop", "jsonschema")
    }
    tansu = subprocess.run([str(tansu_binary()), "--version"], capture_output=True, text=True, check=False)
    return {
        "cpu": cpu_model(),
        "cores": str(os.cpu_count()),
        "ram": f"{mem_kb / 2**20:.1f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": ", ".join(f"{k} {v}" for k, v in versions.items()),
        "tansu": (tansu.stdout or tansu.stderr).strip().splitlines()[0] if (tansu.stdout or tansu.stderr) else "?",
        "open_files": str(resource.getrlimit(resource.RLIMIT_NOFILE)[0]),
    }


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "-"


# --- servers -----------------------------------------------------------------------------------------


def pinned(core: int | None) -> Any:
    if core is None or len(os.sched_getaffinity(0)) < 2:
        return None
    return lambda: os.sched_setaffinity(0, {core})


class Server:
    def __init__(
        self, kind: str, run_dir: Path, broker: Broker, core: int | None, database_url: str = "", group: str = ""
    ) -> None:
        self.kind = kind
        self.group = group
        """Gateway processes of one fleet share the Kafka consumer group (scale-out)."""
        self.database_url = database_url or f"sqlite+aiosqlite:///{run_dir / f'gateway-{id(self)}.db'}"
        self.run_dir = run_dir
        self.broker = broker
        self.core = core
        self.port = free_port()
        self.http_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = run_dir / f"{kind}-{self.port}.log"

    def start(self) -> None:
        log = self.log_path.open("wb")
        if self.kind == "bare":
            cmd = [sys.executable, str(HERE / "bare_server.py"), str(self.port)]
            env = dict(os.environ)
        else:
            cmd = [sys.executable, "-m", "chargeyard_gateway"]
            env = dict(os.environ) | {
                "GATEWAY_DATABASE_URL": self.database_url,
                "GATEWAY_KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap,
                "GATEWAY_KAFKA_GROUP_ID": self.group or f"bench-gateway-{self.port}",
                "GATEWAY_HTTP_PORT": str(self.http_port),
                "GATEWAY_OCPP_PORT": str(self.port),
                "GATEWAY_LOG_LEVEL": "WARNING",
            }
        self.process = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=pinned(self.core), start_new_session=True
        )
        deadline = time.monotonic() + 60
        while not self._ready():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"the {self.kind} server did not get ready; see {self.log_path}")
            time.sleep(0.2)

    def _ready(self) -> bool:
        try:
            wait_for_port(self.port, 0.1)
            if self.kind == "gateway":
                return httpx.get(f"http://127.0.0.1:{self.http_port}/readyz", timeout=2).status_code == 200
            return True
        except (TimeoutError, httpx.HTTPError):
            return False

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


async def count_published(bootstrap: str, prefix: str, expected: int, timeout_s: float) -> tuple[int, float]:
    """meter.values records of this scenario's stations (keys start with `prefix`), read from the
    beginning until `expected` are seen or `timeout_s` passes. Counted by consuming, not from end
    offsets: Tansu 0.6's end offsets undercount batched appends (measured: 469 for 500 records)."""
    consumer = AIOKafkaConsumer(
        METER_TOPIC,
        bootstrap_servers=bootstrap,
        client_id="bench-count",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    start = time.monotonic()
    count = 0
    try:
        while count < expected and time.monotonic() - start < timeout_s:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            count += sum(
                1
                for records in batches.values()
                for r in records
                if r.key is not None and r.key.decode().startswith(prefix)
            )
    finally:
        await consumer.stop()
    return count, time.monotonic() - start


def driver(
    servers: list[Server],
    label: str,
    broker: Broker,
    size: int,
    params: dict[str, Any],
    storm: bool,
    core: int | None,
    prefix: str,
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        str(HERE / "driver.py"),
        "--ports",
        *(str(s.port) for s in servers),
        "--server-pids",
        *(str(s.pid) for s in servers),
        "--broker-pid",
        str(broker.process.pid if broker.process else 0),
        "--label",
        label,
        "--prefix",
        prefix,
        "--stations",
        str(size),
        "--saturate-s",
        str(params["saturate_s"]),
        "--rated-s",
        str(params["rated_s"]),
        "--settle-s",
        str(params["settle_s"]),
        "--storm-deadline-s",
        str(params["storm_deadline_s"]),
        "--fractions",
        *map(str, params["fractions"]),
        "--climb-p99-ms",
        str(P99_TARGET_MS),
        "--climb-to",
        str(params["climb_to"]),
    ]
    partial = servers[0].run_dir / f"partial-{prefix}json"
    cmd += ["--partial", str(partial)]
    if os.environ.get("BENCH_TRACE", "") not in ("", "0"):
        cmd += ["--trace", str(servers[0].run_dir / f"trace-{prefix}")]
    if storm:
        cmd.append("--storm")
    steps = most_rated_steps(params["fractions"], params["climb_to"])
    budget = 120 + size * 0.02 + params["saturate_s"] + steps * (params["rated_s"] + 31)  # + draining (driver.quiesce)
    budget += params["storm_deadline_s"] + 30 if storm else 0
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=budget, preexec_fn=pinned(core), check=False)
    except subprocess.TimeoutExpired:
        if not partial.exists():
            raise
        # The phases measured before the budget ran out are still reported.
        measured: dict[str, Any] = json.loads(partial.read_text())
        measured["timed_out_after_s"] = round(budget)
        return measured
    if done.returncode != 0:
        raise RuntimeError(f"driver failed ({done.returncode}): {done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- the run ---------------------------------------------------------------------------------------------


def params_for_mode() -> tuple[list[int], dict[str, Any]]:
    if quick():
        return [200, 1000], {
            "saturate_s": 1.5,
            "rated_s": 1.5,
            "settle_s": 0.5,
            "fractions": [0.5],
            "climb_to": 0.6,
            "storm_deadline_s": 30.0,
        }
    return [1000, 5000, 10000], {
        "saturate_s": 10.0,
        "rated_s": 8.0,
        "settle_s": 3.0,
        "fractions": [0.3, 0.4, 0.5, 0.6, 0.7],
        # While a server keeps up, its steps go on up to its closed-loop rate (driver.rated_fractions).
        "climb_to": 1.0,
        "storm_deadline_s": 120.0,
    }


def run(
    sizes: list[int], servers: list[str], params: dict[str, Any], storm: bool, run_dir: Path, database: str = "sqlite"
) -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = max(sizes) + 1000
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(needed, soft)), hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < needed:
        raise SystemExit(f"the open files limit ({hard}) is below {needed}: raise it (ulimit -Hn) for this bench")
    server_core, driver_core = (0, 1) if len(os.sched_getaffinity(0)) >= 2 else (None, None)
    broker = Broker(free_port(), run_dir / "tansu.log")
    broker.start()
    if broker.process is not None and driver_core is not None:
        os.sched_setaffinity(broker.process.pid, {driver_core})
    results: list[dict[str, Any]] = []
    failed: list[str] = []
    try:
        asyncio.run(ensure_topics(broker.bootstrap))
        for size in sizes:
            for kind in servers:
                # gateway-x2: two gateway processes sharing one fleet, which takes PostgreSQL
                # (routing, credentials, transaction ids); each on its own core, stations spread
                # over both. Compare it with `gateway` on postgres in the same run.
                processes = 2 if kind == "gateway-x2" else 1
                uses_pg = kind == "gateway-x2" or (kind == "gateway" and database == "postgres")
                pg = postgres_database(run_dir.name, size, kind) if uses_pg else None
                url = pg.__enter__() if pg else ""
                cores = [server_core, driver_core][:processes] if processes > 1 else [server_core]
                group = f"bench-{kind}-{size}-{len(results)}"
                fleet = [Server(kind.split("-")[0], run_dir, broker, core, url, group) for core in cores]
                print(f"  {kind:10s} {size:6d} stations ...", file=sys.stderr, flush=True)
                try:
                    for server in fleet:
                        server.start()
                    profiler = profile(fleet[0], run_dir, params)
                    prefix = f"{kind[0].upper()}{processes}-{size}-{len(results)}-"
                    try:
                        result = driver(
                            fleet, kind, broker, size, params, storm and size == max(sizes), driver_core, prefix
                        )
                    except (RuntimeError, subprocess.TimeoutExpired) as exc:
                        # One scenario that blows its time budget is reported, the others still run.
                        failed.append(f"{kind} {size}: {str(exc)[-500:]}")
                        print(f"  {kind} {size} failed: {exc}", file=sys.stderr, flush=True)
                        continue
                    if profiler is not None:
                        # py-spy writes its samples on SIGINT too: a window longer than the run ends here.
                        profiler.send_signal(signal.SIGINT)
                        profiler.wait(30)
                    if kind != "bare":
                        result["published"] = wait_published(broker, prefix, result)
                    result["server_rss_end_mb"] = round(sum(_rss(s.pid) for s in fleet) / 2**20, 1)
                finally:
                    for server in fleet:
                        server.stop()
                    if pg is not None:
                        pg.__exit__(None, None, None)
                result["database"] = "postgres" if uses_pg else "sqlite" if kind != "bare" else "-"
                result["processes"] = processes
                results.append(result)
    finally:
        broker.stop()
    return {
        "machine": machine(),
        "params": params,
        "results": results,
        "failed": failed,
        "pinning": {"server_core": server_core, "driver_and_broker_core": driver_core},
    }


@contextlib.contextmanager
def postgres_database(run_name: str, size: int, kind: str = "gateway") -> Iterator[str]:
    """A fresh database on the local PostgreSQL (CHARGEYARD_TEST_POSTGRES), dropped afterwards."""
    dsn = os.environ.get("CHARGEYARD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
    name = f"bench_gw_{run_name.replace('-', '_')}_{size}_{kind.replace('-', '_')}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(f"{dsn}/postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{dsn.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def profile(server: Server, run_dir: Path, params: dict[str, Any]) -> subprocess.Popen[bytes] | None:
    """BENCH_PROFILE=1: py-spy samples the server (collapsed stacks, for flame graphs or grep)."""
    if os.environ.get("BENCH_PROFILE", "") in ("", "0"):
        return None
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("BENCH_PROFILE=1 needs py-spy: pip install py-spy (or put it on PATH)")
    out = run_dir / f"profile-{server.kind}-{server.port}.txt"
    # BENCH_PROFILE_S: a longer window, e.g. to cover the connect phase and the reconnect storm.
    duration = int(os.environ.get("BENCH_PROFILE_S") or params["settle_s"] + params["saturate_s"] + 10)
    return subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(server.pid),
            "--format",
            "raw",
            "--rate",
            "200",
            "--duration",
            str(duration),
            "--nonblocking",
            "-o",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_published(broker: Broker, prefix: str, result: dict[str, Any]) -> dict[str, Any]:
    """Every MeterValues the driver had answered must reach meter.values (the relay drains the
    outbox after the load): how many records arrived, and how long it took."""
    answered = (result["saturated"] or {}).get("meter_values", 0) + sum(r["meter_values"] for r in result["rated"])
    # Station keys carry the prefix; records of the boot and settle phases count too, so >= is the rule.
    count, took = asyncio.run(count_published(broker.bootstrap, prefix, answered, 90))
    return {"records": count, "answered_in_phases": answered, "drain_s": round(took, 1)}


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def sustained(result: dict[str, Any]) -> dict[str, Any] | None:
    """The highest rate the server kept up with (>= 95 % of offered) at p99 <= 100 ms."""
    ok = [r for r in result["rated"] if kept_up(r, P99_TARGET_MS)]
    return max(ok, key=lambda r: r["msg_s"]) if ok else None


def bounded(result: dict[str, Any]) -> bool:
    """Whether a step failed after the sustained one: if the last step was kept up too, the
    server's sustained rate is at least the reported one (the climb ran out of steps)."""
    return bool(result["rated"]) and not kept_up(result["rated"][-1], P99_TARGET_MS)


def cpu_per_message(phase: dict[str, Any]) -> str:
    """Server CPU per answered call: what a call costs, whatever else ran on the core (a shared
    machine lowers msg/s and CPU % together, not this)."""
    used = (phase.get("cpu_s") or {}).get("server")
    return f"{1000 * used / phase['calls']:.2f}" if used is not None and phase.get("calls") else "-"


def table(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"machine: {m['cpu']}, {m['cores']} cores, {m['ram']} RAM, Linux {m['kernel']}, Python {m['python']}",
        f"versions: {m['versions']}; {m['tansu']}",
        f"pinning: server on core {report['pinning']['server_core']}, driver and Tansu on core "
        f"{report['pinning']['driver_and_broker_core']}; open files {m['open_files']}",
        "",
        "| stations | server | db | connect+boot s | mem/conn KB | RSS MB | saturated msg/s | p50 ms | p99 ms "
        "| server CPU % | server CPU ms/msg | driver CPU % | sustained msg/s (p99<=100ms) | p50 ms | p99 ms "
        "| server CPU % | MeterValues on Kafka |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in report["results"]:
        if r.get("timed_out_after_s"):
            lines.append(
                f"|  | (the next row's driver ran out of its {r['timed_out_after_s']} s budget; "
                "what it measured before is shown) |"
            )
        s = r["saturated"] or {"msg_s": 0, "p50_ms": "-", "p99_ms": "-", "cpu": {"server": "-", "driver": "-"}}
        best = sustained(r)
        pub = r.get("published")
        published = f"{pub['records']}/{pub['answered_in_phases']}" if pub else "n/a (no work)"
        lines.append(
            f"| {r['stations']:,} | {r['server']} | {r.get('database', '-')} | {r['connect_boot_s']} "
            f"| {r['mem_per_conn_kb']} "
            f"| {r['server_rss_peak_mb']} | {s['msg_s']:,.0f} | {s['p50_ms']} | {s['p99_ms']} | {s['cpu']['server']} "
            f"| {cpu_per_message(s)} | {s['cpu']['driver']} | "
            + (
                f"{'' if bounded(r) else '>= '}{best['msg_s']:,.0f} | {best['p50_ms']} | {best['p99_ms']} "
                f"| {best['cpu']['server']}"
                if best
                else "none | - | - | -"
            )
            + f" | {published} |"
        )
        if r.get("connect_retries"):
            lines.append(f"|  | ({r['connect_retries']} handshakes failed and were retried) |")
        if r.get("connect_failures"):
            lines.append(f"|  | ({r['connect_failures']} stations failed to connect: {r.get('connect_error')}) |")
    for failure in report.get("failed", []):
        lines.append(f"|  | FAILED: {failure.splitlines()[0][:200]} |")
    if not all(bounded(r) for r in report["results"] if sustained(r)):
        lines.append("(>= : that server kept up with its last step too; its sustained rate is at least that)")
    storms = [r for r in report["results"] if "storm" in r]
    if storms:
        lines += [
            "",
            "| reconnect storm | server | re-attached | all within s | half within s | connect attempts "
            "| triggered StatusNotifications answered | last one at s | server CPU % | server CPU s |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in storms:
            st = r["storm"]
            lines.append(
                f"| {st['stations']:,} | {r['server']} | {st['attached']:,} | {st['all_attached_s']} "
                f"| {st['p50_attached_s']} | {st['attempts']:,} | {st.get('status_notifications_answered', '-')} "
                f"| {st.get('last_status_answered_s') or '-'} | {st['cpu']['server']} "
                f"| {st.get('cpu_s', {}).get('server', '-')} |"
            )
    lines += ["", "rated steps (offered -> achieved msg/s, p50/p99 ms):"]
    for r in report["results"]:
        steps = ", ".join(
            f"{x['offered_msg_s']:,.0f}->{x['msg_s']:,.0f} ({x['p50_ms']}/{x['p99_ms']})" for x in r["rated"]
        )
        lines.append(f"  {r['server']:8s} {r['stations']:6,d}: {steps}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sizes, params = params_for_mode()
    parser.add_argument("--sizes", type=int, nargs="*", default=sizes)
    parser.add_argument("--servers", nargs="*", default=["bare", "gateway"], choices=["bare", "gateway", "gateway-x2"])
    parser.add_argument("--no-storm", action="store_true")
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgres"],
        default=os.environ.get("BENCH_DATABASE", "sqlite"),
        help="the gateway's database (postgres: CHARGEYARD_TEST_POSTGRES, a database per run)",
    )
    parser.add_argument(
        "--fractions",
        type=float,
        nargs="*",
        default=params["fractions"],
        help="the rated steps, as fractions of each server's own saturated rate",
    )
    parser.add_argument(
        "--climb-to",
        type=float,
        default=params["climb_to"],
        help="while a server keeps p99 <= 100 ms, further steps of 0.1 up to this fraction (0 = none)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench")
    args = parser.parse_args()
    params["fractions"] = args.fractions
    params["climb_to"] = args.climb_to
    args.out.mkdir(parents=True, exist_ok=True)
    print(
        f"bench/gateway ({'quick' if quick() else 'full'}): sizes {args.sizes}, servers {args.servers}", file=sys.stderr
    )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = args.out / f"run-{stamp}"  # server logs and databases, kept for a post-mortem
    run_dir.mkdir(parents=True)
    report = run(args.sizes, args.servers, params, not args.no_storm, run_dir, args.database)
    for db in run_dir.glob("*.db*"):
        db.unlink()
    path = args.out / f"gateway-{stamp}.json"
    path.write_text(json.dumps(report, indent=2))
    print(table(report))
    print(f"\nraw results: {path}")


if __name__ == "__main__":
    main()
