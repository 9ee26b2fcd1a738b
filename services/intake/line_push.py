"""The citizen answered on LINE, by the Official Account whose webhook they wrote to: the
case number of what they reported, an officer's question, what was done or how it ended
otherwise (sent on, not ours, a duplicate), and the survey.

Intake is LINE's channel adapter and holds the citizen's LINE user id in its vault, so it is
intake that answers. It reads two topics, each in a consumer group of its own:
`notification.requested` (intake asks for the acknowledgement of every new case, routing for
the rest; domain/notify.py words each) and survey's `survey.requested`. Both name the
contact by a vault reference. A push that waits for LINE then holds only these groups'
partitions, never the intake of new reports; and it is made after the fact is stored and
announced, never in its transaction.

load (the contact, from the vault) → decide (domain/notify.py: the text) → push
(shared/line.py, keyed by the event's id so that a redelivery is not pushed twice). Nothing
is saved for a push: LINE keeps the retry key, and a failure is retried or dead-lettered by
the consumers' one mechanism (shared.kafka).

An answer to a message the citizen has just sent (a new case's number, a case's status,
the acknowledgement of their answer to a question) goes as LINE's free reply while its token
lasts. LINE keeps no key for a reply, so the reply is recorded once made (`line_replies` in
the record book): a redelivered event finds it and sends nothing. A token LINE no longer
takes means a push.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from services.intake.domain import notify
from services.intake.metrics import IntakeMetrics
from services.intake.ports import RecordBook
from services.intake.vault import PersonalVault
from shared.clock import Clock
from shared.events.cases import Channel
from shared.events.intake import NotificationRequested
from shared.events.survey import SurveyRequested
from shared.kafka import subscribe
from shared.line import LinePush, retry_key
from shared.runtime import Runtime

log = logging.getLogger("ruam.intake.line")
# The record book's kind for replies made (LINE keeps no retry key for a reply).
REPLIES = "line_replies"


class CitizenPush:
    def __init__(
        self,
        vault: PersonalVault,
        line: LinePush,
        replies: RecordBook,
        clock: Clock,
        metrics: IntakeMetrics,
        *,
        org_id: str,
        portal_url: str,
    ) -> None:
        self.vault = vault
        self.line = line
        self.replies = replies
        self.clock = clock
        self.metrics = metrics
        self.org_id = org_id
        self.portal_url = portal_url

    async def on_notification(self, event: NotificationRequested) -> None:
        p = event.payload
        if not self._ours(event.org_id, p.channel):
            return
        text = notify.requested(p.template, p.params, self.portal_url)
        if text is None:
            return
        # Only where a push would go too: the reply reaches the same person.
        replied = (
            p.reply_token
            and p.reply_until
            and p.recipient_ref
            and await self._reply(p.reply_token, p.reply_until, text, event.event_id)
        )
        if not replied:
            await self._send(p.recipient_ref, text, event.event_id, p.template)

    async def on_survey(self, event: SurveyRequested) -> None:
        p = event.payload
        if not self._ours(event.org_id, p.channel):
            return
        text = notify.survey(p.case_id, p.link, p.expires_at)
        await self._send(p.recipient_ref, text, event.event_id, "survey")

    def _ours(self, org_id: str, channel: str) -> bool:
        # Another organisation's case is answered by its own intake, from its own vault.
        return org_id == self.org_id and channel == Channel.LINE.value

    async def _reply(self, token: str, until: datetime, text: str, event_id: uuid.UUID) -> bool:
        """True when the answer went (or had gone) as a reply; False: push it."""
        if await self.replies.get(REPLIES, str(event_id)) is not None:
            log.info("LINE reply for event %s: already sent", event_id)
            return True
        now = self.clock.now()
        if now >= until or not await self.line.reply(token, [text]):
            return False
        await self.replies.keep(REPLIES, str(event_id), {"replied_at": now})
        self.metrics.line_messages.labels("reply").inc()
        log.info("LINE reply sent to the citizen (event %s)", event_id)
        return True

    async def _send(self, ref: str | None, text: str, event_id: uuid.UUID, what: str) -> None:
        # Delivering the citizen's own answer to the id they wrote from is the purpose the
        # id was kept for; no person reads it, so it is not an access on the audit trail.
        to = notify.line_user(await self.vault.read(ref)) if ref else None
        if to is None:  # no contact (a group without a user id), or purged by retention
            log.info("LINE %s for event %s: no LINE user to answer", what, event_id)
            return
        fresh = await self.line.push(to, [text], retry_key(event_id, "citizen"))
        if fresh:
            self.metrics.line_messages.labels("push").inc()
        log.info(
            "LINE %s pushed to the citizen (event %s): %s",
            what,
            event_id,
            "sent" if fresh else "already sent (same retry key)",
        )


def register(runtime: Runtime, push: CitizenPush) -> None:
    subscribe(runtime, NotificationRequested, "citizen-line-notified", push.on_notification)
    subscribe(runtime, SurveyRequested, "citizen-line-survey", push.on_survey)
