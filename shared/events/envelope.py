"""The envelope every event on Kafka travels in.

`event_id` is what consumers deduplicate on. Where an event is the consequence of
another one, its id is derived (uuid5) from the cause, so that a replayed cause
yields the very same event id instead of a second, different event.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

P = TypeVar("P", bound=BaseModel)

_NAMESPACE = uuid.UUID("6b1f3c1e-4f5d-4f36-9a7e-2f8e0d1c7a55")


def new_event_id(*cause: str) -> uuid.UUID:
    """A fresh id, or a deterministic one derived from what caused the event."""
    if not cause:
        return uuid.uuid4()
    return uuid.uuid5(_NAMESPACE, "|".join(cause))


def utcnow() -> datetime:
    return datetime.now(UTC)


class Contract(BaseModel):
    """Base of payload models: immutable, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# Subclasses pin `type` with a Literal default; this maps it back to the class.
REGISTRY: dict[str, type[BaseModel]] = {}


class Envelope(BaseModel, Generic[P]):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    schema_version: int = 1
    occurred_at: AwareDatetime = Field(default_factory=utcnow)
    org_id: str
    correlation_id: str | None = None
    payload: P

    @field_validator("occurred_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        field = cls.model_fields.get("type")
        if field is not None and isinstance(field.default, str) and field.default:
            REGISTRY[field.default] = cls

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode("utf-8")
