"""Insight's use cases: load -> decide (domain/) -> save -> add to the figures.

Per event, a case's record is changed by compare-and-set, and the change it makes to
the figures is stored in the record (`pending`, named by a token) before it is added to
any bucket. Each bucket remembers the tokens it took, so adding the same change again
(a retry, a redelivery after a crash between two buckets) adds nothing. Whoever next
loads a record with a change pending finishes it first; the event's offset is committed
only after the handler returns, so a crash redelivers the event and it does exactly that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from services.insight.adapters.directory import Directory
from services.insight.domain import plan as plans
from services.insight.domain import rules
from services.insight.domain.errors import NotFound
from services.insight.domain.model import Bucket, CaseFacts, CaseRecord, Counts
from services.insight.domain.plan import Action, Consultation, Finding, FollowUp, Plan
from services.insight.metrics import InsightMetrics
from services.insight.ports import (
    CaseRepository,
    ConsultationRepository,
    FigureRepository,
    PlanRepository,
)
from shared.clock import Clock
from shared.errors import ConcurrencyError
from shared.events.survey import SatisfactionAlertRaised
from shared.locks import KeyedLocks
from shared.store import retry_on_conflict
from shared.thai import METRIC_NAMES_TH, to_bangkok

log = logging.getLogger("ruam.insight")


class InsightHandlers:
    def __init__(
        self,
        cases: CaseRepository,
        figures: FigureRepository,
        consultations: ConsultationRepository,
        plans_: PlanRepository,
        directory: Directory,
        clock: Clock,
        metrics: InsightMetrics,
        *,
        hotspot_window_days: int = 60,
        hotspot_at_least: int = 3,
    ) -> None:
        self.cases = cases
        self.figures = figures
        self.consultations = consultations
        self.plans = plans_
        self.directory = directory
        self.clock = clock
        self.metrics = metrics
        self.hotspot_window_days = hotspot_window_days
        self._cases_in_hand = KeyedLocks()
        self.hotspot_at_least = hotspot_at_least

    # ---------------------------------------------------------------- the figures

    async def on_event(self, event: rules.Event) -> None:
        """Any case or survey event: the case's facts and the figures they count in."""
        case_id = rules.case_of(event)
        if case_id is None:
            return
        # A case's events come on seven topics at once: here they take turns, instead of
        # racing each other to the case record's compare-and-set and retrying.
        async with self._cases_in_hand.hold(case_id):
            await self._on_event(case_id, event)

    async def _on_event(self, case_id: str, event: rules.Event) -> None:
        topic = event.topic.value

        async def attempt() -> tuple[CaseRecord, int] | None:
            loaded = await self.cases.get(case_id)
            record, version = loaded or (CaseRecord(CaseFacts(case_id, event.org_id)), 0)
            if record.pending:
                # Left by a handling that died (or is still running) between its save and
                # the buckets: finish it; the tokens make a second adding harmless.
                await self._add(record)
                self.metrics.resumed.inc()
            decided = rules.decide(record, event)
            if decided is None:
                if record.pending:
                    await self._settle(record, version)
                return None
            decided = replace(decided, token=f"{case_id}#{version + 1}")
            return decided, await self.cases.save(decided, version)

        done = await retry_on_conflict(attempt)
        if done is None:
            self.metrics.duplicates.labels(topic).inc()
            return
        record, version = done
        await self._add(record)
        await self._settle(record, version)
        self.metrics.applied.labels(topic).inc()

    async def _add(self, record: CaseRecord) -> None:
        assert record.token is not None
        token = record.token
        # The buckets are independent: added together, each joining whatever round of
        # changes to it is under way (shared.store.change). All are waited for before any
        # failure is raised, so the record is settled only after every bucket has its part.
        added = await asyncio.gather(
            *(self.figures.add(bid, change, token) for bid, change in record.pending.items()),
            return_exceptions=True,
        )
        failed = [a for a in added if isinstance(a, BaseException)]
        self.metrics.changes.inc(len(added) - len(failed))
        if failed:
            raise failed[0]

    async def _settle(self, record: CaseRecord, version: int) -> None:
        # Only a tidy-up: if another handling moved the case on, it settled this already.
        with contextlib.suppress(ConcurrencyError):
            await self.cases.save(record.settled(), version)

    async def stored_figures(self, org_id: str) -> dict[str, Counts]:
        """Every bucket as stored, empty ones left out: what `rules.recompute` must equal."""
        return {b.bucket_id: dict(b.counts) for b in await self.figures.all(org_id) if b.counts}

    async def check(self, org_id: str, limit: int = 20) -> dict[str, Any]:
        """The stored figures against the sum of the stored cases' contributions (a scan of
        both: an operator's check, never per event). Equal unless a bucket lost a change or
        took one twice, which the tokens are there to prevent."""
        expected: dict[str, Counts] = {}
        cases = await self.cases.all(org_id)
        for record in cases:
            for bid, counts in rules.contribution(record.facts).items():
                into = expected.setdefault(bid, {})
                for f, n in counts.items():
                    into[f] = into.get(f, 0) + n
        expected = {b: c for b, c in expected.items() if c}
        stored = await self.stored_figures(org_id)
        differ = sorted(
            b for b in expected.keys() | stored.keys() if expected.get(b) != stored.get(b)
        )
        pending = sum(1 for r in cases if r.pending)
        return {
            "cases": len(cases),
            "buckets": len(stored),
            "equal": not differ,
            # a change in flight shows here until it is added: look again before worrying
            "pending": pending,
            "differences": [
                {"bucket": b, "expected": expected.get(b, {}), "stored": stored.get(b, {})}
                for b in differ[:limit]
            ],
        }

    # ---------------------------------------------------------------- reading

    async def slices(self, org_id: str, dim: str, fiscal_year: int) -> list[Bucket]:
        return sorted(await self.figures.find(org_id, dim, fiscal_year), key=lambda b: b.value)

    async def by_value(self, org_id: str, dim: str, fiscal_year: int) -> dict[str, Counts]:
        return {b.value: b.counts for b in await self.figures.find(org_id, dim, fiscal_year)}

    async def hotspots(
        self, org_id: str, until: date, window_days: int | None = None, at_least: int | None = None
    ) -> list[dict[str, Any]]:
        spots = [
            *await self.figures.find(org_id, rules.SPOT, 0),
            *await self.figures.find(org_id, rules.LINK, 0),
        ]
        found = rules.hotspots(
            spots,
            until,
            window_days=window_days or self.hotspot_window_days,
            # the figures list no place or chain below it (rules.listed)
            at_least=max(rules.HOTSPOT_MIN, at_least or self.hotspot_at_least),
        )
        for h in found:
            if h["village_no"] is not None:
                h["village_name"] = self.directory.villages.get(h["village_no"])
        return found

    async def seasonality(
        self, org_id: str, fiscal_year: int, category: str | None = None
    ) -> list[dict[str, Any]]:
        if category is None:
            this = await self.by_value(org_id, "month", fiscal_year)
            last = await self.by_value(org_id, "month", fiscal_year - 1)
        else:
            prefix = f"{rules.safe(category)}|"

            def of(d: dict[str, Counts]) -> dict[str, Counts]:
                return {k.removeprefix(prefix): v for k, v in d.items() if k.startswith(prefix)}

            this = of(await self.by_value(org_id, "category_month", fiscal_year))
            last = of(await self.by_value(org_id, "category_month", fiscal_year - 1))
        return rules.seasonality(this, last, fiscal_year)

    async def waves(self, org_id: str, fiscal_year: int) -> list[dict[str, Any]]:
        return rules.waves(await self.by_value(org_id, "category_month", fiscal_year))

    async def silent_villages(self, org_id: str, fiscal_year: int) -> list[dict[str, Any]]:
        rows = rules.silent_villages(
            await self.by_value(org_id, "village", fiscal_year), self.directory.population
        )
        for r in rows:
            r["village_name"] = self.directory.villages.get(int(r["village_no"]))
        return rows

    async def causes(
        self, org_id: str, fiscal_year: int, department: str | None = None
    ) -> list[dict[str, Any]]:
        """Resolved cases by category and the cause the owner named."""
        rows = []
        for value, counts in sorted(
            (await self.by_value(org_id, "department_category", fiscal_year)).items()
        ):
            dept, category = value.split("|", 1)
            if department is not None and dept != department:
                continue
            figures = rules.rates(counts)
            if not figures["causes"] and not figures["resolved"]:
                continue
            named = sum(figures["causes"].values())
            rows.append(
                {
                    "department": dept,
                    "category": category,
                    "resolved": figures["resolved"],
                    "causes": figures["causes"],
                    "no_cause": figures["resolved"] - named,
                    "percent_reopened": figures["percent_reopened"],
                }
            )
        return rows

    async def quarter(
        self, org_id: str, fiscal_year: int, quarter: int, department: str | None = None
    ) -> dict[str, Any]:
        """A department's (or the SAO's) figures for one fiscal quarter, summed from its
        months: the same exact counts, cut three months at a time."""
        months = rules.quarter_months(fiscal_year, quarter)
        if department is None:
            by_month = await self.by_value(org_id, "month", fiscal_year)
            chosen = [by_month.get(m, {}) for m in months]
        else:
            by_dm = await self.by_value(org_id, "department_month", fiscal_year)
            chosen = [by_dm.get(f"{rules.safe(department)}|{m}", {}) for m in months]
        total: Counts = {}
        for counts in chosen:
            for f, n in counts.items():
                total[f] = total.get(f, 0) + n
        return {
            "months": months,
            "by_month": [rules.rates(c) for c in chosen],
            **rules.rates(total),
        }

    # ---------------------------------------------------------------- consultations

    async def record_consultation(self, consultation: Consultation) -> tuple[Consultation, bool]:
        plans.check_consultation(consultation)
        added = await self.consultations.add(consultation)
        if added:
            self.metrics.recorded.labels("consultation").inc()
        return consultation, added

    async def raised_at(self, consultation: Consultation) -> dict[str, Any] | None:
        """What became of the matters raised at the meeting whose minutes intake took
        (its activity): how many, resolved, reopened, in what time."""
        if not consultation.activity_id:
            return None
        found = await self.figures.get(
            rules.activity_id(consultation.org_id, consultation.activity_id)
        )
        return rules.rates(found.counts if found else {})

    async def find_consultations(self, org_id: str, fiscal_year: int | None) -> list[Consultation]:
        return await self.consultations.find(org_id, fiscal_year)

    # ---------------------------------------------------------------- the plan

    async def change_plan(
        self,
        org_id: str,
        department: str,
        fiscal_year: int,
        quarter: int,
        decide: Any,
        kind: str,
    ) -> Plan:
        pid = plans.plan_id(org_id, department, fiscal_year, quarter)

        async def attempt() -> Plan:
            loaded = await self.plans.get(pid)
            current, version = loaded or (Plan(org_id, department, fiscal_year, quarter), 0)
            changed = decide(current)
            if changed is None:
                return current
            await self.plans.save(changed, version)
            self.metrics.recorded.labels(kind).inc()
            return changed  # type: ignore[no-any-return]

        return await retry_on_conflict(attempt)

    async def get_plan(self, org_id: str, department: str, fiscal_year: int, quarter: int) -> Plan:
        loaded = await self.plans.get(plans.plan_id(org_id, department, fiscal_year, quarter))
        if loaded is None:
            raise NotFound(f"no plan of {department} for {fiscal_year} Q{quarter}")
        return loaded[0]

    async def plan_view(self, plan: Plan) -> dict[str, Any]:
        """The plan with each action's metric before (the plan's quarter) and after (the
        quarter its due date falls in, or the one after the plan's, whichever is later)."""
        before = await self.quarter(plan.org_id, plan.fiscal_year, plan.quarter, plan.department)
        actions = []
        for a in plan.actions:
            fy, q = plans.fiscal_quarter(a.due)
            fy, q = max((fy, q), plans.next_quarter(plan.fiscal_year, plan.quarter))
            after = await self.quarter(plan.org_id, fy, q, plan.department)
            actions.append(
                {
                    "action_id": a.action_id,
                    "finding_id": a.finding_id,
                    "text": a.text,
                    "owner": a.owner,
                    "due": a.due.isoformat(),
                    "metric": a.metric,
                    "metric_th": METRIC_NAMES_TH[a.metric],
                    "expected": a.expected,
                    "status": a.status,
                    "before": before.get(a.metric),
                    "after": after.get(a.metric) if after["received"] else None,
                    "after_quarter": f"{fy} Q{q}",
                    "followups": [
                        {"on": x.on.isoformat(), "note": x.note, "status": x.status}
                        for x in a.followups
                    ],
                }
            )
        return {
            "plan_id": plan.plan_id,
            "department": plan.department,
            "department_th": self.directory.departments.get(plan.department, plan.department),
            "fiscal_year": plan.fiscal_year,
            "quarter": plan.quarter,
            "findings": [
                {
                    "finding_id": f.finding_id,
                    "text": f.text,
                    "source": f.source,
                    "metric": f.metric,
                    "ref": f.ref,
                }
                for f in plan.findings
            ],
            "actions": actions,
        }

    async def add_finding(
        self, org_id: str, department: str, fy: int, quarter: int, finding: Finding
    ) -> Plan:
        return await self.change_plan(
            org_id, department, fy, quarter, lambda p: plans.add_finding(p, finding), "finding"
        )

    async def add_action(
        self, org_id: str, department: str, fy: int, quarter: int, action: Action
    ) -> Plan:
        return await self.change_plan(
            org_id, department, fy, quarter, lambda p: plans.add_action(p, action), "action"
        )

    async def follow_up(
        self, org_id: str, department: str, fy: int, quarter: int, action_id: str, f: FollowUp
    ) -> Plan:
        await self.get_plan(org_id, department, fy, quarter)
        return await self.change_plan(
            org_id, department, fy, quarter, lambda p: plans.follow_up(p, action_id, f), "followup"
        )

    async def on_satisfaction_alert(self, event: SatisfactionAlertRaised) -> None:
        """Survey's improvement action joins the department's plan for the quarter the
        alert was raised in: the alert as a finding, its improvement case as an action
        on satisfaction, due in 30 days (ids from the alert's, so a replay adds nothing)."""
        a = event.payload
        raised = to_bangkok(event.occurred_at).date()
        fy, quarter = plans.fiscal_quarter(raised)
        finding = Finding(a.alert_id, a.description_th, "survey_alert", "percent_satisfied", a.rule)
        action = Action(
            action_id=f"alert-{a.alert_id}",
            finding_id=a.alert_id,
            text="ปรับปรุงบริการตามเรื่องปรับปรุงที่ระบบสำรวจความพึงพอใจเปิดให้หัวหน้าส่วนราชการ",
            owner="head",
            due=raised + timedelta(days=30),
            metric="percent_satisfied",
            expected="สูงขึ้น",
        )

        def decide(p: Plan) -> Plan | None:
            with_finding = plans.add_finding(p, finding) or p
            return plans.add_action(with_finding, action) or (
                with_finding if with_finding is not p else None
            )

        await self.change_plan(event.org_id, a.department, fy, quarter, decide, "survey_alert")

    def today(self) -> date:
        now: datetime = self.clock.now()
        return to_bangkok(now).date()

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex[:12]
