"""The topics the deploy files declare are exactly libs/contracts' registry (and the dead-letter topic)."""

from __future__ import annotations

from typing import Any

import kafka_topics
import pytest
import render
from chargeyard_contracts.registry import DEAD_LETTER_TOPIC, RETENTION_MS, TOPICS
from chargeyard_platform import bus, topics

REGISTERED = {*TOPICS, DEAD_LETTER_TOPIC}


def test_the_committed_kafka_topics_are_generated_from_the_registry() -> None:
    committed = (render.K8S / "base" / "kafka-topics.yaml").read_text()
    assert committed == kafka_topics.render(), (
        "deploy/k8s/base/kafka-topics.yaml is stale: "
        ".venv/bin/python deploy/tools/kafka_topics.py > deploy/k8s/base/kafka-topics.yaml"
    )


@pytest.mark.parametrize("overlay", render.OVERLAYS)
def test_every_registered_topic_is_declared_with_its_partitions_and_retention(
    overlay: str, overlays: dict[str, list[dict[str, Any]]]
) -> None:
    declared = {d["spec"]["topicName"]: d for d in overlays[overlay] if d["kind"] == "KafkaTopic"}
    assert set(declared) == REGISTERED
    for name, topic in TOPICS.items():
        spec = declared[name]["spec"]
        assert spec["partitions"] == topic.partitions, name
        ms = RETENTION_MS[topic.retention]
        if ms is None:
            assert spec["config"]["cleanup.policy"] == "compact", name
        else:
            assert spec["config"]["retention.ms"] == str(ms), name
    for doc in declared.values():
        spec = doc["spec"]
        assert doc["metadata"]["labels"]["strimzi.io/cluster"] == "chargeyard"
        # A write with acks=all must survive one broker down: fewer in sync than replicas (prod).
        assert int(spec["config"]["min.insync.replicas"]) <= spec["replicas"]
    replicas = {d["spec"]["replicas"] for d in declared.values()}
    assert replicas == ({3} if overlay == "prod" else {1})


def test_compose_creates_the_registered_topics_before_any_service_starts(compose_file: dict[str, Any]) -> None:
    services = compose_file["services"]
    assert services["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    init = services["kafka-topics"]
    assert init["command"][:3] == ["python", "-m", "chargeyard_platform.topics"]
    assert init["command"][3] == "kafka:9092"
    for name in ("ocpp-gateway", "reservation-api", "scheduler", "energy-manager", "notifier", "billing", "reporting"):
        assert services[name]["depends_on"]["kafka-topics"] == {"condition": "service_completed_successfully"}


@pytest.mark.asyncio
async def test_the_compose_topic_step_creates_exactly_the_registered_topics(monkeypatch: pytest.MonkeyPatch) -> None:
    created: list[Any] = []

    class FakeAdmin:
        def __init__(self, **_: Any) -> None:
            pass

        async def start(self) -> None:
            pass

        async def close(self) -> None:
            pass

        async def list_topics(self) -> list[str]:
            return ["__consumer_offsets"]

        async def create_topics(self, new: list[Any]) -> None:
            created.extend(new)

    monkeypatch.setattr(bus, "AIOKafkaAdminClient", FakeAdmin)
    names = await topics.create("kafka:9092")
    assert set(names) == REGISTERED
    assert {t.name: t.num_partitions for t in created} == {
        **{name: t.partitions for name, t in TOPICS.items()},
        DEAD_LETTER_TOPIC: 1,
    }
