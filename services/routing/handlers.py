"""Use cases of routing: load, decide (domain), save with the events, publish."""

from __future__ import annotations

from services.routing.domain.model import Case
from services.routing.domain.rules import assign, decide_assignment
from services.routing.metrics import RoutingMetrics
from services.routing.ports import CaseRepository, Clock
from shared.errors import ConcurrencyError
from shared.events.cases import (
    CaseAssigned,
    CaseAssignedPayload,
    CaseReceived,
    RankedCategory,
)
from shared.events.envelope import new_event_id
from shared.outbox import Emission
from shared.topics import Topic


class RoutingHandlers:
    def __init__(self, cases: CaseRepository, clock: Clock, metrics: RoutingMetrics) -> None:
        self.cases = cases
        self.clock = clock
        self.metrics = metrics

    async def on_case_received(self, event: CaseReceived) -> Case:
        p = event.payload
        existing = await self.cases.get(p.case_id)
        if existing is not None:
            # A redelivery, or a replay of the demo: the effect is already stored.
            # Only make sure what it produced was published.
            self.metrics.redeliveries.inc()
            await self.cases.flush(p.case_id)
            return existing

        now = self.clock.now()
        case = Case(
            case_id=p.case_id,
            org_id=event.org_id,
            kind=p.kind.value,
            channel=p.channel.value,
            text=p.text,
            received_at=p.received_at,
            channel_message_id=p.channel_message_id,
            contact_ref=p.contact_ref,
            village_no=p.location.village_no if p.location else None,
        )
        case.record(now, "receive")
        assign(case, decide_assignment(case), now)
        emission = Emission(Topic.CASE_ASSIGNED, case.case_id, self._assigned(case, event))
        try:
            await self.cases.save(case, [emission])
        except ConcurrencyError:
            # Another consumer (after a rebalance) stored it first: theirs stands.
            stored = await self.cases.get(p.case_id)
            await self.cases.flush(p.case_id)
            assert stored is not None
            return stored
        self.metrics.cases_assigned.labels(case.department or "").inc()
        await self.cases.flush(case.case_id)
        return case

    @staticmethod
    def _assigned(case: Case, cause: CaseReceived) -> CaseAssigned:
        assert case.department is not None
        return CaseAssigned(
            event_id=new_event_id(str(cause.event_id), "assigned", "1"),
            org_id=case.org_id,
            correlation_id=cause.correlation_id or case.case_id,
            payload=CaseAssignedPayload(
                case_id=case.case_id,
                kind=cause.payload.kind,
                channel=cause.payload.channel,
                department=case.department,
                officer_id=case.officer_id,
                categories=tuple(RankedCategory(code=c, score=s) for c, s in case.categories),
                reasons=tuple(case.reasons),
                received_at=case.received_at,
                acknowledge_due_at=case.acknowledge_due_at,
                respond_due_at=case.respond_due_at,
            ),
        )
