"""What the portal is given, at its source: intake's `public.cases` projection (timeline,
deadlines, resolution, a coarse point) and survey's `public.satisfaction` facts; and how
the portal's handlers keep them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.intake.domain.model import Submission
from services.intake.domain.record import SubmissionRecord
from services.portal.domain.model import deadlines
from shared.events.cases import (
    CaseAssigned,
    CaseAssignedPayload,
    CaseResolved,
    CaseResolvedPayload,
    CaseStatusChanged,
    CaseStatusChangedPayload,
    Channel,
    Kind,
    Location,
    PublicCaseUpdated,
)
from shared.events.compliance import PublicProjectUpdated
from shared.events.survey import PublicSatisfactionCounted
from tests.portal.fakes import NOW, FakeReadStore, case, fact, portal, project

AT = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
ORG = "sraphonthong"
CASE = "SPT-2570-000007"


def record(kind: Kind = Kind.COMPLAINT) -> SubmissionRecord:
    sub = Submission(
        channel=Channel.WEB,
        kind=kind,
        text="ไฟดับหน้าบ้านเลขที่ 12/3 นายสมชาย โทร 081-222-3333",
        location=Location(lat=15.654321, lon=103.602345, village_no=3),
    )
    made, _ = SubmissionRecord.receive(
        sub,
        dedup_key="web:1",
        case_id=CASE,
        received_at=AT,
        stored_at=AT,
        contact_ref="ct_1",
        text_ref="tx_1",
        org_id=ORG,
        correlation_id=None,
    )
    return made


def routed(r: SubmissionRecord) -> None:
    r.apply(
        CaseAssigned(
            org_id=ORG,
            occurred_at=AT + timedelta(hours=2),
            payload=CaseAssignedPayload(
                case_id=CASE,
                kind=r.kind,
                channel=Channel.WEB,
                department="engineering",
                officer_id="eng-somchai",
                received_at=AT,
                acknowledge_due_at=AT + timedelta(days=1),
                respond_due_at=AT + timedelta(days=15),
            ),
        ),
        org_id=ORG,
    )
    r.apply(
        CaseStatusChanged(
            org_id=ORG,
            occurred_at=AT + timedelta(days=1),
            payload=CaseStatusChangedPayload(
                case_id=CASE,
                from_status="assigned",
                to_status="in_progress",
                action="start",
                seq=2,
            ),
        ),
        org_id=ORG,
    )
    r.apply(
        CaseResolved(
            org_id=ORG,
            occurred_at=AT + timedelta(days=3),
            payload=CaseResolvedPayload(
                case_id=CASE,
                kind=r.kind,
                channel=Channel.WEB,
                department="engineering",
                officer_id="eng-somchai",
                category="lighting",
                contact_ref="ct_1",
                resolution="เปลี่ยนหลอดไฟแล้ว แจ้งนายสมชาย 081-222-3333",
                received_at=AT,
                resolved_at=AT + timedelta(days=3),
                seq=3,
            ),
        ),
        org_id=ORG,
    )


def test_the_public_projection_carries_the_timeline_deadlines_and_redacted_resolution() -> None:
    r = record()
    routed(r)
    p = r.public_payload()
    assert [(s.status, s.at) for s in p.timeline] == [
        ("assigned", AT + timedelta(hours=2)),
        ("in_progress", AT + timedelta(days=1)),
        ("resolved", AT + timedelta(days=3)),
    ]
    assert p.respond_due_at == AT + timedelta(days=15)
    assert p.acknowledge_due_at == AT + timedelta(days=1)
    assert p.resolution is not None and "เปลี่ยนหลอดไฟแล้ว" in p.resolution
    assert (p.lat, p.lon, p.village_no) == (15.654, 103.602, 3), "rounded to about 100 m"
    published = p.model_dump_json()
    for personal in ("081-222-3333", "0812223333", "สมชาย", "12/3", "ct_1", "tx_1", "eng-somchai"):
        assert personal not in published, personal
    assert [d.state for d in deadlines(p, AT + timedelta(days=30))] == ["met", "met"]


def test_an_open_case_has_no_resolution_and_the_15_days_before_routing_sets_them() -> None:
    p = record().public_payload()
    assert p.timeline == () and p.resolution is None
    assert p.respond_due_at == AT + timedelta(days=15)


def test_a_corruption_report_publishes_no_place_and_no_resolution() -> None:
    r = record(Kind.CORRUPTION_REPORT)
    routed(r)
    p = r.public_payload()
    assert p.lat is None and p.lon is None and p.resolution is None
    assert "ไฟดับ" not in p.text


def test_survey_publishes_scores_only() -> None:
    from services.survey.domain.model import Answer, Response
    from services.survey.handlers import _public

    response = Response(
        response_id="rsp-SPT-2570-000007-3",
        org_id=ORG,
        source="case",
        questionnaire_version="case-v1",
        channel="line",
        responded_at=AT,
        recorded_at=AT,
        answers=(
            Answer("process", "scale", 5),
            Answer("fixed", "choice", "yes"),
            Answer("comment", "text", "ขอบคุณคุณสมชาย 0812223333"),
        ),
        survey_id="svy-SPT-2570-000007-3",
        case_id=CASE,
        department="engineering",
        category="lighting",
    )
    emission = _public(response)
    assert emission.topic.value == "public.satisfaction" and emission.key != response.response_id
    text = emission.event.model_dump_json()
    assert '"process":5' in text and "engineering" in text and '"fiscal_year":2570' in text
    for hidden in ("สมชาย", "0812223333", CASE, "svy-", "rsp-", "line", "lighting", "yes"):
        assert hidden not in text, hidden


async def test_the_handlers_keep_the_newest_of_their_own_organisation() -> None:
    store = FakeReadStore()
    service = portal(store=store)
    handlers = service.handlers
    newer = case(status="assigned", steps=(("assigned", NOW - timedelta(days=1)),))
    await handlers.on_public_case(PublicCaseUpdated(org_id=ORG, payload=newer))
    await handlers.on_public_case(PublicCaseUpdated(org_id=ORG, payload=case(status="received")))
    other = case("OTH-2570-000001")
    await handlers.on_public_case(PublicCaseUpdated(org_id="another-sao", payload=other))
    assert handlers.model.cases[newer.case_id].status == "assigned"
    assert store.cases[newer.case_id].status == "assigned", "kept for a restart too"
    assert "OTH-2570-000001" not in handlers.model.cases
    await handlers.on_public_project(PublicProjectUpdated(org_id=ORG, payload=project()))
    await handlers.on_public_satisfaction(
        PublicSatisfactionCounted(org_id=ORG, payload=fact("f", {"staff": 4}))
    )
    assert set(store.projects) == {"PRJ-ROAD-1"} and set(store.facts) == {"f"}
    restarted = portal(store=store)
    await restarted.handlers.load()
    assert restarted.handlers.model.cases[newer.case_id].status == "assigned"
    assert set(restarted.handlers.model.facts) == {"f"}


def test_the_timeline_keeps_its_first_steps_and_the_newest() -> None:
    from services.intake.domain.progress import FIRST_STEPS, MAX_STEPS

    r = record()
    for seq in range(1, 80):
        r.apply(
            CaseStatusChanged(
                org_id=ORG,
                occurred_at=AT + timedelta(hours=seq),
                payload=CaseStatusChangedPayload(
                    case_id=CASE,
                    from_status="x",
                    to_status="in_progress" if seq % 2 else "pending_citizen",
                    action="note",
                    seq=seq,
                ),
            ),
            org_id=ORG,
        )
    steps = r.public_payload().timeline
    assert len(steps) == MAX_STEPS
    assert steps[0].at == AT + timedelta(hours=1)
    assert steps[FIRST_STEPS - 1].at == AT + timedelta(hours=FIRST_STEPS)
    assert steps[-1].at == AT + timedelta(hours=79)
