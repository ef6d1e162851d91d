"""Energy manager metrics on /metrics: each site's charging power against the limit it must stay under."""

from prometheus_client import Gauge

SITE_CHARGING_POWER_W = Gauge(
    "chargeyard_site_charging_power_w",
    "Measured charging power of a site's EVSEs (sum of the latest readings)",
    ["site_id"],
)
SITE_CHARGING_LIMIT_W = Gauge(
    "chargeyard_site_charging_limit_w",
    "Power a site's EVSEs may draw now: grid limit minus building load and safety margin",
    ["site_id"],
)
