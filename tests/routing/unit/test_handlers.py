from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry

from services.routing.handlers import RoutingHandlers
from services.routing.metrics import RoutingMetrics
from shared.clock import FixedClock
from shared.events.cases import CaseReceived, CaseReceivedPayload
from shared.topics import Topic
from tests.routing.fakes import FakeCaseRepository

NOW = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)


def received(case_id: str = "SPT-2569-000001", **over: object) -> CaseReceived:
    payload = {
        "case_id": case_id,
        "channel": "web",
        "kind": "complaint",
        "text": "ไฟถนนดับ",
        "original_text": "ไฟถนนดับ",
        "received_at": NOW - timedelta(hours=1),
        **over,
    }
    return CaseReceived(org_id="sraphonthong", payload=CaseReceivedPayload.model_validate(payload))


def handlers() -> tuple[RoutingHandlers, FakeCaseRepository]:
    repo = FakeCaseRepository()
    return RoutingHandlers(repo, FixedClock(NOW), RoutingMetrics(CollectorRegistry())), repo


async def test_a_received_case_is_stored_assigned_and_announced() -> None:
    h, repo = handlers()
    case = await h.on_case_received(received())
    stored = await repo.get(case.case_id)
    assert stored is not None and stored.status == "assigned"
    assert stored.department and stored.respond_due_at == stored.received_at + timedelta(days=15)
    assigned = repo.publisher.on(Topic.CASE_ASSIGNED)
    assert [e["payload"]["case_id"] for e in assigned] == ["SPT-2569-000001"]


async def test_a_redelivered_event_assigns_nothing_twice() -> None:
    h, repo = handlers()
    event = received()
    await h.on_case_received(event)
    await h.on_case_received(event)
    assert len(repo.store.docs) == 1
    assert len(repo.publisher.on(Topic.CASE_ASSIGNED)) == 1


async def test_events_stored_before_a_broker_outage_go_out_on_redelivery() -> None:
    h, repo = handlers()
    event = received()
    repo.publisher.fail_next = 1
    try:
        await h.on_case_received(event)
    except ConnectionError:
        pass  # the consumer would not commit; Kafka redelivers
    assert repo.publisher.on(Topic.CASE_ASSIGNED) == []
    await h.on_case_received(event)
    assigned = repo.publisher.on(Topic.CASE_ASSIGNED)
    assert len(assigned) == 1 and assigned[0]["event_id"]
