"""Officers told on LINE of a case assigned or escalated to them (issue 14, item 8).

Routing owns the directory (who is which officer, and their LINE user id) and the cases, so
it is routing that tells them: it reads its own case.assigned and case.escalated in consumer
groups of their own. A push that waits for LINE (down, or asking us to slow down) then holds
only these groups' partitions, never the routing of new cases; and a push is made after the
assignment is stored and announced, never in its transaction.

load (the case, the directory) → decide (domain/notify.py: to whom, what text) → push
(shared/line.py, keyed by the event's id so a redelivery is not pushed twice). Nothing is
saved: LINE keeps the retry key, and a failure is retried or dead-lettered by the consumers'
one mechanism (shared.kafka).
"""

from __future__ import annotations

import logging

from services.routing.domain import notify
from services.routing.ports import CaseRepository, DirectorySource
from shared.events.cases import CaseAssigned, CaseEscalated
from shared.kafka import subscribe
from shared.line import LinePush, retry_key
from shared.runtime import Runtime

log = logging.getLogger("ruam.routing.line")


class OfficerPush:
    def __init__(
        self,
        cases: CaseRepository,
        directories: DirectorySource,
        line: LinePush,
        console_url: str,
    ) -> None:
        self.cases = cases
        self.directories = directories
        self.line = line
        self.console_url = console_url

    async def on_assigned(self, event: CaseAssigned) -> None:
        p = event.payload
        case = await self.cases.get(p.case_id)
        if case is None:  # not ours (another organisation's store): nothing to tell
            return
        category = p.categories[0].code if p.categories else case.category
        message = notify.on_assignment(
            case,
            p.officer_id,
            category,
            p.respond_due_at,
            self.directories.get(event.org_id),
            self.console_url,
        )
        await self._send(message, str(event.event_id))

    async def on_escalated(self, event: CaseEscalated) -> None:
        p = event.payload
        case = await self.cases.get(p.case_id)
        if case is None:
            return
        message = notify.on_escalation(
            case, p.level, p.to_officer_id, self.directories.get(event.org_id), self.console_url
        )
        await self._send(message, str(event.event_id))

    async def _send(self, message: notify.OfficerMessage | None, event_id: str) -> None:
        if message is None:
            return
        fresh = await self.line.push(message.to, [message.text], retry_key(event_id, "officer"))
        log.info(
            "LINE push to officer %s %s",
            message.officer_id,
            "sent" if fresh else "already sent (same retry key)",
        )


def register(runtime: Runtime, push: OfficerPush) -> None:
    subscribe(runtime, CaseAssigned, "officer-line-assigned", push.on_assigned)
    subscribe(runtime, CaseEscalated, "officer-line-escalated", push.on_escalated)
