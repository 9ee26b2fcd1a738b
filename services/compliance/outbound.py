"""Compliance's facts as the events that announce them, and the public projection.

A requirement, violation or warning is raised once per project, so its event id
derives from the project and what it is about; a projection's from the project's
public revision. A replayed change therefore repeats events, never adds new ones.
"""

from __future__ import annotations

from datetime import datetime
from functools import singledispatch
from typing import Any, get_args

from services.compliance.domain.model import Project
from services.compliance.domain.rules import Fact, Met, Raised, Violated, Warned
from shared.events.compliance import (
    ComplianceViolationPayload,
    ComplianceViolationRaised,
    ComplianceWarningPayload,
    ComplianceWarningRaised,
    ParticipationKind,
    PublicParticipation,
    PublicProjectPayload,
    PublicProjectUpdated,
    PublicRequirement,
    PublicViolation,
    RequirementMet,
    RequirementMetPayload,
    RequirementRaised,
    RequirementRaisedPayload,
)
from shared.events.envelope import Cause, Envelope
from shared.outbox import Emission


def emissions(project: Project, facts: list[Fact], at: datetime, changed: bool) -> list[Emission]:
    """The facts' events, then (when the project changed) its new public projection."""
    cause = Cause(project.org_id, project.project_id, at)
    out = [Emission.of(event(fact, project, cause)) for fact in facts]
    if project.registered and changed:
        out.append(Emission.of(public_projection(project, at)))
    return out


@singledispatch
def event(fact: Fact, project: Project, cause: Cause) -> Envelope[Any]:
    raise TypeError(f"no event announces {type(fact).__name__}")


@event.register
def _raised(fact: Raised, project: Project, cause: Cause) -> Envelope[Any]:
    r = fact.requirement
    payload = RequirementRaisedPayload(
        project_id=project.project_id,
        project_name=project.name,
        fiscal_year=project.fiscal_year,
        budget_satang=project.budget_satang,
        reasons=tuple(r.reasons),
        requirement=r.kind,
        due_stage=r.due_stage,
        due=r.due,
        severity=r.severity,
        raised_at=r.raised_at,
    )
    return RequirementRaised.caused_by(
        cause, payload, project.project_id, "requirement-raised", r.kind
    )


@event.register
def _met(fact: Met, project: Project, cause: Cause) -> Envelope[Any]:
    r, p = fact.requirement, fact.participation
    assert r.met_at is not None
    payload = RequirementMetPayload(
        project_id=project.project_id,
        requirement=r.kind,
        record_id=p.record_id,
        participation_kind=ParticipationKind(p.kind),
        held_on=p.held_on,
        met_at=r.met_at,
    )
    return RequirementMet.caused_by(cause, payload, project.project_id, "requirement-met", r.kind)


@event.register
def _violated(fact: Violated, project: Project, cause: Cause) -> Envelope[Any]:
    v = fact.violation
    # The record's plain shape, as stored and served, is the payload's (extra fields refused).
    payload = ComplianceViolationPayload(
        project_id=project.project_id, project_name=project.name, **v.as_dict()
    )
    return ComplianceViolationRaised.caused_by(
        cause, payload, project.project_id, "violation", v.code
    )


@event.register
def _warned(fact: Warned, project: Project, cause: Cause) -> Envelope[Any]:
    w = fact.warning
    payload = ComplianceWarningPayload(
        project_id=project.project_id,
        project_name=project.name,
        planned_procurement_date=project.planned_procurement_date,
        **w.as_dict(),
    )
    return ComplianceWarningRaised.caused_by(
        cause, payload, project.project_id, "warning", w.code, w.requirement
    )


# A fact the rules learn to produce must be announced, not fail at its first emission.
assert set(get_args(Fact)) <= set(event.registry), "a compliance fact has no event"


def public_revision(project: Project) -> int:
    return len(project.timeline) + len(project.violations) + len(project.warnings)


def public_projection(project: Project, at: datetime) -> PublicProjectUpdated:
    """What may be published: no officer ids, no producer plumbing."""
    revision = public_revision(project)
    payload = PublicProjectPayload(
        project_id=project.project_id,
        name=project.name,
        fiscal_year=project.fiscal_year,
        stage=project.stage,
        violations=tuple(
            PublicViolation(
                code=v.code, requirement=v.requirement, severity=v.severity, stage=v.stage
            )
            for v in project.violations
        ),
        budget_satang=project.budget_satang,
        funding_source=project.funding_source,
        key_policy=project.key_policy,
        key_mission=project.key_mission,
        requires_participation=project.requires_participation,
        planned_procurement_date=project.planned_procurement_date,
        requirements=tuple(
            PublicRequirement(
                kind=r.kind,
                due_stage=r.due_stage,
                status=r.status.value,
                waiver_reason=r.waiver_reason,
            )
            for r in project.requirements
        ),
        participation=tuple(
            PublicParticipation(
                record_id=p.record_id,
                kind=ParticipationKind(p.kind),
                held_on=p.held_on,
                participants=p.participants,  # type: ignore[arg-type]
                evidence_ref=p.evidence_ref,
                issues=tuple(p.issues),
                results=p.results,
                changes=p.changes,
            )
            for p in project.evidence
        ),
        revision=revision,
        updated_at=project.updated_at or at,
    )
    cause = Cause(project.org_id, project.project_id, at)
    return PublicProjectUpdated.caused_by(
        cause, payload, project.project_id, "public", str(revision)
    )
