"""Create every registered topic that is missing: `python -m chargeyard_platform.topics kafka:9092`.

docker-compose.yml runs this once before the services (the broker's auto-creation is off, so a
topic exists only because libs/contracts registers it). On Kubernetes, Strimzi KafkaTopic
resources generated from the same registry declare them instead.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Sequence

from .bus import ensure_topics
from .runtime import _with_retry

log = logging.getLogger("chargeyard_platform.topics")


async def create(bootstrap: str) -> list[str]:
    created: list[str] = []

    async def attempt() -> None:
        created[:] = await ensure_topics(bootstrap)

    await _with_retry(f"Kafka at {bootstrap}", attempt)
    return created


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m chargeyard_platform.topics", description="Create the registered topics that do not exist yet."
    )
    parser.add_argument("bootstrap", help="Kafka bootstrap servers, e.g. kafka:9092")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s topics %(levelname)s %(name)s: %(message)s")
    created = asyncio.run(create(args.bootstrap))
    log.info("created %d topics: %s", len(created), ", ".join(created) or "none missing")


if __name__ == "__main__":
    main()
