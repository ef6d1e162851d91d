"""The machine a bench ran on, as its tables print it."""

from __future__ import annotations


def cpu_model() -> str:
    """The first "model name" of /proc/cpuinfo ("unknown" where it has none)."""
    with open("/proc/cpuinfo") as f:
        return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "unknown")
