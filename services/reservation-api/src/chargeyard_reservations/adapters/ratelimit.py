"""Token buckets per caller: `rate` requests a minute, bursts up to the same number.

In the process's memory: each instance of the service limits on its own, so N instances behind
the ingress allow up to N times the rate. The ingress's own limit is the global one."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from datetime import datetime


class RateLimiter:
    def __init__(self, per_minute: int, *, max_callers: int = 100_000) -> None:
        self.rate_per_s = per_minute / 60.0
        self.capacity = float(per_minute)
        self.max_callers = max_callers
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, caller: str, now: datetime) -> float:
        """0 when the request may go ahead; otherwise the seconds to wait (Retry-After)."""
        t = now.timestamp()
        with self._lock:
            tokens, last = self._buckets.pop(caller, (self.capacity, t))
            tokens = min(self.capacity, tokens + max(0.0, t - last) * self.rate_per_s)
            if tokens >= 1:
                self._buckets[caller] = (tokens - 1, t)
                wait = 0.0
            else:
                self._buckets[caller] = (tokens, t)
                wait = (1 - tokens) / self.rate_per_s
            while len(self._buckets) > self.max_callers:
                self._buckets.popitem(last=False)
        return wait


def retry_after(wait_s: float) -> str:
    return str(max(1, math.ceil(wait_s)))
