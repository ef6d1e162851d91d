"""The one envelope every event on every topic travels in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field, TypeAdapter

from .base import Contract, UtcDatetime


class Envelope(Contract):
    event_id: uuid.UUID
    type: str = Field(min_length=1, description="The payload model's name, e.g. ReservationCreated")
    schema_version: int = Field(ge=1)
    occurred_at: UtcDatetime
    source: str = Field(min_length=1, description="The publishing service")
    key: str = Field(min_length=1, description="The partition key, taken from the payload")
    correlation_id: str | None = None
    payload: dict[str, Any]

    @classmethod
    def wrap(
        cls,
        payload: BaseModel,
        *,
        source: str,
        occurred_at: datetime,
        correlation_id: str | None = None,
        event_id: uuid.UUID | None = None,
    ) -> Envelope:
        # Built without validating again (model_construct): the payload is a validated contract
        # model and type, version and key come from the registry; the checks that validation
        # would make on the caller's values are made in _fields. The gateway wraps one envelope
        # per MeterValues (bench/README.md, ninth round).
        fields = cls._fields(payload, source, occurred_at, correlation_id, event_id)
        return cls.model_construct(**fields, payload=payload.model_dump(mode="json"))

    @classmethod
    def wrap_json(
        cls, payload: BaseModel, *, source: str, occurred_at: datetime, correlation_id: str | None = None
    ) -> tuple[uuid.UUID, str, str]:
        """(event id, key, JSON) of `wrap(...)`, the JSON exactly `wrap(...).model_dump_json()`,
        made in one pass of pydantic-core: wrap dumps the payload to a dict, and that dict is then
        serialised again with the envelope. For a producer that only stores the JSON (the outbox)."""
        fields = cls._fields(payload, source, occurred_at, correlation_id, None)
        return fields["event_id"], fields["key"], _JSON.dump_json({**fields, "payload": payload}).decode()

    @staticmethod
    def _fields(
        payload: BaseModel,
        source: str,
        occurred_at: datetime,
        correlation_id: str | None,
        event_id: uuid.UUID | None,
    ) -> dict[str, Any]:
        """Every field but the payload, in the order of the model's fields (so of its JSON)."""
        from .registry import registration_of

        reg = registration_of(type(payload))
        key = reg.topic.key_of(payload)
        if occurred_at.tzinfo is None or occurred_at.utcoffset() is None:
            raise ValueError("occurred_at must carry an offset: every time in Chargeyard does")
        if not source or not key:
            raise ValueError(f"an envelope needs a source and a partition key (source={source!r}, key={key!r})")
        return {
            "event_id": event_id or uuid.uuid4(),
            "type": reg.type_name,
            "schema_version": reg.schema_version,
            "occurred_at": occurred_at.astimezone(UTC),
            "source": source,
            "key": key,
            "correlation_id": correlation_id,
        }


_JSON: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])
"""Values of type Any are serialised by what they are: the payload model by its own serializer."""
