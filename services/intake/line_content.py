"""What citizens send on LINE (photos, voice messages, videos, PDF files), kept: LINE holds
it for a limited time only, and the officers of the case need it while they work on it and
after. A rural caller often speaks rather than types: a voice message is the report.

Intake reads its own `case.received` and `case.amended`, each in a consumer group of its own,
and copies each such attachment into the vault (sealed, retained and purged with the case's
other personal data, erased when the citizen takes the message back). Officers see it through
`GET /v1/cases/{case_id}/media/{message_id}` (the console's case page), each look audited.

load (is it kept already?) → fetch (shared/line.py) → check what it is → keep (the vault's
insert keeps the first copy, so a redelivery changes nothing). LINE away, or still preparing
the content, is retried by the consumers' one mechanism; what LINE no longer has, what is over
the size limit and what is not of its kind's formats stays named only, counted in
`ruam_line_media_total`.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence

from services.intake.channels.line import message_ref
from services.intake.domain.record import SubmissionRecord, line_media, media_ref
from services.intake.metrics import IntakeMetrics
from services.intake.ports import SubmissionRepository
from services.intake.vault import PersonalVault
from shared.events.cases import Attachment, CaseAmended, CaseReceived
from shared.kafka import subscribe
from shared.line import LinePush
from shared.media import media_type_of
from shared.runtime import Runtime

log = logging.getLogger("ruam.intake.line")


class CitizenMedia:
    def __init__(
        self,
        submissions: SubmissionRepository,
        vault: PersonalVault,
        line: LinePush,
        metrics: IntakeMetrics,
        *,
        org_id: str,
        max_bytes: int,
    ) -> None:
        self.submissions = submissions
        self.vault = vault
        self.line = line
        self.metrics = metrics
        self.org_id = org_id
        self.max_bytes = max_bytes

    async def on_received(self, event: CaseReceived) -> None:
        if event.org_id == self.org_id:
            await self._keep(event.payload.case_id, event.payload.attachments)

    async def on_amended(self, event: CaseAmended) -> None:
        if event.org_id == self.org_id:
            await self._keep(event.payload.case_id, event.payload.attachments)

    async def _keep(self, case_id: str, attachments: Sequence[Attachment]) -> None:
        sent = [(m, a.kind) for a in attachments if (m := line_media(a)) is not None]
        if not sent:
            return
        record = await self.submissions.get_case(case_id)
        if record is None:
            return
        for message_id, kind in sent:
            ref = media_ref(message_id)
            if await self.vault.has(ref) or await self._taken_back(record, message_id):
                continue
            data = await self.line.content(message_id, max_bytes=self.max_bytes)
            media_type = media_type_of(kind, data) if data is not None else None
            if data is None or media_type is None:
                self.metrics.line_media.labels(kind, "not_kept").inc()
                log.warning(
                    "LINE %s %s of %s: gone, too large or not a format kept",
                    kind, message_id, case_id,
                )  # fmt: skip
                continue
            value = {"media_type": media_type, "data": base64.b64encode(data).decode()}
            await self.vault.keep(
                ref, "photo" if kind == "image" else "media", value, owner=record.dedup_key
            )
            # Taken back while it was fetched: its unsend found nothing to erase yet.
            latest = await self.submissions.get_case(case_id)
            if latest is not None and await self._taken_back(latest, message_id):
                await self.vault.erase([ref])
                continue
            self.metrics.line_media.labels(kind, "kept").inc()

    async def _taken_back(self, record: SubmissionRecord, message_id: str) -> bool:
        if not record.withdrawn:
            return False
        key = await self.submissions.message_named(message_ref(message_id))
        return key in record.withdrawn


def register(runtime: Runtime, media: CitizenMedia) -> None:
    # The groups keep the names of their first use (photos only): renamed, they would
    # start again from the earliest offsets.
    subscribe(runtime, CaseReceived, "citizen-line-photos", media.on_received)
    subscribe(runtime, CaseAmended, "citizen-line-photos-added", media.on_amended)
