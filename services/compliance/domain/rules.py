"""Compliance decisions: ordering of versioned events, the participation rule,
fulfilment, violations and time-based warnings. Pure and synchronous.

Every decision depends only on the project's state and the change (its time comes
from the event, not a clock), so the same events applied in version order give the
same project whatever order and however often Kafka delivered them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from services.compliance.domain.errors import ChangeRefused
from services.compliance.domain.model import (
    Change,
    ChangeBudget,
    ChangeStage,
    DueWarning,
    Flag,
    Participation,
    Pending,
    Project,
    RecordParticipation,
    Register,
    Requirement,
    RequirementStatus,
    Violation,
    Waive,
    stage_rank,
)
from services.compliance.domain.money import format_baht
from services.compliance.domain.policy import Policy
from shared.events.compliance import Stage
from shared.thai import BANGKOK

MAX_PENDING = 500


# --------------------------------------------------------------------------- facts


@dataclass(frozen=True)
class Raised:
    requirement: Requirement


@dataclass(frozen=True)
class Met:
    requirement: Requirement
    participation: Participation


@dataclass(frozen=True)
class Violated:
    violation: Violation


@dataclass(frozen=True)
class Warned:
    warning: DueWarning


Fact = Raised | Met | Violated | Warned


# --------------------------------------------------------------------------- ordering


class Disposition(StrEnum):
    APPLY = "apply"  # the next version: apply now
    DUPLICATE = "duplicate"  # applied before, or already parked: absorb
    PARK = "park"  # a version ahead of a gap: keep until the gap fills


def disposition(project: Project, version: int) -> Disposition:
    if version <= project.applied_version:
        return Disposition.DUPLICATE
    if version == project.applied_version + 1:
        return Disposition.APPLY
    if any(p.version == version for p in project.pending):
        return Disposition.DUPLICATE
    return Disposition.PARK


def park(project: Project, pending: Pending) -> None:
    if len(project.pending) >= MAX_PENDING:
        raise ChangeRefused(
            f"{project.project_id} already holds {MAX_PENDING} early events waiting for"
            f" version {project.applied_version + 1}"
        )
    project.pending.append(pending)
    project.pending.sort(key=lambda p: p.version)


def next_pending(project: Project) -> Pending | None:
    """The parked event that can apply now, removed from the parking, if any."""
    for i, p in enumerate(project.pending):
        if p.version == project.applied_version + 1:
            return project.pending.pop(i)
    return None


def waiting_for(project: Project) -> int | None:
    return project.applied_version + 1 if project.pending else None


# --------------------------------------------------------------------------- applying


def apply(project: Project, change: Change, policy: Policy) -> list[Fact]:
    """Apply one change, then re-evaluate the rule. Raises ChangeRefused untouched."""
    cmd = change.command
    if isinstance(cmd, Register):
        if project.registered:
            raise ChangeRefused(f"project {project.project_id} is already registered")
    elif not project.registered:
        raise ChangeRefused(f"project {project.project_id} is not registered")

    if isinstance(cmd, Register):
        _register(project, change, cmd)
    elif isinstance(cmd, ChangeBudget):
        before = project.budget_satang
        project.budget_satang = cmd.budget_satang
        note = f" ({cmd.reason})" if cmd.reason else ""
        project.record(
            change,
            "budget_changed",
            f"งบประมาณ {format_baht(before)} → {format_baht(cmd.budget_satang)} บาท{note}",
        )
    elif isinstance(cmd, ChangeStage):
        _change_stage(project, change, cmd)
    elif isinstance(cmd, Flag):
        if cmd.key_policy is not None:
            project.key_policy = cmd.key_policy
        if cmd.key_mission is not None:
            project.key_mission = cmd.key_mission
        project.record(
            change,
            "flagged",
            f"key_policy={project.key_policy} key_mission={project.key_mission}",
        )
    elif isinstance(cmd, Waive):
        _waive(project, change, cmd)
    elif isinstance(cmd, RecordParticipation):
        _record_participation(project, change, cmd)
    if change.version is not None:
        project.applied_version = change.version
    return evaluate(project, change.at, policy)


def refuse(project: Project, change: Change, reason: str) -> None:
    """Keep a refused versioned change on the timeline and consume its version, so the
    versions after it still apply."""
    project.record(change, _action(change), reason, refused=True)
    if change.version is not None:
        project.applied_version = change.version


def _action(change: Change) -> str:
    return {
        Register: "registered",
        ChangeBudget: "budget_changed",
        ChangeStage: "stage_changed",
        Flag: "flagged",
        Waive: "waived",
        RecordParticipation: "participation_recorded",
    }[type(change.command)]


def _register(project: Project, change: Change, cmd: Register) -> None:
    project.registered = True
    project.name = cmd.name
    project.fiscal_year = cmd.fiscal_year
    project.budget_satang = cmd.budget_satang
    project.funding_source = cmd.funding_source
    project.key_policy = cmd.key_policy
    project.key_mission = cmd.key_mission
    project.stage = cmd.stage
    project.planned_procurement_date = cmd.planned_procurement_date
    project.registered_at = change.at
    if cmd.stage is Stage.COMPLETED:
        project.completed_at = change.at
    project.record(
        change,
        "registered",
        f"{cmd.name}: {format_baht(cmd.budget_satang)} บาท, {cmd.funding_source},"
        f" {cmd.stage.value}",
    )


def _change_stage(project: Project, change: Change, cmd: ChangeStage) -> None:
    if project.stage is Stage.CANCELLED and cmd.stage is not Stage.CANCELLED:
        raise ChangeRefused(f"project {project.project_id} is cancelled")
    before = project.stage
    project.stage = cmd.stage
    if cmd.stage is Stage.COMPLETED and before is not Stage.COMPLETED:
        project.completed_at = change.at
    note = f" ({cmd.note})" if cmd.note else ""
    project.record(change, "stage_changed", f"{before.value} → {cmd.stage.value}{note}")


def _waive(project: Project, change: Change, cmd: Waive) -> None:
    req = project.requirement(cmd.requirement)
    if req is None:
        raise ChangeRefused(f"project {project.project_id} has no requirement {cmd.requirement}")
    if req.status is RequirementStatus.MET:
        raise ChangeRefused(f"requirement {cmd.requirement} is already met")
    if req.status is RequirementStatus.OPEN:
        req.status = RequirementStatus.WAIVED
        req.waiver_reason = cmd.reason
        req.waiver_authority = cmd.authority
        req.waived_at = change.at
    project.record(change, "waived", f"{cmd.requirement}: {cmd.reason}")


def _record_participation(project: Project, change: Change, cmd: RecordParticipation) -> None:
    if any(p.record_id == cmd.record_id for p in project.evidence):
        raise ChangeRefused(f"participation record {cmd.record_id} is already on the project")
    project.evidence.append(
        Participation(
            record_id=cmd.record_id,
            kind=cmd.kind,
            held_on=cmd.held_on,
            participants=dict(cmd.participants),
            evidence_ref=cmd.evidence_ref,
            issues=list(cmd.issues),
            results=cmd.results,
            changes=cmd.changes,
            recorded_at=change.at,
            recorded_by=cmd.recorded_by,
        )
    )
    who = ", ".join(f"{g} {n}" for g, n in cmd.participants.items())
    project.record(change, "participation_recorded", f"{cmd.kind} {cmd.held_on.isoformat()}: {who}")


# --------------------------------------------------------------------------- the rule


def triggers(project: Project, policy: Policy) -> list[str]:
    """Why the rule applies to the project as it stands now (empty: it does not)."""
    reasons: list[str] = []
    if project.budget_satang > policy.threshold_satang:
        reasons.append(
            f"budget {format_baht(project.budget_satang)} > {format_baht(policy.threshold_satang)}"
        )
    if project.key_policy and policy.key_policy_triggers:
        reasons.append("key_policy")
    if project.key_mission and policy.key_mission_triggers:
        reasons.append("key_mission")
    return reasons


def evaluate(project: Project, at: datetime, policy: Policy) -> list[Fact]:
    """Raise what the rule asks for, meet what evidence covers, flag what is overdue."""
    if not project.registered:
        return []
    facts: list[Fact] = []
    reasons = triggers(project, policy)
    if reasons:
        for spec in policy.requirements:
            if project.requirement(spec.kind) is None:
                req = Requirement(
                    kind=spec.kind,
                    due_stage=spec.due_stage,
                    due=spec.due,
                    severity=spec.severity,
                    status=RequirementStatus.OPEN,
                    raised_at=at,
                    reasons=list(reasons),
                )
                project.requirements.append(req)
                facts.append(Raised(req))
    for req in project.open_requirements():
        match = _evidence_for(project, req.kind, policy)
        if match is not None:
            req.status = RequirementStatus.MET
            req.met_by = match.record_id
            req.met_at = at
            facts.append(Met(req, match))
    facts.extend(_stage_violations(project, at, policy))
    return facts


def _evidence_for(project: Project, requirement: str, policy: Policy) -> Participation | None:
    candidates = [
        p for p in project.evidence if requirement in policy.meets.get(p.kind, frozenset())
    ]
    return min(candidates, key=lambda p: (p.held_on, p.record_id), default=None)


def _stage_violations(project: Project, at: datetime, policy: Policy) -> list[Fact]:
    """A project at or past a stage that an open requirement was due before."""
    rank = stage_rank(project.stage)
    if rank is None:
        return []  # cancelled: nothing more will be done, nothing more is owed
    facts: list[Fact] = []
    for req in project.open_requirements():
        due_rank = stage_rank(req.due_stage)
        if req.due != "before" or due_rank is None or rank < due_rank:
            continue
        if project.has_violation(req.kind):
            continue
        spec = policy.spec(req.kind)
        label = spec.label_th if spec else req.kind
        violation = Violation(
            code=f"{req.due_stage.value}_without_{req.kind}",
            requirement=req.kind,
            severity=req.severity,
            stage=project.stage,
            at=at,
            message=f"เข้าสู่ขั้น {project.stage.value} โดยยังไม่มี{label}"
            f" (due before {req.due_stage.value})",
        )
        project.violations.append(violation)
        facts.append(Violated(violation))
    return facts


# --------------------------------------------------------------------------- timers


def check_timers(project: Project, now: datetime, policy: Policy) -> list[Fact]:
    """Warnings before the planned procurement date; report-backs overdue after completion.

    Each is raised once (a marker on the project), whenever the loop first sees it due.
    """
    if not project.registered or project.stage is Stage.CANCELLED:
        return []
    facts: list[Fact] = []
    rank = stage_rank(project.stage)
    today = now.astimezone(BANGKOK).date()
    for req in project.open_requirements():
        due_rank = stage_rank(req.due_stage)
        if (
            req.due == "before"
            and project.planned_procurement_date is not None
            and req.due_stage is Stage.PROCUREMENT
            and rank is not None
            and due_rank is not None
            and rank < due_rank
            and not project.has_warning("procurement_soon", req.kind)
        ):
            days_left = (project.planned_procurement_date - today).days
            if days_left <= policy.warning_days_before_procurement:
                warning = DueWarning(
                    code="procurement_soon",
                    requirement=req.kind,
                    at=now,
                    message=f"จัดซื้อจัดจ้างตามแผนในอีก {days_left} วัน"
                    f" ({project.planned_procurement_date.isoformat()})"
                    f" แต่ยังไม่มี {req.kind}",
                )
                project.warnings.append(warning)
                facts.append(Warned(warning))
        spec = policy.spec(req.kind)
        if (
            req.due == "after"
            and project.stage is req.due_stage
            and project.completed_at is not None
            and spec is not None
            and now >= project.completed_at + timedelta(days=spec.grace_days)
            and not project.has_violation(req.kind)
        ):
            violation = Violation(
                code=f"{req.kind}_overdue",
                requirement=req.kind,
                severity=req.severity,
                stage=project.stage,
                at=now,
                message=f"{spec.label_th}: ไม่มีภายใน {spec.grace_days} วันหลังแล้วเสร็จ",
            )
            project.violations.append(violation)
            facts.append(Violated(violation))
    if facts:
        project.updated_at = now
    return facts
