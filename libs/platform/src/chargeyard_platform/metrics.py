"""Prometheus metrics every service exposes on /metrics."""

from prometheus_client import Counter, Gauge

EVENTS_PUBLISHED = Counter("chargeyard_events_published_total", "Events published from the outbox", ["topic"])
EVENTS_CONSUMED = Counter(
    "chargeyard_events_consumed_total",
    "Events consumed, by outcome (applied, duplicate, dead-lettered)",
    ["topic", "outcome"],
)
OUTBOX_BACKLOG = Gauge("chargeyard_outbox_backlog", "Unsent outbox rows seen by the last relay pass")
OUTBOX_ERRORS = Counter("chargeyard_outbox_errors_total", "Failed outbox relay passes")
CONSUMER_LAG = Gauge(
    "chargeyard_consumer_lag",
    "Records on a partition not yet consumed by this service (high watermark minus the next offset)",
    ["service", "topic", "partition"],
)
