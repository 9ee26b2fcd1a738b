"""The photos citizens send on LINE, kept: LINE holds what a user sent for a limited time
only, and the officers of the case need to see it while they work on it and after.

Intake reads its own `case.received` and `case.amended`, each in a consumer group of its own,
and copies every LINE photo among their attachments into the vault (sealed, retained and
purged with the case's other personal data, erased when the citizen takes the message back).
Officers see it through `GET /v1/cases/{case_id}/photos/{message_id}` (the console's case
page), each look audited.

load (is it kept already?) → fetch (shared/line.py) → keep (the vault's insert keeps the
first copy, so a redelivery changes nothing). LINE away, or still preparing the content, is
retried by the consumers' one mechanism; a photo LINE no longer has, or one over the size
limit, stays named only, counted in `ruam_line_photos_total`.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence

from services.intake.channels.line import message_ref
from services.intake.domain.record import SubmissionRecord, line_photo, photo_ref
from services.intake.metrics import IntakeMetrics
from services.intake.ports import SubmissionRepository
from services.intake.vault import PersonalVault
from shared.events.cases import Attachment, CaseAmended, CaseReceived
from shared.kafka import subscribe
from shared.line import LinePush
from shared.runtime import Runtime

log = logging.getLogger("ruam.intake.line")
# What is kept and later served as a photo: never a type a browser would run (SVG).
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


class CitizenPhotos:
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
        photos = [m for m in (line_photo(a) for a in attachments) if m is not None]
        if not photos:
            return
        record = await self.submissions.get_case(case_id)
        if record is None:
            return
        for message_id in photos:
            ref = photo_ref(message_id)
            if await self.vault.has(ref) or await self._taken_back(record, message_id):
                continue
            content = await self.line.content(message_id, max_bytes=self.max_bytes)
            if content is None or content.media_type not in PHOTO_TYPES:
                self.metrics.line_photos.labels("not_kept").inc()
                log.warning(
                    "LINE photo %s of %s: gone, too large or not an image", message_id, case_id
                )
                continue
            value = {
                "media_type": content.media_type,
                "data": base64.b64encode(content.data).decode("ascii"),
            }
            await self.vault.keep(ref, "photo", value, owner=record.dedup_key)
            # Taken back while it was fetched: its unsend found nothing to erase yet.
            latest = await self.submissions.get_case(case_id)
            if latest is not None and await self._taken_back(latest, message_id):
                await self.vault.erase([ref])
                continue
            self.metrics.line_photos.labels("kept").inc()

    async def _taken_back(self, record: SubmissionRecord, message_id: str) -> bool:
        if not record.withdrawn:
            return False
        key = await self.submissions.message_named(message_ref(message_id))
        return key in record.withdrawn


def register(runtime: Runtime, photos: CitizenPhotos) -> None:
    subscribe(runtime, CaseReceived, "citizen-line-photos", photos.on_received)
    subscribe(runtime, CaseAmended, "citizen-line-photos-added", photos.on_amended)
