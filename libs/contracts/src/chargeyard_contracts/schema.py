"""JSON Schema per event and one AsyncAPI 3.0 document, generated from the models.

`python -m chargeyard_contracts.schema DIR` writes DIR/<Type>.schema.json and DIR/asyncapi.json;
a test keeps the committed copies equal to what the models generate.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .envelope import Envelope
from .registry import DEAD_LETTER_TOPIC, RETENTION_MS, TOPICS, registrations


def json_schemas() -> dict[str, dict[str, Any]]:
    schemas = {reg.type_name: reg.model.model_json_schema() for reg in registrations()}
    schemas["Envelope"] = Envelope.model_json_schema()
    return schemas


def asyncapi() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic in TOPICS.values():
        channel_messages = {}
        for model in topic.models:
            name = model.__name__
            messages[name] = {
                "name": name,
                "contentType": "application/json",
                "summary": (model.__doc__ or name).strip().splitlines()[0],
                "payload": {"$ref": f"./{name}.schema.json"},
                "headers": {"$ref": "./Envelope.schema.json"},
                "bindings": {"kafka": {"key": {"type": "string", "description": f"payload.{topic.key_field}"}}},
            }
            channel_messages[name] = {"$ref": f"#/components/messages/{name}"}
        channels[topic.name] = {
            "address": topic.name,
            "description": topic.description,
            "messages": channel_messages,
            "bindings": {
                "kafka": {
                    "partitions": topic.partitions,
                    "topicConfiguration": (
                        {"cleanup.policy": ["compact"]}
                        if RETENTION_MS[topic.retention] is None
                        else {"retention.ms": RETENTION_MS[topic.retention]}
                    ),
                }
            },
            "x-publishers": sorted(topic.publishers),
            "x-retention-class": topic.retention.value,
        }
        operations[f"publish-{topic.name}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{topic.name}"},
            "x-publishers": sorted(topic.publishers),
        }
    channels[DEAD_LETTER_TOPIC] = {
        "address": DEAD_LETTER_TOPIC,
        "description": "Events a consumer could not handle: the original bytes, with headers reason, "
        "original-topic, original-partition, original-offset and consumer.",
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Chargeyard events",
            "version": "1.0.0",
            "description": "Every event travels in the Envelope; payload is the message below.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in json_schemas().items():
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    path = directory / "asyncapi.json"
    path.write_text(json.dumps(asyncapi(), indent=2, sort_keys=True) + "\n")
    written.append(path)
    return written


if __name__ == "__main__":
    for p in write(Path(sys.argv[1] if len(sys.argv) > 1 else "schemas")):
        print(p)
