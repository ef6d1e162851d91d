"""Gateway metrics on /metrics (prometheus_client's default registry, like the platform's)."""

import functools

from prometheus_client import Counter, Gauge, Histogram

CONNECTED_STATIONS = Gauge("chargeyard_gateway_connected_stations", "Stations with an open websocket", ["ocpp_version"])
OCPP_MESSAGES = Counter(
    "chargeyard_gateway_ocpp_messages_total",
    "OCPP calls by action and direction (received = station-initiated)",
    ["action", "direction"],
)
COMMAND_OUTCOMES = Counter(
    "chargeyard_gateway_command_outcomes_total", "Station commands by outcome", ["command", "outcome"]
)
DROPPED_MESSAGES = Counter(
    "chargeyard_gateway_dropped_readings_total", "Station data that could not be published, by reason", ["reason"]
)
RESYNC_OUTCOMES = Counter(
    "chargeyard_gateway_resync_outcomes_total",
    "Calls made to re-sync a reconnected station (status triggers, re-sent profiles)",
    ["kind", "outcome"],
)
REFUSED_CONNECTIONS = Counter(
    "chargeyard_gateway_refused_connections_total", "Websocket upgrades refused, by HTTP status", ["status"]
)
OCPP_CALL_SECONDS = Histogram(
    "chargeyard_gateway_ocpp_call_seconds",
    "OCPP call latency: received = the gateway's handling of a station's call, sent = round trip to the station",
    ["action", "direction"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
GC_PAUSE_SECONDS = Histogram(
    "chargeyard_gateway_gc_pause_seconds",
    "How long each paced garbage collection stopped the event loop, by generation (entrypoints/collector.py)",
    ["generation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


# Per message: `labels()` takes a lock and builds the label tuple every time (~2 % of the samples
# under load, bench/README.md); the child of each label pair is looked up once.
@functools.lru_cache(maxsize=1024)
def ocpp_messages(action: str, direction: str) -> Counter:
    return OCPP_MESSAGES.labels(action=action, direction=direction)


@functools.lru_cache(maxsize=1024)
def ocpp_call_seconds(action: str, direction: str) -> Histogram:
    return OCPP_CALL_SECONDS.labels(action=action, direction=direction)
