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
from services.intake.domain.model import MAX_TEXT, Contact, Reply, Submission
from services.intake.domain.normalize import locate
from services.intake.domain.record import FollowUp
from shared.events.cases import (
    LINE_CONTENT,
    LINE_NO_WORDS,
    LINE_PIN_TEXT,
    Attachment,
    Channel,
    Location,
)

MessageType = Literal["text", "location", "image", "video", "audio", "file", "sticker"]

_MEDIA = {"image": "image", "video": "video", "audio": "audio", "file": "document"}
# Stands in for the display name of someone @-mentioned in a group: a third person's name
# is personal data, and LINE marks exactly where it is.
MENTION_TEXT = "@[ชื่อ]"
# LINE takes a reply token once, within about a minute of the message: kept to a little
# less, counted from the message's own time, so a late answer is pushed, not refused.
REPLY_WINDOW = timedelta(seconds=50)
MAX_REPLY_TOKEN = 200


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


class LineContentProvider(_Open):
    type: str = "line"
    originalContentUrl: str | None = None


class LineMentionee(_Open):
    index: int
    length: int
    type: str = "user"


class LineMention(_Open):
    mentionees: list[LineMentionee] = []


class LineMessage(_Open):
    id: str = Field(min_length=1)
    type: str
    text: str | None = Field(default=None, max_length=MAX_TEXT)
    mention: LineMention | None = None
    contentProvider: LineContentProvider | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    address: str | None = None
    title: str | None = None


class LineUnsend(_Open):
    messageId: str = Field(min_length=1, max_length=200)


class LineEvent(_Open):
    type: str
    mode: str = "active"
    # Milliseconds since 1970; beyond year 9999 no date can hold it.
    timestamp: int = Field(ge=0, le=253_402_300_799_999)
    source: LineSource | None = None
    webhookEventId: str = Field(min_length=1, max_length=200)
    deliveryContext: LineDelivery = LineDelivery()
    message: LineMessage | None = None
    replyToken: str | None = None
    unsend: LineUnsend | None = None


class LineWebhook(_Open):
    destination: str
    events: list[dict[str, Any]]


@dataclass(frozen=True)
class Incoming:
    """One message event from a citizen, as intake needs it."""

    event_id: str
    # None in a group or room when the sender has not agreed to LINE's terms: the chat's
    # id names no person, so such a message opens a case with no one to answer.
    user_id: str | None
    message_id: str  # LINE's id of the message, which an unsend names
    at: datetime
    kind: str
    text: str | None
    location: Location | None
    attachment: Attachment | None
    redelivery: bool
    # Only in a one-to-one chat: a reply in a group is read by the whole group.
    reply_token: str | None = None

    def reply(self) -> Reply | None:
        """How to answer this message for free while LINE keeps its token: not for a
        redelivered event (its token is as old as the message)."""
        token = self.reply_token
        if not token or len(token) > MAX_REPLY_TOKEN or self.redelivery:
            return None
        return Reply(token, self.at + REPLY_WINDOW)

    @property
    def message_key(self) -> str:
        return f"{Channel.LINE.value}:{self.event_id}"

    def addition_text(self) -> str | None:
        if self.text:
            return self.text
        if self.location is not None and self.location.address:
            return f"{LINE_PIN_TEXT} {self.location.address}"
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
            f"{LINE_PIN_TEXT} {self.location.address or ''}".strip()
            if self.location is not None
            # What a case says for a message with no words: the kind of thing sent.
            else LINE_NO_WORDS.get(self.kind, LINE_NO_WORDS["image"])
        )
        return Submission(
            channel=Channel.LINE,
            text=text,
            location=locate(self.location, self.text),
            contact=Contact(line_user_id=self.user_id) if self.user_id else None,
            channel_message_id=self.event_id,
            received_at=self.at,
            attachments=(self.attachment,) if self.attachment else (),
        )


@dataclass(frozen=True)
class Unsent:
    """The sender took a message back (LINE lets them, within 24 hours)."""

    event_id: str
    message_id: str
    at: datetime


def message_ref(message_id: str) -> str:
    """How intake names a LINE message by LINE's id (what an unsend gives)."""
    return f"{Channel.LINE.value}:{message_id}"


@dataclass(frozen=True)
class Skipped:
    event_id: str
    reason: str


def parse_webhook(body: bytes) -> list[Incoming | Unsent | Skipped]:
    """Every event of a (verified) webhook body, in the order LINE sent them."""
    try:
        data = json.loads(body)
        hook = LineWebhook.model_validate(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput("body", f"not JSON: {exc}", status=400) from exc
    except ValidationError as exc:  # a ValueError too: before the next clause
        raise InvalidInput(
            "body", f"not a LINE webhook body: {exc.errors()[0]['msg']}", status=400
        ) from exc
    except ValueError as exc:  # a number of more than 4,300 digits
        raise InvalidInput("body", "not JSON: a number too long to read", status=400) from exc
    except RecursionError as exc:
        raise InvalidInput("body", "not JSON: nested too deeply", status=400) from exc
    out: list[Incoming | Unsent | Skipped] = []
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


def _incoming(event: LineEvent) -> Incoming | Unsent | Skipped:
    at = datetime.fromtimestamp(event.timestamp / 1000, tz=UTC)
    if event.type == "unsend" and event.mode == "active":
        if event.unsend is None:
            return Skipped(event.webhookEventId, "unsend: names no message")
        return Unsent(event.webhookEventId, event.unsend.messageId, at)
    if event.type != "message" or event.message is None:
        return Skipped(event.webhookEventId, f"{event.type} events carry no matter")
    if event.mode != "active":
        return Skipped(event.webhookEventId, "standby mode: another channel answers")
    source = event.source
    if source is None:
        return Skipped(event.webhookEventId, "the event has no source")
    user = source.userId or None
    msg = event.message
    text = location = attachment = None
    if msg.type == "text":
        if not msg.text or not msg.text.strip():
            return Skipped(event.webhookEventId, "message.text: is empty")
        text = without_mentions(msg.text, msg.mention)
    elif msg.type == "location":
        if msg.latitude is None or msg.longitude is None:
            return Skipped(event.webhookEventId, "message: a location needs latitude and longitude")
        location = Location(lat=msg.latitude, lon=msg.longitude, address=msg.address or msg.title)
    elif msg.type in _MEDIA:
        # LINE keeps its own content behind the message id (fetching it is an adapter's
        # job); content another server provides is only at that server's address.
        provider = msg.contentProvider
        ref = f"{LINE_CONTENT}{msg.id}"
        if provider is not None and provider.type == "external" and provider.originalContentUrl:
            ref = provider.originalContentUrl
        attachment = Attachment(kind=_MEDIA[msg.type], ref=ref)  # type: ignore[arg-type]
    else:
        return Skipped(event.webhookEventId, f"{msg.type} messages carry no matter")
    return Incoming(
        event_id=event.webhookEventId,
        user_id=user,
        message_id=msg.id,
        at=at,
        kind=msg.type,
        text=text,
        location=location,
        attachment=attachment,
        redelivery=event.deliveryContext.isRedelivery,
        reply_token=event.replyToken if source.type == "user" else None,
    )


def without_mentions(text: str, mention: LineMention | None) -> str:
    """The text with each @-mentioned user's display name replaced. LINE counts `index`
    and `length` in UTF-16 code units (its SDKs slice Java strings); a span that does not
    fit the text is left alone."""
    if mention is None or not mention.mentionees:
        return text
    units = text.encode("utf-16-le")
    spans = sorted(
        {(m.index, m.length) for m in mention.mentionees if m.type == "user"}, reverse=True
    )
    end_of_last = len(units) // 2 + 1
    for index, length in spans:
        if index < 0 or length <= 0 or index + length > min(len(units) // 2, end_of_last):
            continue  # out of the text, or overlapping the one replaced after it
        units = (
            units[: 2 * index] + MENTION_TEXT.encode("utf-16-le") + units[2 * (index + length) :]
        )
        end_of_last = index
    return units.decode("utf-16-le", errors="replace")


def continues_thread(last_at: datetime | None, at: datetime, window: timedelta) -> bool:
    """Whether a message belongs to the matter the same user started just before, or just
    after: a redelivered message can come after the ones LINE sent it before."""
    return last_at is not None and abs(at - last_at) <= window
