"""The envelope every event on Kafka travels in, and where each kind of event goes.

`event_id` is what consumers deduplicate on. Where an event is the consequence of
another one, its id is derived (uuid5) from the cause, so that a replayed cause
yields the very same event id instead of a second, different event.

Each envelope class declares its topic and the payload field that keys it there, once;
an emission takes both from the event, so no call site pairs a topic with an event.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Self, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from shared.topics import Topic

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
REGISTRY: dict[str, type[Envelope[Any]]] = {}


@dataclass(frozen=True)
class Cause:
    """What an event derived from another one (or from an aggregate's change) inherits:
    whose it is, the correlation id, and when it happened (None: when it is built)."""

    org_id: str
    correlation_id: str | None
    occurred_at: datetime | None = None


class Envelope(BaseModel, Generic[P]):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Class-level wiring, not part of the JSON. `keyed_by` names the payload field whose
    # value is the Kafka key (partitioning: all events of one case, one project, ... in
    # order); None when no field is the key and the emitter must name it.
    topic: ClassVar[Topic]
    keyed_by: ClassVar[str | None] = None

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
            _check_wiring(cls)
            REGISTRY[field.default] = cls

    @classmethod
    def caused_by(cls, cause: Cause, payload: P, *id_from: str) -> Self:
        """The event `cause` leads to, with its id derived from `id_from`: the same cause
        and parts give the same id, which is what makes a replay harmless."""
        if not id_from:
            raise ValueError(f"a derived {cls.__name__} needs the parts its id derives from")
        # Only concrete classes are built, and each pins `type` with its default.
        return cls(  # type: ignore[call-arg]
            event_id=new_event_id(*id_from),
            occurred_at=cause.occurred_at or utcnow(),
            org_id=cause.org_id,
            correlation_id=cause.correlation_id,
            payload=payload,
        )

    def partition_key(self) -> str:
        """The Kafka key its class declares (`keyed_by`)."""
        if self.keyed_by is None:
            raise TypeError(f"{type(self).__name__} is keyed by no payload field: name the key")
        value = getattr(self.payload, self.keyed_by)
        if not isinstance(value, str):  # an optional field left out: it would go unkeyed
            raise ValueError(f"{type(self).__name__}.payload.{self.keyed_by} is no key: {value!r}")
        return value

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode("utf-8")


def _check_wiring(cls: type[Envelope[Any]]) -> None:
    # At import time, so that an event class without a topic, or keyed by a field its
    # payload lacks, fails every test rather than the first emission in production.
    if not isinstance(getattr(cls, "topic", None), Topic):
        raise TypeError(f"{cls.__name__} declares no topic")
    payload = cls.model_fields["payload"].annotation
    fields: dict[str, Any] = {}
    if isinstance(payload, type) and issubclass(payload, BaseModel):
        fields = payload.model_fields
    if cls.keyed_by is not None and cls.keyed_by not in fields:
        raise TypeError(f"{cls.__name__} is keyed by {cls.keyed_by!r}, not a payload field")
