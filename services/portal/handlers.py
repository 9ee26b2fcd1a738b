"""Use cases of the public website: keep the read model from the public topics, and carry
a citizen's form (a report, a survey answer) to the service that owns it."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from services.portal.adapters.images import PhotoRefused, clean
from services.portal.domain import human
from services.portal.domain.model import ReadModel, newer_case, newer_project
from services.portal.domain.site import Site
from services.portal.metrics import PortalMetrics
from services.portal.ports import PhotoStore, ReadStore, Reply, Upstream
from shared.clock import Clock
from shared.events.cases import PublicCaseUpdated
from shared.events.compliance import PublicProjectUpdated
from shared.events.survey import PublicSatisfactionCounted

log = logging.getLogger("ruam.portal")

MAX_REPORT_TEXT = 5_000
T = TypeVar("T")


@dataclass(frozen=True)
class WebReport:
    """The web form as the citizen filled it in."""

    text: str
    category: str | None = None
    village_no: int | None = None
    lat: float | None = None
    lon: float | None = None
    photo: bytes | None = None
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    consent: bool = False
    form_token: str = ""  # the human check's token: one per form shown


@dataclass
class ReportOutcome:
    case_id: str | None = None
    status: int = 202
    # field -> what is wrong with it, in Thai and English, shown beside the field
    errors: dict[str, tuple[str, str]] = field(default_factory=dict)
    # the place read from the photo, when the citizen gave none
    located_by_photo: bool = False


class PortalHandlers:
    def __init__(
        self,
        store: ReadStore,
        photos: PhotoStore,
        upstream: Upstream,
        site: Site,
        clock: Clock,
        metrics: PortalMetrics,
        *,
        org_id: str,
        human_secret: bytes,
        human_ttl: int,
    ) -> None:
        self.store = store
        self.photos = photos
        self.upstream = upstream
        self.site = site
        self.clock = clock
        self.metrics = metrics
        self.org_id = org_id
        self.human_secret = human_secret
        self.human_ttl = human_ttl
        self.model = ReadModel()
        # Figures of the pages, by what they were computed for, at `_memo_revision`.
        self._memo: dict[Hashable, Any] = {}
        self._memo_revision = -1

    # ------------------------------------------------------------------- read model

    async def load(self) -> None:
        """What was kept before a restart; the topics bring the rest."""
        cases, projects, facts = await self.store.load()
        for case in cases:
            self.model.take_case(case)
        for project in projects:
            self.model.take_project(project)
        for fact in facts:
            self.model.take_fact(fact)
        self._gauge()

    async def on_public_case(self, event: PublicCaseUpdated) -> None:
        case = event.payload
        # One cluster carries many organisations: this site publishes its own.
        if event.org_id != self.org_id or not newer_case(self.model.cases.get(case.case_id), case):
            return
        await self.store.save_case(case)  # before memory: a crash redelivers it
        self.model.take_case(case)
        self._gauge()

    async def on_public_project(self, event: PublicProjectUpdated) -> None:
        project = event.payload
        current = self.model.projects.get(project.project_id)
        if event.org_id != self.org_id or not newer_project(current, project):
            return
        await self.store.save_project(project)
        self.model.take_project(project)
        self._gauge()

    async def on_public_satisfaction(self, event: PublicSatisfactionCounted) -> None:
        fact = event.payload
        if event.org_id != self.org_id or fact.fact_id in self.model.facts:
            return
        await self.store.save_fact(fact)
        self.model.take_fact(fact)
        self._gauge()

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """`compute()`, remembered until the read model changes: the home page and the
        statistics are figures over every case, the same for every reader in between.
        `key` names everything else they depend on (the year, the minute for deadlines)."""
        if self._memo_revision != self.model.revision:
            self._memo.clear()
            self._memo_revision = self.model.revision
        if key not in self._memo:
            self._memo[key] = compute()
        found: T = self._memo[key]
        return found

    def _gauge(self) -> None:
        self.metrics.kept.labels("cases").set(len(self.model.cases))
        self.metrics.kept.labels("projects").set(len(self.model.projects))
        self.metrics.kept.labels("satisfaction").set(len(self.model.facts))

    # ------------------------------------------------------------------- the web form

    def challenge(self) -> human.Challenge:
        return human.challenge(self.human_secret, int(self.clock.now().timestamp()))

    def human_passes(self, token: str, answer: str) -> bool:
        now = int(self.clock.now().timestamp())
        return human.passes(self.human_secret, token, answer, now, self.human_ttl)

    async def report(self, form: WebReport) -> ReportOutcome:
        """Check the form, clean its photo, and hand it to intake as a `web` submission."""
        outcome = ReportOutcome(status=422)
        if not form.text.strip():
            outcome.errors["text"] = ("กรุณาเล่าเรื่องที่ต้องการแจ้ง", "Please describe the matter")
        elif len(form.text) > MAX_REPORT_TEXT:
            outcome.errors["text"] = (
                f"ข้อความยาวเกิน {MAX_REPORT_TEXT:,} ตัวอักษร",
                f"At most {MAX_REPORT_TEXT:,} characters",
            )
        contact_given = any((form.name, form.phone, form.email))
        if contact_given and not form.consent:
            outcome.errors["consent"] = (
                "หากให้ข้อมูลติดต่อ กรุณายินยอมให้ใช้ข้อมูลตาม พ.ร.บ.คุ้มครองข้อมูลส่วนบุคคล หรือเว้นว่างไว้",
                "To leave your contact, agree to its use under the PDPA, or leave it blank",
            )
        lat, lon = form.lat, form.lon
        attachments: list[dict[str, str]] = []
        photo_id: str | None = None
        if form.photo:
            try:
                photo = clean(form.photo)
            except PhotoRefused:
                outcome.errors["photo"] = ("ไฟล์นี้ไม่ใช่รูปภาพที่อ่านได้", "Not a readable image")
            else:
                if lat is None and lon is None and photo.lat is not None:
                    lat, lon = photo.lat, photo.lon
                    outcome.located_by_photo = True
                if not outcome.errors:
                    photo_id = photo.photo_id
                    ref = await self.photos.keep(photo_id, photo.jpeg)
                    attachments.append({"kind": "image", "ref": ref})
        if outcome.errors:
            self.metrics.reports.labels("refused").inc()
            return outcome
        location: dict[str, Any] = {}
        if lat is not None and lon is not None:
            location.update(lat=lat, lon=lon)
        if form.village_no is not None:
            location["village_no"] = form.village_no
        contact = {
            k: v
            for k, v in (("name", form.name), ("phone", form.phone), ("email", form.email))
            if v
        }
        body: dict[str, Any] = {
            "channel": "web",
            "kind": "complaint",
            "text": form.text.strip(),
            "attachments": attachments,
            "wants_contact": bool(contact),
        }
        if location:
            body["location"] = location
        if contact:
            body["contact"] = contact
        if form.category:
            body["service_code"] = form.category
        # The same form sent twice (a double click, a reload) is the same case.
        key = hashlib.sha256(f"{form.form_token}|{form.text}".encode()).hexdigest()[:40]
        reply = await self.upstream.request(
            "intake", "POST", "/v1/submissions", json=body, headers={"Idempotency-Key": key}
        )
        if reply.status in (200, 201, 202) and isinstance(reply.body, dict):
            self.metrics.reports.labels("accepted").inc()
            case_id = str(reply.body["case_id"])
            if photo_id is not None:
                await self.photos.link(photo_id, case_id)
            return ReportOutcome(
                case_id=case_id,
                status=202,
                located_by_photo=outcome.located_by_photo,
            )
        self.metrics.reports.labels(f"upstream_{reply.status}").inc()
        return _refused_by_intake(reply, outcome)

    # ------------------------------------------------------------------- surveys

    async def survey(self, token: str) -> Reply:
        return await self.upstream.request("survey", "GET", f"/v1/surveys/{token}")

    async def answer_survey(self, token: str, answers: dict[str, Any]) -> Reply:
        return await self.upstream.request(
            "survey", "POST", f"/v1/surveys/{token}/responses", json={"answers": answers}
        )

    async def campaign(self, campaign_id: str) -> Reply:
        return await self.upstream.request("survey", "GET", f"/v1/campaigns/{campaign_id}")

    async def answer_campaign(
        self, campaign_id: str, answers: dict[str, Any], submission_id: str
    ) -> Reply:
        body: dict[str, Any] = {"answers": answers}
        if submission_id:
            body["submission_id"] = submission_id
        return await self.upstream.request(
            "survey", "POST", f"/v1/campaigns/{campaign_id}/responses", json=body
        )


def _refused_by_intake(reply: Reply, outcome: ReportOutcome) -> ReportOutcome:
    if reply.status in (400, 413, 422):
        outcome.status = 422
        details = reply.body.get("details", []) if isinstance(reply.body, dict) else []
        for d in details:
            name = str(d.get("field", "text")).split(".")[0]
            outcome.errors[name] = (
                "ข้อมูลนี้ไม่ถูกต้อง: " + str(d.get("message", "")),
                "Not valid: " + str(d.get("message", "")),
            )
        if not outcome.errors:
            outcome.errors["text"] = ("ระบบไม่รับเรื่องนี้ กรุณาตรวจสอบข้อมูล", "Refused: check the form")
        return outcome
    outcome.status = 503
    outcome.errors["form"] = (
        "ขณะนี้ระบบรับเรื่องขัดข้อง กรุณาลองใหม่อีกครั้งในภายหลัง หรือโทรแจ้งศูนย์รับเรื่อง",
        "The service is unavailable: please try again later, or call the complaints desk",
    )
    return outcome
