"""Routing's facts as the events that announce them: one builder per kind of fact.

Event ids derive from the case and its timeline (the seq, the assignment number, the
timer's key), so a redelivered command or a timer fired twice yields the events it
yielded before and consumers absorb them.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import singledispatch
from typing import Any, get_args

from services.routing.domain.lifecycle import (
    Assigned,
    Closed,
    Escalated,
    Fact,
    Reminded,
    Resolved,
    StatusChanged,
)
from services.routing.domain.model import Case, Status
from services.routing.domain.rules import is_corruption
from shared.events.cases import (
    CaseAssigned,
    CaseAssignedPayload,
    CaseClosed,
    CaseClosedPayload,
    CaseEscalated,
    CaseEscalatedPayload,
    CaseResolved,
    CaseResolvedPayload,
    CaseStatusChanged,
    CaseStatusChangedPayload,
    Channel,
    Kind,
    RankedCategory,
)
from shared.events.envelope import Cause, Envelope
from shared.events.intake import (
    ENDED,
    QUESTION,
    RESOLVED,
    NotificationRequested,
    NotificationRequestedPayload,
)
from shared.outbox import Emission
from shared.redact import redact


def emissions(case: Case, facts: Sequence[Fact], correlation_id: str | None) -> list[Emission]:
    """What to publish for `facts`; without a causing event, the case id correlates."""
    cause = Cause(case.org_id, correlation_id or case.case_id)
    return [Emission.of(event) for fact in facts for event in events(fact, case, cause)]


@singledispatch
def events(fact: Fact, case: Case, cause: Cause) -> list[Envelope[Any]]:
    raise TypeError(f"no event announces {type(fact).__name__}")


@events.register
def _assigned(fact: Assigned, case: Case, cause: Cause) -> list[Envelope[Any]]:
    assert case.department is not None
    payload = CaseAssignedPayload(
        case_id=case.case_id,
        kind=Kind(case.kind),
        channel=Channel(case.channel),
        department=case.department,
        officer_id=case.officer_id,
        categories=tuple(
            RankedCategory(code=c.code, score=c.score, label_th=c.label_th) for c in case.categories
        ),
        reasons=tuple(case.reasons),
        received_at=case.received_at,
        acknowledge_due_at=case.acknowledge_due_at,
        respond_due_at=case.respond_due_at,
        assignment_no=fact.assignment_no,
        status_seq=fact.status_seq,
        likely_duplicate_of=case.likely_duplicate_of,
        duplicate_root=case.duplicate_root,
    )
    return [
        CaseAssigned.caused_by(cause, payload, case.case_id, "assigned", str(fact.assignment_no))
    ]


@events.register
def _status_changed(fact: StatusChanged, case: Case, cause: Cause) -> list[Envelope[Any]]:
    payload = CaseStatusChangedPayload(
        case_id=case.case_id,
        from_status=fact.from_status,
        to_status=fact.to_status,
        action=fact.action,
        officer_id=fact.officer_id,
        note=fact.note,
        seq=fact.seq,
        in_assignment=fact.in_assignment,
    )
    announced: list[Envelope[Any]] = [
        CaseStatusChanged.caused_by(cause, payload, case.case_id, "status", str(fact.seq))
    ]
    if fact.action == "request_info":
        question = redact(fact.note) if fact.note else ""
        announced += _to_citizen(case, cause, QUESTION, {"question": question}, fact.seq)
    elif fact.to_status in ENDED_HERE:
        announced += _to_citizen(case, cause, ENDED, {"status": fact.to_status}, fact.seq)
    return announced


# Where a case ends without being resolved by this organisation.
ENDED_HERE = frozenset(
    {Status.TRANSFERRED.value, Status.NOT_OUR_RESPONSIBILITY.value, Status.DUPLICATE.value}
)


def _to_citizen(
    case: Case, cause: Cause, template: str, params: dict[str, str], seq: int
) -> list[Envelope[Any]]:
    """The citizen told, by their channel, if they left a contact (none: nobody to tell)."""
    if case.contact_ref is None:
        return []
    payload = NotificationRequestedPayload(
        case_id=case.case_id,
        channel=case.channel,
        recipient_ref=case.contact_ref,
        template=template,
        params={"case_id": case.case_id, **params},
    )
    return [
        NotificationRequested.caused_by(cause, payload, case.case_id, "citizen", template, str(seq))
    ]


@events.register
def _resolved(fact: Resolved, case: Case, cause: Cause) -> list[Envelope[Any]]:
    assert case.resolved_at is not None and case.resolution is not None
    payload = CaseResolvedPayload(
        case_id=case.case_id,
        kind=Kind(case.kind),
        channel=Channel(case.channel),
        department=case.department or "",
        officer_id=case.officer_id,
        category=case.category,
        contact_ref=case.contact_ref,
        resolution=case.resolution,
        after_photo_ref=case.after_photo_ref,
        cause=case.cause,
        # Read for analysis (measure 3), which needs no one's name or number.
        cause_note=redact(case.cause_note) if case.cause_note else None,
        received_at=case.received_at,
        resolved_at=case.resolved_at,
        seq=fact.seq,
    )
    # What was done, told to the citizen; a whistle-blower's report says nothing of it.
    secret = is_corruption(case.kind, case.category)
    told = {} if secret else {"resolution": redact(case.resolution)}
    return [
        CaseResolved.caused_by(cause, payload, case.case_id, "resolved", str(fact.seq)),
        *_to_citizen(case, cause, RESOLVED, told, fact.seq),
    ]


@events.register
def _closed(fact: Closed, case: Case, cause: Cause) -> list[Envelope[Any]]:
    assert case.closed_at is not None
    payload = CaseClosedPayload(
        case_id=case.case_id, closed_at=case.closed_at, reason=fact.reason, seq=fact.seq
    )
    return [CaseClosed.caused_by(cause, payload, case.case_id, "closed", str(fact.seq))]


@events.register
def _escalated(fact: Escalated, case: Case, cause: Cause) -> list[Envelope[Any]]:
    payload = CaseEscalatedPayload(
        case_id=case.case_id,
        level=fact.level,
        to_role=fact.to_role,
        to_officer_id=fact.to_officer_id,
        reason=fact.reason,
        due_at=fact.due_at,
    )
    return [CaseEscalated.caused_by(cause, payload, case.case_id, "escalated", fact.key)]


@events.register
def _reminded(fact: Reminded, case: Case, cause: Cause) -> list[Envelope[Any]]:
    # One notification per officer reminded, each with its own id.
    cid = case.case_id
    return [
        NotificationRequested.caused_by(
            cause,
            NotificationRequestedPayload(
                case_id=cid,
                channel="internal",
                recipient_ref=f"officer:{officer}",
                template=fact.template,
                params={"case_id": cid, "due_at": fact.due_at.isoformat(), "officer_id": officer},
            ),
            cid,
            fact.key,
            officer,
        )
        for officer in fact.officer_ids
    ]


# A fact the lifecycle learns to produce must be announced, not fail at its first emission.
assert set(get_args(Fact)) <= set(events.registry), "a routing fact has no event"
