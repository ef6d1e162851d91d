"""Strimzi KafkaTopic resources from the topic registry in libs/contracts.

    .venv/bin/python deploy/tools/kafka_topics.py > deploy/k8s/base/kafka-topics.yaml

The registry is the single source of topics: tests/deploy checks that the committed file is what
this prints, so a topic added to libs/contracts fails the tests until this is re-run.
Replication defaults to the production shape (3 replicas, 2 in sync); overlays patch it.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml
from chargeyard_contracts.registry import DEAD_LETTER_TOPIC, TOPICS, Retention
from chargeyard_platform.bus import topic_configs

STRIMZI_CLUSTER = "chargeyard"
REPLICAS = 3
MIN_IN_SYNC = 2


def kafka_topics() -> list[dict[str, Any]]:
    wanted = [(name, topic.partitions, topic.retention) for name, topic in TOPICS.items()]
    wanted.append((DEAD_LETTER_TOPIC, 1, Retention.AUDIT))  # as the runner creates it (bus.ensure_topics)
    return [
        {
            "apiVersion": "kafka.strimzi.io/v1beta2",
            "kind": "KafkaTopic",
            "metadata": {
                "name": name,
                "labels": {"strimzi.io/cluster": STRIMZI_CLUSTER},
                "annotations": {"chargeyard.io/retention-class": retention.value},
            },
            "spec": {
                "topicName": name,
                "partitions": partitions,
                "replicas": REPLICAS,
                "config": {**topic_configs(retention), "min.insync.replicas": str(MIN_IN_SYNC)},
            },
        }
        for name, partitions, retention in wanted
    ]


def render() -> str:
    header = (
        "# Generated from libs/contracts' topic registry by deploy/tools/kafka_topics.py: do not edit.\n"
        "# Re-run: .venv/bin/python deploy/tools/kafka_topics.py > deploy/k8s/base/kafka-topics.yaml\n"
    )
    return header + yaml.safe_dump_all(kafka_topics(), sort_keys=False, explicit_start=True)


if __name__ == "__main__":
    sys.stdout.write(render())
