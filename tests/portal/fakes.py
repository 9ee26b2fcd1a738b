"""In-memory stand-ins for the portal's ports, and builders of public projections."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from services.portal.bootstrap import PortalService, create_service
from services.portal.domain.model import Case, Fact, Project, newer_case, newer_project
from services.portal.ports import Reply
from services.portal.settings import PortalSettings
from shared.clock import FixedClock
from shared.events.cases import Channel, Kind, PublicCasePayload, PublicStep
from shared.events.compliance import (
    ParticipantGroup,
    ParticipationKind,
    PublicParticipation,
    PublicProjectPayload,
    PublicRequirement,
    PublicViolation,
    Stage,
)
from shared.events.survey import PublicSatisfactionPayload
from shared.thai import BANGKOK

# 1 December 2026 (FY2570), mid-morning in Bangkok.
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=BANGKOK)
SECRET = "test-human-check-secret"


class FakeReadStore:
    def __init__(self) -> None:
        self.cases: dict[str, Case] = {}
        self.projects: dict[str, Project] = {}
        self.facts: dict[str, Fact] = {}

    async def save_case(self, case: Case) -> bool:
        if not newer_case(self.cases.get(case.case_id), case):
            return False
        self.cases[case.case_id] = case
        return True

    async def save_project(self, project: Project) -> bool:
        if not newer_project(self.projects.get(project.project_id), project):
            return False
        self.projects[project.project_id] = project
        return True

    async def save_fact(self, fact: Fact) -> bool:
        if fact.fact_id in self.facts:
            return False
        self.facts[fact.fact_id] = fact
        return True

    async def load(self) -> tuple[list[Case], list[Project], list[Fact]]:
        return list(self.cases.values()), list(self.projects.values()), list(self.facts.values())


class FakePhotos:
    def __init__(self) -> None:
        self.kept: dict[str, bytes] = {}
        self.cases: dict[str, str] = {}

    async def keep(self, photo_id: str, jpeg: bytes) -> str:
        self.kept[photo_id] = jpeg
        return f"portal-photo:{photo_id}"

    async def link(self, photo_id: str, case_id: str) -> None:
        self.cases[photo_id] = case_id

    async def get(self, photo_id: str) -> tuple[bytes, str | None] | None:
        if photo_id not in self.kept:
            return None
        return self.kept[photo_id], self.cases.get(photo_id)


class FakeUpstream:
    """Answers by (service, method, path); records every request."""

    def __init__(self) -> None:
        self.replies: dict[tuple[str, str, str], Reply] = {}
        self.calls: list[dict[str, Any]] = []

    def answer(self, service: str, method: str, path: str, reply: Reply) -> None:
        self.replies[(service, method, path)] = reply

    async def request(
        self,
        service: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        self.calls.append(
            {"service": service, "method": method, "path": path, "json": json, "headers": headers}
        )
        return self.replies.get((service, method, path), Reply(404, {"error": "not_found"}))


def portal(
    upstream: FakeUpstream | None = None,
    store: FakeReadStore | None = None,
    **settings: Any,
) -> PortalService:
    base: dict[str, Any] = {"human_check_secret": SECRET, "rate_limit_per_second": 0}
    return create_service(
        PortalSettings(**{**base, **settings}),
        store=store or FakeReadStore(),
        photos=FakePhotos(),
        upstream=upstream or FakeUpstream(),
        clock=FixedClock(NOW),
    )


def case(
    case_id: str = "SPT-2570-000001",
    *,
    received: datetime = NOW - timedelta(days=20),
    status: str = "received",
    steps: tuple[tuple[str, datetime], ...] = (),
    category: str | None = "road",
    department: str | None = "engineering",
    village_no: int | None = 3,
    text: str = "ถนนชำรุดเป็นหลุมลึก หน้าวัด",
    lat: float | None = 15.651,
    lon: float | None = 103.602,
    resolution: str | None = None,
    kind: Kind = Kind.COMPLAINT,
) -> Case:
    last = steps[-1][1] if steps else received
    return PublicCasePayload(
        case_id=case_id,
        kind=kind,
        channel=Channel.LINE,
        status=status,
        category=category,
        department=department,
        text=text,
        village_no=village_no,
        received_at=received,
        updated_at=last,
        timeline=tuple(PublicStep(status=s, at=at) for s, at in steps),
        acknowledge_due_at=received + timedelta(days=1),
        respond_due_at=received + timedelta(days=15),
        resolution=resolution,
        lat=lat,
        lon=lon,
    )


def resolved_case(case_id: str, received: datetime, days: float, **kw: Any) -> Case:
    done = received + timedelta(days=days)
    return case(
        case_id,
        received=received,
        status="resolved",
        steps=(("assigned", received + timedelta(hours=1)), ("resolved", done)),
        resolution=kw.pop("resolution", "ซ่อมแล้ว"),
        **kw,
    )


def project(
    project_id: str = "PRJ-ROAD-1",
    *,
    budget_baht: int = 25_000_000,
    revision: int = 3,
    with_evidence: bool = True,
) -> Project:
    return PublicProjectPayload(
        project_id=project_id,
        name="ก่อสร้างถนนคอนกรีตเสริมเหล็ก สายบ้านหนองบัว-บ้านดอนแดง",
        fiscal_year=2570,
        budget_satang=budget_baht * 100,
        funding_source="เงินอุดหนุนเฉพาะกิจ",
        key_policy=True,
        key_mission=False,
        stage=Stage.APPROVED,
        requires_participation=budget_baht > 10_000_000,
        requirements=(
            PublicRequirement(kind="public_hearing", due_stage=Stage.PROCUREMENT, status="met"),
            PublicRequirement(  # compliance's kind, not a kind of participation
                kind="inspection_committee_participation",
                due_stage=Stage.INSPECTION,
                status="open",
            ),
        ),
        participation=(
            PublicParticipation(
                record_id="R1",
                kind=ParticipationKind.PUBLIC_HEARING,
                held_on=NOW.date() - timedelta(days=10),
                participants={
                    ParticipantGroup.CITIZENS: 120,
                    ParticipantGroup.COMMUNITY_LEADERS: 10,
                },
                evidence_ref="minutes-2570-01.pdf",
                issues=("ความกว้างของถนน",),
                results="ขอให้ขยายไหล่ทาง",
                changes="เพิ่มไหล่ทางข้างละ 1 เมตร",
            ),
        )
        if with_evidence
        else (),
        violations=(
            PublicViolation(
                code="stage_without_participation",
                requirement="community_forum",
                severity="high",
                stage=Stage.APPROVED,
            ),
        ),
        revision=revision,
        updated_at=NOW - timedelta(days=1),
    )


def fact(
    fact_id: str, scores: dict[str, int], *, department: str = "engineering", fy: int = 2570
) -> Fact:
    return PublicSatisfactionPayload(
        fact_id=fact_id, source="case", fiscal_year=fy, department=department, scores=scores
    )
