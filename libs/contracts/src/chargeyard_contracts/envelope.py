"""The one envelope every event on every topic travels in."""

from __future__ import annotations

import uuid
from datetime import datetime
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
        return cls(
            event_id=event_id or uuid.uuid4(),
            type=reg.type_name,
            schema_version=reg.schema_version,
            occurred_at=occurred_at,
            source=source,
            key=reg.topic.key_of(payload),
            correlation_id=correlation_id,
            payload=payload.model_dump(mode="json"),
        )
