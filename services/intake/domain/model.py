"""What intake accepts, and what it keeps. Pure: pydantic models, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from services.intake.domain.normalize import phone_e164
from services.intake.domain.progress import CORRUPTION_CATEGORY
from shared.events.cases import CITIZEN_KINDS, Attachment, Channel, Kind, Location

MAX_TEXT = 10_000


class Contact(BaseModel):
    """Personal data: stored only in intake's restricted `contacts` collection."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=254)
    line_user_id: str | None = Field(default=None, max_length=64)
    address: str | None = Field(default=None, max_length=500)

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        # One person is one contact whatever way they typed their number.
        return phone_e164(value) if value and value.strip() else None

    def is_empty(self) -> bool:
        return not any(self.model_dump().values())


class Submission(BaseModel):
    """One matter from a citizen, in intake's canonical form (POST /v1/submissions)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: Channel
    kind: Kind = Kind.COMPLAINT
    text: str = Field(max_length=MAX_TEXT)
    location: Location | None = None
    contact: Contact | None = None
    channel_message_id: str | None = Field(default=None, min_length=1, max_length=200)
    received_at: AwareDatetime | None = None
    attachments: tuple[Attachment, ...] = ()
    service_code: str | None = Field(default=None, max_length=64)
    department_hint: str | None = Field(default=None, max_length=64)
    links: dict[str, str] = Field(default_factory=dict)
    wants_contact: bool | None = None
    # A digest of who sent it, where the channel knows (Open311: api_key, account_id,
    # device_id): the same words from two senders are two matters. Never the values.
    origin: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    @field_validator("text")
    @classmethod
    def _has_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is empty: a submission needs the citizen's words")
        return value

    @property
    def is_corruption(self) -> bool:
        """Filed as a corruption report, or under the corruption service: its source is
        protected (no contact kept unless asked for, nothing of it published)."""
        return self.kind is Kind.CORRUPTION_REPORT or self.service_code == CORRUPTION_CATEGORY

    def dedup_key(self) -> str | None:
        if self.channel_message_id is None:
            return None
        return f"{self.channel.value}:{self.channel_message_id}"


# Kinds a channel may submit; improvement actions come only from the platform itself.
ALLOWED_KINDS: dict[Channel, set[Kind]] = {channel: set(CITIZEN_KINDS) for channel in Channel}
ALLOWED_KINDS[Channel.INTERNAL] = {Kind.IMPROVEMENT_ACTION}


@dataclass(frozen=True)
class Reply:
    """A channel's way to answer the message just received, while it lasts (LINE's reply
    token): the answer to it (a new case's number, a status, an acknowledgement) goes by
    it, free, instead of a push."""

    token: str
    until: datetime


@dataclass(frozen=True)
class Accepted:
    case_id: str
    received_at: datetime
    created: bool  # False when the same channel message was seen before
