"""LINE Messaging API webhooks. Pure: signature check, parsing, grouping decisions.

The signature is checked on the raw bytes before anything is parsed: a body we
cannot attribute to LINE is never interpreted. Consecutive messages from one user
within a window are one matter (people send the text, then the photo, then the pin).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.intake.domain.errors import BadSignature, InvalidInput
from services.intake.domain.model import MAX_TEXT, Contact, Submission
from services.intake.domain.normalize import locate
from services.intake.domain.record import FollowUp
from shared.events.cases import Attachment, Channel, Location

MessageType = Literal["text", "location", "image", "video", "audio", "file", "sticker"]

IMAGE_TEXT = "(ภาพถ่ายส่งทาง LINE)"
LOCATION_TEXT = "(ตำแหน่งที่ส่งทาง LINE)"
_MEDIA = {"image": "image", "video": "video", "audio": "audio", "file": "document"}


def signature(secret: str, body: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_signature(secret: str, body: bytes, given: str | None) -> None:
    if not given:
        raise BadSignature("X-Line-Signature is missing")
    expected = signature(secret, body).encode("ascii")
    if not hmac.compare_digest(expected, given.strip().encode("ascii", errors="replace")):
        raise BadSignature("X-Line-Signature does not match the body")


class _Open(BaseModel):
    # LINE adds fields over time; unknown ones must not break the webhook.
    model_config = ConfigDict(extra="allow", frozen=True)


class LineSource(_Open):
    type: str
    userId: str | None = None
    groupId: str | None = None
    roomId: str | None = None


class LineDelivery(_Open):
    isRedelivery: bool = False


class LineMessage(_Open):
    id: str = Field(min_length=1)
    type: str
    text: str | None = Field(default=None, max_length=MAX_TEXT)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    address: str | None = None
    title: str | None = None


class LineEvent(_Open):
    type: str
    mode: str = "active"
    timestamp: int
    source: LineSource | None = None
    webhookEventId: str = Field(min_length=1, max_length=200)
    deliveryContext: LineDelivery = LineDelivery()
    message: LineMessage | None = None


class LineWebhook(_Open):
    destination: str
    events: list[dict[str, Any]]


@dataclass(frozen=True)
class Incoming:
    """One message event from a citizen, as intake needs it."""

    event_id: str
    user_id: str
    at: datetime
    kind: str
    text: str | None
    location: Location | None
    attachment: Attachment | None
    redelivery: bool

    @property
    def message_key(self) -> str:
        return f"{Channel.LINE.value}:{self.event_id}"

    def addition_text(self) -> str | None:
        if self.text:
            return self.text
        if self.location is not None and self.location.address:
            return f"{LOCATION_TEXT} {self.location.address}"
        return None

    def follow_up(self) -> FollowUp:
        """This message as an addition to the case its conversation opened."""
        return FollowUp(
            key=self.message_key,
            channel=Channel.LINE,
            at=self.at,
            kind=self.kind,
            text=self.text,
            addition=self.addition_text(),
            location=self.location,
            attachment=self.attachment,
        )

    def to_submission(self) -> Submission:
        text = self.text or (
            f"{LOCATION_TEXT} {self.location.address or ''}".strip()
            if self.location is not None
            else IMAGE_TEXT
        )
        return Submission(
            channel=Channel.LINE,
            text=text,
            location=locate(self.location, self.text),
            contact=Contact(line_user_id=self.user_id),
            channel_message_id=self.event_id,
            received_at=self.at,
            attachments=(self.attachment,) if self.attachment else (),
        )


@dataclass(frozen=True)
class Skipped:
    event_id: str
    reason: str


def parse_webhook(body: bytes) -> list[Incoming | Skipped]:
    """Every event of a (verified) webhook body, in the order LINE sent them."""
    try:
        data = json.loads(body)
        hook = LineWebhook.model_validate(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput("body", f"not JSON: {exc}", status=400) from exc
    except ValueError as exc:  # a number of more than 4,300 digits
        raise InvalidInput("body", "not JSON: a number too long to read", status=400) from exc
    except ValidationError as exc:
        raise InvalidInput(
            "body", f"not a LINE webhook body: {exc.errors()[0]['msg']}", status=400
        ) from exc
    out: list[Incoming | Skipped] = []
    for n, raw in enumerate(hook.events):
        try:
            event = LineEvent.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            out.append(Skipped(str(raw.get("webhookEventId", f"#{n}")), f"{where}: {err['msg']}"))
            continue
        out.append(_incoming(event))
    return out


def _incoming(event: LineEvent) -> Incoming | Skipped:
    if event.type != "message" or event.message is None:
        return Skipped(event.webhookEventId, f"{event.type} events carry no matter")
    if event.mode != "active":
        return Skipped(event.webhookEventId, "standby mode: another channel answers")
    source = event.source
    user = source and (source.userId or source.groupId or source.roomId)
    if not user:
        return Skipped(event.webhookEventId, "source has no user id")
    msg = event.message
    at = datetime.fromtimestamp(event.timestamp / 1000, tz=UTC)
    text = location = attachment = None
    if msg.type == "text":
        if not msg.text or not msg.text.strip():
            return Skipped(event.webhookEventId, "message.text: is empty")
        text = msg.text
    elif msg.type == "location":
        if msg.latitude is None or msg.longitude is None:
            return Skipped(event.webhookEventId, "message: a location needs latitude and longitude")
        location = Location(lat=msg.latitude, lon=msg.longitude, address=msg.address or msg.title)
    elif msg.type in _MEDIA:
        # LINE keeps the content behind the message id; fetching it is an adapter's job.
        attachment = Attachment(kind=_MEDIA[msg.type], ref=f"line:message/{msg.id}")  # type: ignore[arg-type]
    else:
        return Skipped(event.webhookEventId, f"{msg.type} messages carry no matter")
    return Incoming(
        event_id=event.webhookEventId,
        user_id=user,
        at=at,
        kind=msg.type,
        text=text,
        location=location,
        attachment=attachment,
        redelivery=event.deliveryContext.isRedelivery,
    )


def continues_thread(last_at: datetime | None, at: datetime, window: timedelta) -> bool:
    """Whether a message belongs to the matter the same user started just before."""
    return last_at is not None and timedelta(0) <= at - last_at <= window
