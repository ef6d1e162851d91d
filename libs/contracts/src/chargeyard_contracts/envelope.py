"""The one envelope every event on every topic travels in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

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
        from .registry import registration_of

        reg = registration_of(type(payload))
        key = reg.topic.key_of(payload)
        # Built without validating again (model_construct): the payload is a validated contract
        # model and type, version and key come from the registry; the checks that validation
        # would make on the caller's values are made here. Validating each envelope again was a
        # tenth of the gateway's cost per MeterValues (bench/README.md, ninth round).
        if occurred_at.tzinfo is None or occurred_at.utcoffset() is None:
            raise ValueError("occurred_at must carry an offset: every time in Chargeyard does")
        if not source or not key:
            raise ValueError(f"an envelope needs a source and a partition key (source={source!r}, key={key!r})")
        return cls.model_construct(
            event_id=event_id or uuid.uuid4(),
            type=reg.type_name,
            schema_version=reg.schema_version,
            occurred_at=occurred_at.astimezone(UTC),
            source=source,
            key=key,
            correlation_id=correlation_id,
            payload=payload.model_dump(mode="json"),
        )
