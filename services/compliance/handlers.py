"""Use cases of compliance: load the project, decide (domain), save with the events, publish.

Sources. A project is fed by one source, fixed by whoever first speaks of it:
- Kafka (`project.events`, the planning/finance systems): every event carries the
  producer's version; events are applied strictly in version order, early ones are
  parked on the project until the gap fills, seen versions are absorbed.
- HTTP (manual entry): changes are applied at once, in arrival order, and take the
  next version themselves; a client `event_id` makes a retried request a no-op.
On a Kafka-fed project HTTP may still add what only officers know (participation
records, waivers): those are applied at once, outside the producer's versions, so
they never collide with them. Budget, stage and flags of such a project come only from
its system (409 otherwise), and a Kafka event for a manually entered project is
dead-lettered. That keeps "the same events in any order give the same state" true.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from dataclasses import asdict
from datetime import datetime

from services.compliance import outbound
from services.compliance.domain import rules
from services.compliance.domain.errors import (
    ChangeRefused,
    InvalidProjectEvent,
    NotYours,
    WrongSource,
)
from services.compliance.domain.model import (
    Change,
    ChangeBudget,
    ChangeStage,
    Command,
    Flag,
    Pending,
    Project,
    RecordParticipation,
    Register,
    Source,
    Waive,
)
from services.compliance.domain.money import InvalidMoney, parse_baht
from services.compliance.domain.policy import Policies
from services.compliance.metrics import ComplianceMetrics
from services.compliance.ports import AuditTrailStore, ProjectQuery, ProjectRepository
from shared.audit import audit_event
from shared.auth import Principal
from shared.clock import Clock, to_millis
from shared.errors import ConcurrencyError
from shared.events.audit import AuditRecorded
from shared.events.compliance import (
    PROJECT_EVENT,
    ParticipationRecordedPayload,
    ProjectBudgetChangedPayload,
    ProjectEvent,
    ProjectFact,
    ProjectFlaggedPayload,
    ProjectRegisteredPayload,
    ProjectRequirementWaivedPayload,
    ProjectStageChangedPayload,
)
from shared.events.envelope import new_event_id
from shared.outbox import Emission
from shared.store import Retry, retry_on_conflict

log = logging.getLogger("ruam.compliance")

# Writers of one project (the consumer, HTTP, the timer loop, the relay) race now and
# then; and a writer that died mid-write holds its version for the claim TTL (30 s).
# A Kafka event backs off for longer than that rather than fail a good event.
KAFKA_RETRY = Retry(attempts=40, cap_seconds=1.0)


MANUAL_ON_KAFKA = (RecordParticipation, Waive)


def money(value: int | str, field: str) -> int:
    try:
        return parse_baht(value)
    except InvalidMoney as exc:
        raise InvalidProjectEvent(field, str(exc)) from exc


def command_from(payload: ProjectFact) -> Command:
    """The domain command a payload (Kafka or HTTP, same fields) stands for."""
    if isinstance(payload, ProjectRegisteredPayload):
        return Register(
            name=payload.name.strip(),
            fiscal_year=payload.fiscal_year,
            budget_satang=money(payload.budget, "budget"),
            funding_source=payload.funding_source.strip(),
            key_policy=payload.key_policy,
            key_mission=payload.key_mission,
            stage=payload.stage,
            planned_procurement_date=payload.planned_procurement_date,
        )
    if isinstance(payload, ProjectBudgetChangedPayload):
        return ChangeBudget(money(payload.budget, "budget"), payload.reason)
    if isinstance(payload, ProjectStageChangedPayload):
        return ChangeStage(payload.stage, payload.note)
    if isinstance(payload, ProjectFlaggedPayload):
        if payload.key_policy is None and payload.key_mission is None:
            raise InvalidProjectEvent(
                "key_policy", "a flag event must set key_policy or key_mission"
            )
        return Flag(payload.key_policy, payload.key_mission)
    if isinstance(payload, ProjectRequirementWaivedPayload):
        return Waive(payload.requirement, payload.reason.strip(), payload.authority)
    if isinstance(payload, ParticipationRecordedPayload):
        if sum(payload.participants.values()) <= 0:
            raise InvalidProjectEvent("participants", "nobody took part: every count is 0")
        return RecordParticipation(
            record_id=payload.record_id,
            kind=payload.kind.value,
            held_on=payload.held_on,
            participants={g.value: n for g, n in payload.participants.items()},
            evidence_ref=payload.evidence_ref,
            issues=payload.issues,
            results=payload.results,
            changes=payload.changes,
            recorded_by=payload.recorded_by,
        )
    raise InvalidProjectEvent("type", f"no command for {type(payload).__name__}")


def change_from_event(event: ProjectEvent) -> Change:
    return Change(
        event_id=str(event.event_id),
        at=to_millis(event.occurred_at),
        source=Source.KAFKA,
        command=command_from(event.payload),
        version=event.payload.version,
    )


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _requirements(project: Project) -> dict[str, object]:
    """What the audit trail keeps of a project before and after a change."""
    return {
        "stage": project.stage.value,
        **{f"requirement {r.kind}": r.status.value for r in project.requirements},
    }


def fingerprint(org_id: str, cmd: Command) -> str:
    canonical = json.dumps([org_id, asdict(cmd)], sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ComplianceHandlers:
    def __init__(
        self,
        projects: ProjectRepository,
        policies: Policies,
        clock: Clock,
        metrics: ComplianceMetrics,
        audit_trail: AuditTrailStore | None = None,  # None: a replay that keeps no records
    ) -> None:
        self.projects = projects
        self.policies = policies
        self.clock = clock
        self.metrics = metrics
        self.audit_trail = audit_trail

    # ------------------------------------------------------------------ the audit trail

    async def on_audit_recorded(self, event: AuditRecorded) -> None:
        """Every service's audit records, kept here once each."""
        await self.audit_trail_of().keep(event.org_id, event.payload)

    def audit_trail_of(self) -> AuditTrailStore:
        if self.audit_trail is None:
            raise RuntimeError("this compliance keeps no audit trail")
        return self.audit_trail

    # ------------------------------------------------------------------ Kafka

    async def on_project_event(self, event: ProjectEvent) -> Project:
        change = change_from_event(event)  # refuses bad content before anything is kept
        assert change.version is not None
        version = change.version
        pid = event.payload.project_id

        async def attempt() -> Project:
            project = await self.projects.get(pid)
            if project is None:
                project = Project(project_id=pid, org_id=event.org_id, source=Source.KAFKA)
            elif project.source is not Source.KAFKA:
                raise WrongSource(f"project {pid} is entered by hand over HTTP, not fed by Kafka")
            elif project.org_id != event.org_id:
                raise WrongSource(f"project {pid} belongs to {project.org_id}, not {event.org_id}")
            disposition = rules.disposition(project, version)
            if disposition is rules.Disposition.DUPLICATE:
                self.metrics.duplicates.labels("kafka").inc()
                await self.projects.flush(pid)  # in case a crash left its events unpublished
                return project
            facts: list[rules.Fact] = []
            applied: list[Change] = []
            refused = 0
            if disposition is rules.Disposition.PARK:
                rules.park(project, Pending(version, change.event_id, _raw(event)))
            else:
                nxt: Change | None = change
                while nxt is not None:
                    try:
                        facts += rules.apply(project, nxt, self.policies.for_org(project.org_id))
                        applied.append(nxt)
                    except ChangeRefused as exc:
                        rules.refuse(project, nxt, str(exc))
                        refused += 1
                    parked = rules.next_pending(project)
                    nxt = (
                        change_from_event(PROJECT_EVENT.validate_json(parked.body))
                        if parked
                        else None
                    )
            await self.projects.save(
                project,
                outbound.emissions(project, facts, change.at, bool(applied) or refused > 0),
            )
            if disposition is rules.Disposition.PARK:
                self.metrics.parked.inc()
            self._count(applied, facts)
            if refused:
                self.metrics.refused.labels("kafka").inc(refused)
            await self.projects.flush(pid)
            return project

        # An HTTP write or another consumer may come first: decide again on their version.
        return await retry_on_conflict(attempt, KAFKA_RETRY)

    # ------------------------------------------------------------------ HTTP

    async def register(
        self, org_id: str, payload: ProjectRegisteredPayload, client_event_id: str | None
    ) -> tuple[Project, bool]:
        """Manual registration. Returns (project, created); the same body again is a no-op."""
        cmd = command_from(payload)
        pid = payload.project_id
        print_ = fingerprint(org_id, cmd)

        async def attempt() -> tuple[Project, bool]:
            existing = await self.projects.get(pid)
            if existing is not None:
                if existing.source is Source.HTTP and existing.registration_fingerprint == print_:
                    self.metrics.duplicates.labels("http").inc()
                    await self._flush_quietly(pid)
                    return existing, False
                raise ChangeRefused(
                    f"project {pid} is already registered"
                    + (
                        " (fed by its planning system on Kafka)"
                        if existing.source is Source.KAFKA
                        else ""
                    )
                )
            project = Project(project_id=pid, org_id=org_id, source=Source.HTTP)
            project.registration_fingerprint = print_
            change = Change(
                event_id=self._http_event_id(pid, client_event_id or f"register:{print_}"),
                at=to_millis(self.clock.now()),
                source=Source.HTTP,
                command=cmd,
                version=1,
            )
            facts = rules.apply(project, change, self.policies.for_org(org_id))
            await self.projects.save(project, outbound.emissions(project, facts, change.at, True))
            self._count([change], facts)
            await self._flush_quietly(pid)
            return project, True

        return await retry_on_conflict(attempt)

    async def record(
        self,
        project_id: str,
        payload: ProjectFact,
        client_event_id: str | None,
        *,
        by: Principal | None = None,
        source: str | None = None,
    ) -> tuple[Project, bool]:
        """A manual change by `by`, audited in the same write. Returns (project, applied);
        False when the event id was seen."""
        cmd = command_from(payload)
        event_id = self._http_event_id(project_id, client_event_id or str(uuid.uuid4()))

        async def attempt() -> tuple[Project, bool]:
            project = await self.projects.get(project_id)
            if project is None or not project.registered:
                raise LookupError(project_id)
            # Before anything that depends on the project's state: the source, or a retry
            # seen, would otherwise answer (or show) another organisation's project.
            if by is not None and by.org_id != project.org_id:
                raise NotYours(f"{project_id} is another organisation's project")
            if event_id in project.applied_event_ids:
                self.metrics.duplicates.labels("http").inc()
                await self._flush_quietly(project_id)
                return project, False
            if project.source is Source.KAFKA and not isinstance(cmd, MANUAL_ON_KAFKA):
                raise WrongSource(
                    f"budget, stage and flags of {project_id} come from its planning system"
                    " on Kafka; only participation records and waivers can be added here"
                )
            change = Change(
                event_id=event_id,
                at=to_millis(self.clock.now()),
                source=Source.HTTP,
                command=cmd,
                version=project.applied_version + 1 if project.source is Source.HTTP else None,
            )
            before = _requirements(project)
            facts = rules.apply(project, change, self.policies.for_org(project.org_id))
            emissions = outbound.emissions(project, facts, change.at, True)
            if by is not None:  # the change and its audit record are one write
                record = audit_event(
                    by,
                    service="compliance",
                    action=f"project.{_snake(type(cmd).__name__)}",
                    target=f"project:{project_id}",
                    at=self.clock.now(),
                    source=source,
                    before=before,
                    after=_requirements(project),
                    detail=getattr(payload, "reason", None),
                    record_id=event_id,
                )
                emissions.append(Emission.of(record))
            await self.projects.save(project, emissions)
            self._count([change], facts)
            await self._flush_quietly(project_id)
            return project, True

        return await retry_on_conflict(attempt)

    async def _flush_quietly(self, project_id: str) -> None:
        # The change is stored with its events; if Kafka is away, the relay publishes
        # them later. The person at the counter need not wait for the broker.
        try:
            await self.projects.flush(project_id)
        except Exception:
            log.warning("events of %s stay in the outbox for the relay", project_id, exc_info=True)

    @staticmethod
    def _http_event_id(project_id: str, key: str) -> str:
        return str(new_event_id("http", project_id, key))

    # ------------------------------------------------------------------ timers

    async def check_timers(self) -> int:
        """Raise due warnings and overdue report-backs; returns how many facts."""
        now = to_millis(self.clock.now())
        raised = 0
        for pid in await self.projects.with_open_requirements(limit=5000):
            try:
                raised += await self._check_project(pid, now)
            except ConcurrencyError:
                continue  # changed meanwhile: the next round looks again
            except Exception:
                # One broken project must not hold back every other project's deadlines.
                log.exception("timers of project %s not checked; retried next round", pid)
        await self.refresh_gauges()
        return raised

    async def _check_project(self, pid: str, now: datetime) -> int:
        project = await self.projects.get(pid)
        if project is None:
            return 0
        facts = rules.check_timers(project, now, self.policies.for_org(project.org_id))
        if not facts:
            return 0
        await self.projects.save(project, outbound.emissions(project, facts, now, True))
        self._count([], facts)
        await self.projects.flush(pid)
        return len(facts)

    async def refresh_gauges(self) -> None:
        q = ProjectQuery()
        self.metrics.projects.labels("all").set(await self.projects.count(q))
        self.metrics.projects.labels("requiring_participation").set(
            await self.projects.count(ProjectQuery(requires_participation=True))
        )
        self.metrics.projects.labels("with_violations").set(
            await self.projects.count(q, with_violations=True)
        )
        self.metrics.violations_open.set(await self.projects.violations())

    # ------------------------------------------------------------------ metrics

    def _count(self, applied: list[Change], facts: list[rules.Fact]) -> None:
        for change in applied:
            self.metrics.applied.labels(type(change.command).__name__, change.source.value).inc()
        for fact in facts:
            if isinstance(fact, rules.Raised):
                self.metrics.requirements_raised.labels(fact.requirement.kind).inc()
            elif isinstance(fact, rules.Met):
                self.metrics.requirements_met.labels(fact.requirement.kind).inc()
            elif isinstance(fact, rules.Violated):
                v = fact.violation
                self.metrics.violations.labels(v.requirement, v.severity).inc()
            else:
                self.metrics.warnings.labels(fact.warning.code).inc()


def _raw(event: ProjectEvent) -> str:
    return event.model_dump_json()
