"""Use cases of routing: load, decide (domain), save with the events, publish.

Every use case has the same shape: load the case, let the domain decide, save the case
and the events it produced in one write (its outbox), then publish them. A crash at any
point is absorbed by Kafka's redelivery or the outbox relay, and event ids are derived
from the case and its timeline, so a repeat yields the same events, not new ones.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.routing import outbound
from services.routing.domain import lifecycle
from services.routing.domain.access import Viewer, refusal_to_act
from services.routing.domain.classifier import MAX_CLASSIFIED_CHARS, one_reading
from services.routing.domain.directory import Directory
from services.routing.domain.duplicates import likely_duplicate, word_set
from services.routing.domain.errors import CaseNotFound, InvalidCommand, NotPermitted
from services.routing.domain.lifecycle import Assigned, Command, Escalated, Fact
from services.routing.domain.model import Attachment, Case, CategoryScore
from services.routing.domain.rules import decide_assignment, village_from_text
from services.routing.metrics import RoutingMetrics
from services.routing.ports import (
    CaseRepository,
    CategoryRanker,
    DirectorySource,
    RankedCategoryLike,
)
from shared.audit import audit_event
from shared.auth import Principal
from shared.clock import Clock
from shared.errors import ConcurrencyError
from shared.events.cases import (
    WITHDRAWN,
    CaseAmended,
    CaseCommandIssued,
    CaseReceived,
    Location,
    citizen_words,
)
from shared.outbox import Emission
from shared.roles import Role
from shared.store import retry_on_conflict

log = logging.getLogger("ruam.routing")

TOP_K = 5
# Classification holds the GIL, so more threads add no throughput; two let one long text
# be ranked without queueing the next.
RANKING_THREADS = 2
DUPLICATE_CANDIDATES = 50
# Actions a service may ask for without an officer (the survey reopens what citizens say
# is not fixed); every other action names the officer who takes it.
SYSTEM_ACTIONS = frozenset({"reopen"})


@dataclass(frozen=True)
class Actor:
    """Who asks: a signed-in person over HTTP (`principal`, checked against the case and
    put on the audit trail), or a service over Kafka (trusted: the bus is the boundary)."""

    officer_id: str | None
    via: str  # http | kafka
    principal: Principal | None = None
    source: str | None = None  # the client's address, for the audit trail

    @property
    def viewer(self) -> Viewer | None:
        who = self.principal
        if who is None:
            return None
        return Viewer(who.roles, who.department, who.officer_id, who.org_id)


class RoutingHandlers:
    def __init__(
        self,
        cases: CaseRepository,
        directories: DirectorySource,
        ranker: CategoryRanker,
        clock: Clock,
        metrics: RoutingMetrics,
        *,
        org_id: str,
        preview_cache_seconds: float = 2.0,
        loads_cache_seconds: float = 0.0,
    ) -> None:
        self.cases = cases
        self.directories = directories
        self.ranker = ranker
        self.clock = clock
        self.metrics = metrics
        self.org_id = org_id
        self._preview_cache_seconds = preview_cache_seconds
        self._loads_cache: tuple[float, dict[str, int]] | None = None
        self._loads_seconds = loads_cache_seconds
        self._assign_cache: tuple[float, dict[str, int]] | None = None
        # Its own few threads, not the loop's default executor (which also resolves Kafka's
        # host names): a burst of long texts queues here, not in front of a reconnect.
        self._ranking = ThreadPoolExecutor(RANKING_THREADS, thread_name_prefix="ruam-ranker")
        self._deciding = asyncio.Lock()

    def directory(self, org_id: str | None = None) -> Directory:
        return self.directories.get(org_id or self.org_id)

    async def warm_up(self) -> None:
        """Start-up hook: load the tokenizer's dictionary once, before the ranking threads
        race for it (each would load its own copy: peak RSS +70 MB)."""
        await self.rank("ไฟถนนดับ")

    async def rank(self, text: str) -> list[CategoryScore]:
        return (await self._read(text, for_duplicates=False))[0]

    async def _read(
        self, text: str, for_duplicates: bool
    ) -> tuple[list[CategoryScore], frozenset[str] | None]:
        """A text's categories and, for a new case, the words a duplicate is found by."""
        # The opening words say what the matter is; tokenizing is superlinear in length,
        # and 10,000 digits took 0.7 s of the event loop (2,000 characters: under 40 ms).
        # Even bounded, it is CPU work: on its own threads it never holds up the other
        # consumers, the timers and the HTTP API of this process.
        ranked, words = await asyncio.get_running_loop().run_in_executor(
            self._ranking,
            functools.partial(self._rank, text[:MAX_CLASSIFIED_CHARS], for_duplicates),
        )
        scores = [
            CategoryScore(r.code, r.label_th, r.label_en, float(r.score), tuple(r.evidence))
            for r in ranked
        ]
        return scores, words

    def _rank(
        self, text: str, for_duplicates: bool
    ) -> tuple[Sequence[RankedCategoryLike], frozenset[str] | None]:
        with one_reading():
            ranked = self.ranker.rank(text, top_k=TOP_K)
            return ranked, word_set(text) if for_duplicates else None

    # -- case.received -------------------------------------------------------------

    async def on_case_received(self, event: CaseReceived) -> Case:
        p = event.payload
        # Not asked first whether the case is known: its save, an insert, is refused if it
        # is (a redelivery), and then the stored case stands (below). A new case's first
        # read was one database round trip more on every case's way, for a rare repeat.
        # A LINE photo, voice message or pin alone: สำนักปลัด decides (the channel's words,
        # such as "ข้อความเสียง", would otherwise send it to the noise team).
        ranking, words = await self._read(citizen_words(p.text), for_duplicates=True)
        directory = self.directory(event.org_id)
        now = self.clock.now()
        loc = p.location or Location()
        case = Case(
            case_id=p.case_id,
            org_id=event.org_id,
            kind=p.kind.value,
            channel=p.channel.value,
            text=p.text,
            received_at=p.received_at,
            channel_message_id=p.channel_message_id,
            contact_ref=p.contact_ref,
            village_no=loc.village_no,
            lat=loc.lat,
            lon=loc.lon,
            address=loc.address,
            service_code=p.service_code,
            department_hint=p.department_hint,
            links=dict(p.links),
        )
        case.attach([Attachment(a.kind, a.ref) for a in p.attachments])
        # New cases are decided one at a time, each counted as open before its save: in a
        # burst handled concurrently, the next one sees this one's load and text.
        async with self._deciding:
            loads = await self._assignment_loads()
            facts = lifecycle.receive(case, ranking, directory, loads, now)
            match = likely_duplicate(
                case, await self.cases.duplicate_candidates(case, DUPLICATE_CANDIDATES), words
            )
            if match is not None:
                case.likely_duplicate_of, case.duplicate_reason = match.case_id, match.reason
                case.duplicate_root = match.first()
            if case.officer_id:
                loads[case.officer_id] = loads.get(case.officer_id, 0) + 1
            self.cases.reserve(case)
        try:
            await self.cases.save(case, outbound.emissions(case, facts, event.correlation_id))
        except ConcurrencyError:
            # Stored already: a redelivery, a replay, or another consumer after a rebalance.
            # Theirs stands. Reading it puts it back in the working set in place of the
            # decision just reserved; the officer's load counted for that decision is given
            # back. Only make sure what it produced was published.
            self.metrics.redeliveries.inc()
            if case.officer_id:
                loads[case.officer_id] = max(0, loads.get(case.officer_id, 1) - 1)
            stored = await self.cases.get(p.case_id)
            await self.cases.flush(p.case_id)
            assert stored is not None
            return stored
        self._count(facts, case)
        await self.cases.flush(case.case_id)
        return case

    async def _assignment_loads(self) -> dict[str, int]:
        """Open cases per officer, re-counted from the store at most every few seconds
        (a count is a scan on FerretDB) and kept current in between by our own
        assignments; other replicas' assignments show at the next re-count."""
        at = time.monotonic()
        if self._assign_cache is not None and at - self._assign_cache[0] < self._loads_seconds:
            return self._assign_cache[1]
        loads = await self.cases.loads()
        self._assign_cache = (at, loads)
        return loads

    # -- case.amended ------------------------------------------------------------------

    async def on_case_amended(self, event: CaseAmended) -> Case:
        """A citizen's follow-up or answer: on the case's timeline, and to its officer."""
        p = event.payload
        summary = p.text or {"image": "(รูปภาพ)", "location": "(ตำแหน่ง)"}.get(p.kind, p.kind)

        async def attempt() -> Case:
            case = await self.cases.get(p.case_id)
            if case is None:
                # case.received and case.amended travel on different topics: the case
                # may not be routed yet. A conflict is transient: this is retried.
                raise ConcurrencyError(f"{p.case_id} is not routed yet")
            recorded = case.timeline_seq
            facts = lifecycle.amend(
                case,
                p.amendment_id,
                summary,
                self.clock.now(),
                self.directory(case.org_id),
                [Attachment(a.kind, a.ref) for a in p.attachments],
                withdrawn=p.kind == WITHDRAWN,
            )
            if case.timeline_seq != recorded:  # not seen before: keep it
                await self.cases.save(case, outbound.emissions(case, facts, event.correlation_id))
            return case

        case = await retry_on_conflict(attempt)
        await self.cases.flush(case.case_id)
        return case

    # -- officer actions and case.commands -------------------------------------------

    async def on_command(self, event: CaseCommandIssued) -> Case:
        p = event.payload
        cmd = Command(p.action, p.officer_id, dict(p.params), p.command_id)
        return await self.act(
            p.case_id, cmd, Actor(p.officer_id, "kafka"), correlation_id=event.correlation_id
        )

    async def act(
        self, case_id: str, cmd: Command, actor: Actor, correlation_id: str | None = None
    ) -> Case:
        """One action on one case, the same whether it came over HTTP or Kafka."""
        if not cmd.command_id:
            cmd = Command(cmd.action, cmd.officer_id, cmd.params, f"cmd-{uuid.uuid4()}")

        async def attempt() -> tuple[Case, bool]:
            case = await self.cases.get(case_id)
            if case is None:
                raise CaseNotFound(f"no case {case_id}")
            if cmd.command_id in case.applied_commands:
                return case, False
            directory = self.directory(case.org_id)
            before = _audited(case)
            try:
                self.authorize(actor, cmd, case, directory)
                await self._check_references(cmd)
                loads = (
                    await self.cases.loads() if cmd.action in ("transfer", "recategorize") else {}
                )
                facts = lifecycle.apply_command(case, cmd, self.clock.now(), directory, loads)
            except InvalidCommand as exc:
                self.metrics.refused.labels(_action_label(cmd.action), "invalid").inc()
                raise exc
            except Exception as exc:
                self.metrics.refused.labels(_action_label(cmd.action), type(exc).__name__).inc()
                raise
            emissions = outbound.emissions(case, facts, correlation_id)
            if actor.principal is not None:  # the act and its audit record are one write
                record = audit_event(
                    actor.principal,
                    service="routing",
                    action=f"case.{cmd.action}",
                    target=f"case:{case.case_id}",
                    at=self.clock.now(),
                    source=actor.source,
                    before=before,
                    after=_audited(case),
                    record_id=f"{case.case_id}:{cmd.command_id}",
                )
                emissions.append(Emission.of(record))
            await self.cases.save(case, emissions)
            self._count(facts, case)
            return case, True

        case, applied = await retry_on_conflict(attempt)
        if applied:
            self.metrics.actions.labels(_action_label(cmd.action)).inc()
        await self.cases.flush(case_id)  # a repeat too: its events may not have gone out yet
        return case

    async def _check_references(self, cmd: Command) -> None:
        original = cmd.params.get("duplicate_of")
        if cmd.action == "mark_duplicate" and original and await self.cases.get(original) is None:
            raise InvalidCommand("params.duplicate_of", f"no case {original}")

    def authorize(self, actor: Actor, cmd: Command, case: Case, directory: Directory) -> None:
        """A person acts within their role and department (`domain.access`); a service's
        command names a known officer or is one the services may give."""
        viewer = actor.viewer
        if viewer is not None:
            refusal = refusal_to_act(viewer, case)
            if refusal is not None:
                raise NotPermitted(refusal)
            if cmd.action == "reassign" and not (
                viewer.is_(Role.HEAD) or viewer.is_(Role.EXECUTIVE)
            ):
                raise NotPermitted("a head of the department or an executive reassigns a case")
        if cmd.officer_id is None:
            if cmd.action not in SYSTEM_ACTIONS:
                raise InvalidCommand("officer_id", f"required for {cmd.action}")
            return
        if directory.officer(cmd.officer_id) is None:
            raise InvalidCommand("officer_id", f"unknown officer {cmd.officer_id!r}")

    # -- durable timers ------------------------------------------------------------------

    async def fire_timers(self, limit: int = 200) -> int:
        """Fire every due timer once. Safe to run in several processes at a time: the
        versioned save lets exactly one of them fire a given timer."""
        now = self.clock.now()
        fired = 0
        for case_id in await self.cases.due(now, limit):
            try:
                fired += await self._fire(case_id, now)
            except ConcurrencyError:
                # Someone changed it meanwhile; the next round sees their version.
                self.metrics.timer_conflicts.inc()
            except Exception:
                # One broken case must not hold back every other case's deadline.
                log.exception("timers of %s not fired; retried next round", case_id)
        return fired

    async def _fire(self, case_id: str, now: datetime) -> int:
        case = await self.cases.get(case_id)  # fresh: the due list may be stale by now
        if case is None or not any(t.due_at <= now for t in case.timers):
            return 0  # nothing to write: leave the version free for officers
        facts = lifecycle.fire_due(case, now, self.directory(case.org_id))
        await self.cases.save(case, outbound.emissions(case, facts, None))
        self._count(facts, case)
        await self.cases.flush(case_id)
        return len(facts)

    # -- preview -------------------------------------------------------------------------

    async def preview(
        self,
        text: str,
        kind: str,
        location: Location | None,
        service_code: str | None = None,
        department_hint: str | None = None,
    ) -> dict[str, Any]:
        """What routing would decide for this matter now, without creating anything."""
        directory = self.directory()
        now = self.clock.now()
        loc = location or Location()
        case = Case(
            case_id="preview",
            org_id=self.org_id,
            kind=kind,
            channel="web",
            text=text,
            received_at=now,
            village_no=loc.village_no,
            lat=loc.lat,
            lon=loc.lon,
            address=loc.address,
            service_code=service_code,
            department_hint=department_hint,
        )
        notes = lifecycle.categorize(case, await self.rank(text))
        if case.village_no is None:
            case.village_no = village_from_text(f"{text}\n{loc.address or ''}")
        decision = decide_assignment(
            lifecycle.routing_input(case), directory, await self._cached_loads()
        )
        lifecycle.set_deadlines(case, directory)
        dept = directory.department(decision.department)
        officer = directory.officer(decision.officer_id)
        return {
            "categories": [
                {
                    "code": c.code,
                    "label_th": c.label_th,
                    "label_en": c.label_en,
                    "score": c.score,
                    "evidence": list(c.evidence),
                }
                for c in case.categories
            ],
            "category_source": case.category_source,
            "department": {
                "code": decision.department,
                "name_th": dept.name_th if dept else decision.department,
                "name_en": dept.name_en if dept else decision.department,
            },
            "officer": {"id": officer.id, "name": officer.name} if officer else None,
            "reasons": [*notes, *decision.reasons],
            "village_no": case.village_no,
            "acknowledge_due_at": case.acknowledge_due_at,
            "respond_due_at": case.respond_due_at,
        }

    async def _cached_loads(self) -> dict[str, int]:
        at = time.monotonic()
        if (
            self._loads_cache is not None
            and at - self._loads_cache[0] < self._preview_cache_seconds
        ):
            return self._loads_cache[1]
        loads = await self.cases.loads()
        self._loads_cache = (at, loads)
        return loads

    # -- metrics -------------------------------------------------------------------------

    def _count(self, facts: Sequence[Fact], case: Case) -> None:
        for fact in facts:
            if isinstance(fact, Assigned):
                self.metrics.cases_assigned.labels(case.department or "").inc()
            elif isinstance(fact, Escalated):
                self.metrics.escalations.labels(str(fact.level)).inc()


def _audited(case: Case) -> dict[str, object]:
    """What the audit trail keeps of a case before and after an act."""
    return {
        "status": case.status.value,
        "department": case.department,
        "officer_id": case.officer_id,
        "category": case.category,
    }


def _action_label(action: str) -> str:
    """Metric labels come from a fixed set: a client-sent name is not a new series."""
    return action if action in lifecycle.TRANSITIONS else "unknown"
