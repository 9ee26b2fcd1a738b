"""Raw events for insight's tests: what intake, routing and survey would publish for a
case's life, built from the demo's planted history or drawn at random (seeded)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from shared.events.cases import (
    CaseAssigned,
    CaseAssignedPayload,
    CaseClosed,
    CaseClosedPayload,
    CaseEscalated,
    CaseEscalatedPayload,
    CaseReceived,
    CaseReceivedPayload,
    CaseResolved,
    CaseResolvedPayload,
    CaseStatusChanged,
    CaseStatusChangedPayload,
    Channel,
    Kind,
    Location,
    RankedCategory,
)
from shared.events.envelope import new_event_id
from shared.events.survey import AnswerValue, SurveyResponded, SurveyRespondedPayload
from shared.thai import fiscal_year_be, to_bangkok
from tools.demo.stages.history import Planted

ORG = "sraphonthong"
Event = (
    CaseReceived
    | CaseAssigned
    | CaseStatusChanged
    | CaseResolved
    | CaseClosed
    | CaseEscalated
    | SurveyResponded
)


def life(
    case_id: str,
    *,
    received_at: datetime,
    category: str,
    department: str,
    lat: float | None = None,
    lon: float | None = None,
    village_no: int | None = None,
    ack_after: timedelta | None = timedelta(hours=20),
    resolve_after: timedelta | None = None,
    cause: str | None = None,
    reopen: bool = False,
    transfer_to: str | None = None,
    close: bool = False,
    scores: list[int] | None = None,
    escalations: int = 0,
    likely_duplicate_of: str | None = None,
    org_id: str = ORG,
) -> list[Event]:
    """A case's events, in the order routing would publish them (tests shuffle them)."""

    def eid(*parts: str) -> uuid.UUID:
        return new_event_id(case_id, *parts)

    events: list[Event] = []
    events.append(
        CaseReceived(
            event_id=eid("received"),
            org_id=org_id,
            occurred_at=received_at,
            payload=CaseReceivedPayload(
                case_id=case_id,
                channel=Channel.PHONE,
                kind=Kind.COMPLAINT,
                text="ข้อความทดสอบ",
                received_at=received_at,
                location=Location(lat=lat, lon=lon, village_no=village_no),
            ),
        )
    )

    def assigned(dept: str, no: int, at: datetime) -> CaseAssigned:
        return CaseAssigned(
            event_id=eid("assigned", str(no)),
            org_id=org_id,
            occurred_at=at,
            payload=CaseAssignedPayload(
                case_id=case_id,
                kind=Kind.COMPLAINT,
                channel=Channel.PHONE,
                department=dept,
                officer_id=f"{dept}-officer",
                categories=(RankedCategory(code=category, score=0.9),),
                received_at=received_at,
                respond_due_at=received_at + timedelta(days=15),
                assignment_no=no,
                status_seq=no,
                # what these stories link is always a chain's first report
                likely_duplicate_of=likely_duplicate_of,
                duplicate_root=likely_duplicate_of,
            ),
        )

    seq = 1
    events.append(
        assigned(
            department if transfer_to is None else "office", 1, received_at + timedelta(minutes=5)
        )
    )
    if transfer_to is not None:
        seq += 1
        events.append(assigned(transfer_to, 2, received_at + timedelta(hours=2)))

    def status(frm: str, to: str, action: str, at: datetime) -> CaseStatusChanged:
        nonlocal seq
        seq += 1
        return CaseStatusChanged(
            event_id=eid("status", str(seq)),
            org_id=org_id,
            occurred_at=at,
            payload=CaseStatusChangedPayload(
                case_id=case_id, from_status=frm, to_status=to, action=action, seq=seq
            ),
        )

    def resolved(at: datetime) -> CaseResolved:
        nonlocal seq
        seq += 1
        return CaseResolved(
            event_id=eid("resolved", str(seq)),
            org_id=org_id,
            occurred_at=at,
            payload=CaseResolvedPayload(
                case_id=case_id,
                kind=Kind.COMPLAINT,
                channel=Channel.PHONE,
                department=transfer_to or department,
                officer_id="x",
                category=category,
                contact_ref=None,
                resolution="แก้ไขแล้ว",
                cause=cause,
                received_at=received_at,
                resolved_at=at,
                seq=seq,
            ),
        )

    for level in range(1, escalations + 1):
        at = received_at + timedelta(days=15 + 3 * (level - 1))
        events.append(
            CaseEscalated(
                event_id=eid("escalated", str(level)),
                org_id=org_id,
                occurred_at=at,
                payload=CaseEscalatedPayload(
                    case_id=case_id,
                    level=level,
                    to_role="head" if level == 1 else "palad",
                    to_officer_id=None,
                    reason="เลยกำหนด 15 วัน",
                    due_at=at + timedelta(days=3),
                ),
            )
        )
    if ack_after is not None:
        events.append(status("assigned", "acknowledged", "acknowledge", received_at + ack_after))
    if resolve_after is not None:
        done = received_at + resolve_after
        events.append(status("acknowledged", "resolved", "resolve", done))
        events.append(resolved(done))
        if reopen:
            events.append(status("resolved", "reopened", "reopen", done + timedelta(days=2)))
            again = done + timedelta(days=4)
            events.append(status("reopened", "resolved", "resolve", again))
            events.append(resolved(again))
            done = again
        if scores:
            at = done + timedelta(days=1)
            events.append(
                SurveyResponded(
                    event_id=eid("responded"),
                    org_id=org_id,
                    occurred_at=at,
                    payload=SurveyRespondedPayload(
                        response_id=f"r-{case_id}",
                        source="case",
                        case_id=case_id,
                        questionnaire_version="case-v1",
                        department=transfer_to or department,
                        category=category,
                        channel="phone",
                        responded_at=at,
                        fiscal_year=fiscal_year_be(at),
                        month=to_bangkok(at).strftime("%Y-%m"),
                        answers=tuple(
                            AnswerValue(question_id=f"q{i}", type="scale", value=s)
                            for i, s in enumerate(scores)
                        ),
                    ),
                )
            )
        if close:
            seq += 1
            events.append(
                CaseClosed(
                    event_id=eid("closed"),
                    org_id=org_id,
                    occurred_at=done + timedelta(days=7),
                    payload=CaseClosedPayload(
                        case_id=case_id, closed_at=done + timedelta(days=7), seq=seq
                    ),
                )
            )
    return events


def history_events(planted: list[Planted]) -> list[Event]:
    """The demo's planted history as the services would have published it."""
    out: list[Event] = []
    first_pothole: str | None = None
    for n, p in enumerate(planted, 1):
        link = first_pothole if p.pattern == "pothole" else None
        if p.pattern == "pothole" and first_pothole is None:
            first_pothole = f"SPT-HIST-{n:04d}"
        out += life(
            f"SPT-HIST-{n:04d}",
            received_at=p.received_at,
            category=p.category,
            department=p.department,
            lat=p.lat,
            lon=p.lon,
            village_no=p.village_no,
            resolve_after=timedelta(days=p.resolve_after_days)
            if p.resolve_after_days is not None
            else None,
            cause=p.cause,
            reopen=p.reopen,
            # routing links each later report of the pothole to the first (its chain's root)
            likely_duplicate_of=link,
        )
    return out


CATEGORIES = ("road", "drainage", "lighting", "cleanliness", "water_supply")
DEPARTMENTS = ("engineering", "health", "office")


def random_events(n_cases: int, seed: int, start: datetime | None = None) -> list[Event]:
    """`n_cases` lives drawn at random (seeded): every kind of event insight reads, with
    transfers, reopenings, causes, survey answers and closings among them."""
    rng = random.Random(seed)
    # its own stream, so the lives drawn (and the event counts tests rely on) stay as
    # they were before cases carried routing's duplicate link
    links = random.Random(seed * 7919 + 1)
    start = start or datetime(2025, 8, 1, tzinfo=UTC)
    out: list[Event] = []
    for i in range(n_cases):
        received = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 200))
        resolve = timedelta(hours=rng.randrange(2, 24 * 25)) if rng.random() < 0.7 else None
        out += life(
            f"SPT-R{seed}-{i:05d}",
            received_at=received,
            category=rng.choice(CATEGORIES),
            department=rng.choice(DEPARTMENTS),
            lat=15.70 + rng.randrange(0, 5) / 1000 if rng.random() < 0.8 else None,
            lon=103.34 + rng.randrange(0, 5) / 1000,
            village_no=rng.randrange(1, 9) if rng.random() < 0.9 else None,
            ack_after=timedelta(hours=rng.randrange(1, 72)) if rng.random() < 0.9 else None,
            resolve_after=resolve,
            cause=rng.choice(("worn_surface", "blocked_drain", None)),
            reopen=resolve is not None and rng.random() < 0.2,
            transfer_to=rng.choice(DEPARTMENTS) if rng.random() < 0.15 else None,
            close=rng.random() < 0.5,
            scores=[rng.randrange(1, 6) for _ in range(5)]
            if resolve and rng.random() < 0.5
            else None,
            escalations=rng.choice((0, 0, 0, 1, 2)),
            likely_duplicate_of=f"SPT-R{seed}-{links.randrange(0, i):05d}"
            if i and links.random() < 0.3
            else None,
        )
    return out
