"""Facts at the edge: raw channel payloads, dead letters, acknowledgements to citizens."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from shared.events.envelope import Contract, Envelope
from shared.topics import Topic


class RawPayloadReceivedPayload(Contract):
    """What a channel adapter saw, before any interpretation.

    The body is kept as a string (JSON, form data, CSV, an RFC 5322 message) so that
    whatever fails to normalize can be dead-lettered and replayed byte for byte.
    """

    channel: str
    received_at: AwareDatetime
    content_type: str = "application/json"
    body: str
    channel_message_id: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)


class RawPayloadReceived(Envelope[RawPayloadReceivedPayload]):
    topic: ClassVar[Topic] = Topic.INTAKE_RAW
    type: Literal["RawPayloadReceived"] = "RawPayloadReceived"


# What a citizen who left a contact is told, by the channel they came by (`channel`): intake
# answers those who came on LINE (services/intake/line_push.py), an SMS or e-mail notifier
# may take the rest. Routing's reminders to officers come on channel "internal".
RECEIVED = "received"  # intake: the case number; params respond_due_at
QUESTION = "question"  # routing: an officer asks; params question (redacted)
RESOLVED = "resolved"  # routing: params resolution (redacted; none for a whistle-blower)
ENDED = "ended"  # routing: sent on, not ours, a duplicate; params status
STATUS = "status"  # intake: a citizen asked after a case by its number; params status if found
ANSWERED = "answered"  # intake: the citizen's answer to an officer's question joined the case


class NotificationRequestedPayload(Contract):
    case_id: str
    channel: str
    recipient_ref: str | None
    template: str
    params: dict[str, str] = Field(default_factory=dict)
    # The citizen's message just received came with a way to answer it for free (LINE's
    # reply token, good once and for about a minute): the adapter uses it until
    # `reply_until`, and the contact by `recipient_ref` after.
    reply_token: str | None = Field(default=None, max_length=200)
    reply_until: AwareDatetime | None = None


class NotificationRequested(Envelope[NotificationRequestedPayload]):
    topic: ClassVar[Topic] = Topic.NOTIFICATION_REQUESTED
    keyed_by: ClassVar[str | None] = "case_id"
    type: Literal["NotificationRequested"] = "NotificationRequested"
