from pathlib import Path
from typing import Any

from chargeyard_platform.auth import CallerSettings
from chargeyard_platform.settings import OutboxLinger, Profile
from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict


class Settings(CallerSettings):
    # `null` in the environment unsets an optional setting (GATEWAY_GC_INTERVALS_S=null, GATEWAY_PING_INTERVAL_S=null).
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", frozen=True, env_parse_none_str="null")

    http_port: int = 8001
    ocpp_host: str = "127.0.0.1"
    ocpp_port: int = Field(default=9000, ge=1, le=65535)
    auto_register_unknown: bool = Field(
        default=True, description="Register and accept unknown stations at boot (dev profile; prod default False)"
    )
    accept_unknown_tokens: bool = Field(
        default=True, description="Authorize idTags not in the token table (dev profile; prod default False)"
    )
    heartbeat_interval_s: int = Field(default=30, ge=1, description="BootNotification interval")
    clock_skew_threshold_s: float = Field(default=300, gt=0)
    command_timeout_s: float = Field(default=30, gt=0, description="Wait for a station's answer to a command")
    capability_timeout_s: float = Field(default=10, gt=0, description="Wait per GetConfiguration/GetVariables")
    command_poll_interval_s: float = Field(default=1.0, gt=0, description="Dispatcher poll when not woken")
    connection_refresh_s: float = Field(
        default=10, gt=0, description="How often an instance renews its live-connection rows; 3x = stale"
    )
    instance_id: str | None = Field(
        default=None,
        max_length=57,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="Unique per gateway process; generated when unset",
    )
    journal_flush_interval_s: float = Field(default=0.5, gt=0, description="Batch writes of the OCPP message journal")
    journal_retention_days: float = Field(default=30, gt=0, description="Journal rows older than this are pruned")

    # --- security profiles (OCPP 1.6 Security Whitepaper, OCPP 2.0.1 A00) ---------------------------
    ocpp_tls_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Second listener, wss:// (profiles 2 and 3), e.g. 9443; unset = no TLS listener",
    )
    tls_cert_file: Path | None = Field(default=None, description="PEM server certificate chain for the TLS listener")
    tls_key_file: Path | None = Field(default=None, description="PEM private key of tls_cert_file")
    tls_ca_file: Path | None = Field(
        default=None, description="PEM CA(s) that sign station certificates (profile 3); unset = no client certs"
    )
    minimum_security_profile: int = Field(
        default=0,
        ge=0,
        le=3,
        description="Stations below this profile are refused at the handshake (dev 0; prod default 1)",
    )
    takeover_probe_s: float = Field(
        default=3.0,
        gt=0,
        description="A second unauthenticated connection pings the first for this long: alive = refused (409)",
    )

    # --- connection life -----------------------------------------------------------------------------
    ping_interval_s: float | None = Field(default=20, gt=0, description="Websocket ping every N s; unset = off")
    ping_timeout_s: float | None = Field(default=20, gt=0, description="No pong within N s = half-open, closed")
    silence_timeout_s: float | None = Field(
        default=None,
        gt=0,
        description="Close a station that sent no OCPP message for N s (its OCPP stack hangs while TCP answers "
        "pings); unset = 3 x heartbeat_interval_s",
    )
    listen_backlog: int = Field(default=4096, ge=1, description="TCP accept backlog, sized for reconnect storms")
    handshake_timeout_s: float = Field(
        default=30,
        gt=0,
        description="An opening handshake (HTTP upgrade and admission) not done in this time is dropped; "
        "websockets' default is 10 s; a 10,000-station reconnect storm on a loaded machine had 1,655 handshakes "
        "closed unanswered, each retried at the cost of another handshake",
    )
    offline_grace_s: float = Field(
        default=120,
        ge=0,
        description="A command waits this long (wall time) for its offline station, then ends Offline",
    )
    resync_on_reconnect: bool = Field(
        default=True, description="On reconnect: TriggerMessage StatusNotification and re-send active profiles"
    )

    # --- the hot path (bench/gateway, bench/README.md) -------------------------------------------------
    group_commit_window_s: float = Field(
        default=0.002,
        ge=0,
        le=0.1,
        description="Collect many stations' events this long into one outbox transaction (group commit)",
    )
    group_commit_max_items: int = Field(default=1000, ge=1, description="A group commit flushes at this many events")
    outbox_linger_s: OutboxLinger = Field(
        default=0.02,
        description="After a commit wakes the outbox relay, wait this long for more rows before publishing: "
        "woken by every group commit, the relay made one pass (read, publish, mark sent) per few events "
        "(measured: 0.59-0.62 instead of 0.75 ms of CPU per call at 30 % load, 1,000 stations)",
    )
    last_seen_resolution_s: float = Field(
        default=5.0,
        ge=0,
        description="A station's last_seen_at is written at most once per this interval: a reconnecting station's "
        "connect and first Heartbeat come milliseconds apart (0 = every message writes)",
    )
    schema_validation_inline: bool = Field(
        default=True,
        description="Validate OCPP payloads on the event loop; the ocpp library's default is a thread pool, "
        "whose hand-offs cost more than the validation (measured: ~2x the calls/s inline)",
    )
    schema_validation_compiled: bool = Field(
        default=True,
        description="Validate with the same schemas compiled by fastjsonschema (invalid payloads are re-checked "
        "by the library's jsonschema validator, so CallErrors are unchanged); false = jsonschema only",
    )
    gil_switch_interval_s: float | None = Field(
        default=0.0005,
        gt=0,
        description="sys.setswitchinterval for the process: aiosqlite's worker thread hands every statement "
        "back to a busy event loop, which by default holds the GIL for 5 ms; unset = Python's default",
    )
    gc_intervals_s: tuple[float, float] | None = Field(
        default=(0.1, 600.0),
        description="The garbage collector on a clock (entrypoints/collector.py): the young generations every "
        "N s, a full collection every N s, Python's automatic collections off and what "
        "start-up built frozen out of them (gc.freeze); counted by allocations, a young collection with "
        "10,000 stations walked every station's waiting coroutines and stopped the event loop for 50-290 ms; "
        "unset = Python's automatic collector with its default thresholds",
    )
    websocket_compression: bool = Field(
        default=False, description="permessage-deflate (RFC 7692): ~40 KB per connection, little gain on OCPP-J"
    )

    @model_validator(mode="before")
    @classmethod
    def _prod_defaults(cls, data: Any) -> Any:
        # The permissive dev behaviours default off in prod unless explicitly switched on.
        if isinstance(data, dict) and str(data.get("profile", "")).lower() == Profile.PROD.value:
            data.setdefault("auto_register_unknown", False)
            data.setdefault("accept_unknown_tokens", False)
            data.setdefault("minimum_security_profile", 1)
        return data

    @model_validator(mode="after")
    def _tls_files(self) -> "Settings":
        if self.ocpp_tls_port is not None and (self.tls_cert_file is None or self.tls_key_file is None):
            raise ValueError("ocpp_tls_port needs tls_cert_file and tls_key_file (PEM)")
        if self.ocpp_tls_port is not None and self.ocpp_tls_port == self.ocpp_port:
            raise ValueError("ocpp_tls_port must differ from ocpp_port")
        return self

    @model_validator(mode="after")
    def _collector_intervals(self) -> "Settings":
        if self.gc_intervals_s is not None:
            young, full = self.gc_intervals_s
            if not 0 < young <= full:
                raise ValueError(f"gc_intervals_s: 0 < young ({young} s) <= full ({full} s) collections")
        return self

    @property
    def silence_timeout(self) -> float:
        # OCPP 1.6 §4.6 / 2.0.1 G02: a station may skip a Heartbeat when it sent something else in
        # the interval, so any message counts; three intervals tolerate one lost heartbeat and jitter.
        return self.silence_timeout_s or 3.0 * self.heartbeat_interval_s
