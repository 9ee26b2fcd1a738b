from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.routing.domain.errors import CaseNotFound, InvalidCommand, InvalidTransition
from services.routing.domain.lifecycle import Command
from services.routing.domain.model import Case
from services.routing.handlers import Actor, RoutingHandlers
from services.routing.models import load_default_classifier
from shared.clock import FixedClock
from shared.events.cases import (
    LINE_NO_WORDS,
    LINE_PIN_TEXT,
    CaseCommandIssued,
    CaseCommandPayload,
    CaseReceived,
    CaseReceivedPayload,
    Channel,
)
from shared.topics import Topic
from tests.routing.fakes import FakeCaseRepository, make_handlers

NOW = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)  # a Friday, 10:00 in Bangkok


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


def handlers(clock: FixedClock | None = None) -> tuple[RoutingHandlers, FakeCaseRepository]:
    h, repo = make_handlers(clock or FixedClock(NOW))
    assert isinstance(h, RoutingHandlers)
    return h, repo


async def test_a_received_case_is_stored_assigned_and_announced() -> None:
    h, repo = handlers()
    case = await h.on_case_received(received())
    stored = await repo.get(case.case_id)
    assert stored is not None and stored.status == "assigned"
    assert stored.department == "engineering" and stored.officer_id
    assert stored.respond_due_at == stored.received_at + timedelta(days=15)
    assigned = repo.publisher.on(Topic.CASE_ASSIGNED)
    assert [e["payload"]["case_id"] for e in assigned] == ["SPT-2569-000001"]
    assert assigned[0]["payload"]["categories"][0]["code"] == "lighting"
    assert assigned[0]["payload"]["reasons"] == list(stored.reasons)
    # The assignment names the status change that came with it, for views to take both.
    status = repo.publisher.on(Topic.CASE_STATUS_CHANGED)
    assert [s["payload"]["to_status"] for s in status] == ["assigned"]
    assert assigned[0]["payload"]["status_seq"] == status[0]["payload"]["seq"]
    assert status[0]["payload"]["in_assignment"] is True


async def test_a_redelivered_event_assigns_nothing_twice() -> None:
    h, repo = handlers()
    event = received()
    await h.on_case_received(event)
    await h.on_case_received(event)
    assert len(repo.store.docs) == 1
    assert len(repo.publisher.on(Topic.CASE_ASSIGNED)) == 1


async def test_a_redelivery_after_the_case_moved_on_leaves_it_and_the_loads_as_they_are() -> None:
    h, repo = handlers()
    first = await h.on_case_received(received())
    officer = first.officer_id
    assert officer is not None
    await h.act(first.case_id, Command("acknowledge", officer, {}, "c1"), Actor(officer, "http"))
    loads_before = dict(await h._assignment_loads())
    published = len(repo.publisher.sent)

    again = await h.on_case_received(received())  # not read first: its insert is refused

    assert again.status == "acknowledged" and again.version == first.version + 1
    stored = await repo.get(first.case_id)
    assert stored is not None and stored.status == "acknowledged"
    assert await h._assignment_loads() == loads_before
    assert len(repo.publisher.sent) == published  # nothing announced again
    assert h.metrics.redeliveries._value.get() == 1


async def test_events_stored_before_a_broker_outage_go_out_on_redelivery() -> None:
    h, repo = handlers()
    event = received()
    repo.publisher.fail_next = 1
    with pytest.raises(ConnectionError):
        await h.on_case_received(event)  # the consumer would not commit; Kafka redelivers
    assert repo.publisher.on(Topic.CASE_ASSIGNED) == []
    await h.on_case_received(event)
    assigned = repo.publisher.on(Topic.CASE_ASSIGNED)
    assert len(assigned) == 1 and assigned[0]["event_id"]


async def test_the_citizens_category_is_taken_as_given_and_the_ranking_kept() -> None:
    h, _repo = handlers()
    case = await h.on_case_received(received(service_code="water_supply", text="ไฟถนนดับ"))
    assert case.category == "water_supply" and case.category_source == "citizen"
    assert next(c.code for c in case.ranking) == "lighting"  # the classifier's view is kept
    assert case.department == "engineering"
    assert any("chosen by the citizen" in r for r in case.reasons)


async def test_a_generic_service_code_leaves_the_category_to_the_classifier() -> None:
    h, _ = handlers()
    case = await h.on_case_received(received(service_code="general", text="ขยะไม่มีคนเก็บ"))
    assert case.category == "cleanliness" and case.category_source == "classifier"
    assert case.department == "health"


async def test_actions_through_http_and_kafka_share_one_handler_and_are_idempotent() -> None:
    h, repo = handlers()
    await h.on_case_received(received())
    case = await h.act(
        "SPT-2569-000001",
        Command("acknowledge", "eng-somchai", {}, "c1"),
        Actor("eng-somchai", "http"),
    )
    assert case.status == "acknowledged"
    command = CaseCommandIssued(
        org_id="sraphonthong",
        payload=CaseCommandPayload(
            case_id="SPT-2569-000001",
            action="acknowledge",
            officer_id="eng-somchai",
            command_id="c1",
        ),
    )
    again = await h.on_command(command)  # the same command id: applied once
    assert again.status == "acknowledged" and len(again.timeline) == len(case.timeline)
    changes = repo.publisher.on(Topic.CASE_STATUS_CHANGED)
    assert [(c["payload"]["to_status"], c["payload"]["seq"]) for c in changes] == [
        ("assigned", 2),
        ("acknowledged", 3),
    ]


async def test_an_action_the_state_forbids_is_refused_with_the_reason() -> None:
    h, _ = handlers()
    await h.on_case_received(received())
    with pytest.raises(InvalidTransition, match="cannot close a case that is assigned"):
        await h.act(
            "SPT-2569-000001", Command("close", "eng-somchai"), Actor("eng-somchai", "http")
        )
    with pytest.raises(CaseNotFound):
        await h.act("SPT-0000-000000", Command("close", "desk"), Actor("desk", "http"))


async def test_resolve_publishes_what_the_survey_needs() -> None:
    h, repo = handlers()
    await h.on_case_received(received(contact_ref="ct_1"))
    await h.act(
        "SPT-2569-000001",
        Command(
            "resolve", "eng-somchai", {"resolution": "เปลี่ยนหลอดไฟแล้ว", "after_photo_ref": "photo-9"}
        ),
        Actor("eng-somchai", "http"),
    )
    [resolved] = repo.publisher.on(Topic.CASE_RESOLVED)
    p: dict[str, Any] = resolved["payload"]
    assert (p["department"], p["category"], p["channel"], p["kind"], p["contact_ref"]) == (
        "engineering",
        "lighting",
        "web",
        "complaint",
        "ct_1",
    )
    assert p["after_photo_ref"] == "photo-9" and p["seq"] == 3


async def test_the_survey_reopens_without_an_officer_and_the_clock_restarts() -> None:
    clock = FixedClock(NOW)
    h, _repo = handlers(clock)
    await h.on_case_received(received())
    await h.act(
        "SPT-2569-000001",
        Command("resolve", "eng-somchai", {"resolution": "ซ่อมแล้ว"}),
        Actor("eng-somchai", "http"),
    )
    clock.set(NOW + timedelta(days=20))
    reopened = await h.on_command(
        CaseCommandIssued(
            org_id="sraphonthong",
            payload=CaseCommandPayload(
                case_id="SPT-2569-000001",
                action="reopen",
                params={"reason": "ยังไม่ได้แก้"},
                command_id="survey-1",
            ),
        )
    )
    assert reopened.status == "reopened"
    assert reopened.respond_due_at == NOW + timedelta(days=35)
    assert not reopened.is_overdue(clock.now())


def amended(case_id: str, amendment_id: str, text: str | None, kind: str = "text") -> Any:
    from shared.events.cases import CaseAmended, CaseAmendedPayload

    return CaseAmended(
        org_id="sraphonthong",
        payload=CaseAmendedPayload(
            case_id=case_id,
            amendment_id=amendment_id,
            channel=Channel.LINE,
            at=NOW,
            kind=kind,
            text=text,
        ),
    )


async def asked(clock: FixedClock) -> tuple[RoutingHandlers, FakeCaseRepository, Case]:
    """A routed case whose officer asked the citizen something (request_info)."""
    h, repo = handlers(clock)
    case = await h.on_case_received(received())
    officer = case.officer_id
    await h.act(
        case.case_id,
        Command("request_info", officer, {"question": "ซอยไหน"}),
        Actor(officer, "http"),
    )
    return h, repo, case


async def test_a_citizens_answer_resumes_a_waiting_case_and_tells_the_officer() -> None:
    clock = FixedClock(NOW)
    h, repo, case = await asked(clock)
    officer = case.officer_id
    waiting = await repo.get(case.case_id)
    assert waiting is not None and waiting.respond_due_at is not None
    due_before = waiting.respond_due_at
    clock.set(NOW + timedelta(days=2))
    for _ in range(2):  # delivered twice: applied once
        await h.on_case_amended(amended(case.case_id, "line:01HX", "ซอยวัดป่า หมู่ 3"))
    stored = await repo.get(case.case_id)
    assert stored is not None and stored.status.value == "in_progress"
    assert [t.action for t in stored.timeline].count("citizen_reply") == 1
    assert stored.respond_due_at == due_before + timedelta(days=2)  # waiting did not count
    notes = [
        n["payload"]
        for n in repo.publisher.on(Topic.NOTIFICATION_REQUESTED)
        if n["payload"]["template"] == "citizen_followup"
    ]
    assert [n["recipient_ref"] for n in notes] == [f"officer:{officer}"]


async def test_a_message_taken_back_is_no_answer_the_case_keeps_waiting() -> None:
    clock = FixedClock(NOW)
    h, repo, case = await asked(clock)
    clock.set(NOW + timedelta(hours=1))
    note = "ผู้แจ้งยกเลิกข้อความที่ส่งทาง LINE เมื่อ 16 พ.ค. 2569 10:01 น."
    await h.on_case_amended(amended(case.case_id, "line:01HW:withdrawn", note, kind="withdrawn"))
    stored = await repo.get(case.case_id)
    assert stored is not None and stored.status.value == "pending_citizen"
    assert [(t.action, t.note) for t in stored.timeline][-1] == ("citizen_withdrew", note)
    templates = [n["payload"]["template"] for n in repo.publisher.on(Topic.NOTIFICATION_REQUESTED)]
    assert "citizen_withdrew" in templates and "citizen_followup" not in templates


async def test_a_follow_up_on_an_open_case_goes_on_its_timeline() -> None:
    h, repo = handlers()
    case = await h.on_case_received(received())
    await h.on_case_amended(amended(case.case_id, "line:01HY", None, kind="image"))
    stored = await repo.get(case.case_id)
    assert stored is not None and stored.status.value == "assigned"
    assert [(t.action, t.note) for t in stored.timeline][-1] == ("citizen_followup", "(รูปภาพ)")


async def test_a_follow_up_before_the_case_is_routed_waits() -> None:
    from shared.errors import ConcurrencyError

    h, _ = handlers()
    with pytest.raises(ConcurrencyError):  # transient: redelivered until routed
        await h.on_case_amended(amended("SPT-2569-000404", "line:01HZ", "เพิ่มเติม"))


async def test_client_sent_action_names_never_become_metric_series() -> None:
    h, _ = handlers()
    case = await h.on_case_received(received())
    for n in range(50):
        with pytest.raises(InvalidCommand):  # refused: an unknown action
            await h.act(case.case_id, Command(f"hax-{n}", case.officer_id, {}), Actor(None, "http"))
    labels = {
        s.labels["action"]
        for metric in h.metrics.refused.collect()
        for s in metric.samples
        if s.name.endswith("_total")
    }
    assert labels == {"unknown"}


async def test_a_huge_text_is_classified_by_its_opening_words() -> None:
    from tests.routing.fakes import FakeRanker

    seen: list[int] = []

    class Recording(FakeRanker):
        def rank(self, text: str | None, top_k: int = 5) -> Any:
            seen.append(len(text or ""))
            return super().rank(text, top_k)

    h, _ = handlers()
    h.ranker = Recording()
    case = await h.on_case_received(received(text="1" * 10_000, original_text="1" * 10_000))
    assert case.department and seen == [2000]  # not all 10,000 characters tokenized


async def test_a_long_lived_case_files_its_history_and_stays_the_same_size() -> None:
    """A transfer ping-pong of 160 steps: the case keeps its newest entries, the older
    ones are filed in chunks, and every entry stays readable, in order, once."""
    from services.routing.domain.model import HISTORY_CHUNK, HISTORY_KEPT

    h, repo = handlers()
    case = await h.on_case_received(received())
    for n in range(160):
        current = await repo.get(case.case_id)
        assert current is not None and current.officer_id
        target = "health" if n % 2 == 0 else "engineering"
        cmd = Command("transfer", current.officer_id, {"department": target}, f"t{n}")
        await h.act(case.case_id, cmd, Actor(current.officer_id, "http"))
    stored = await repo.get(case.case_id)
    assert stored is not None
    for kind in ("timeline", "assignments"):
        kept = getattr(stored, kind)
        assert len(kept) < HISTORY_KEPT + HISTORY_CHUNK
        filed = stored.filed[kind]
        assert filed > 0 and filed % HISTORY_CHUNK == 0
        chunks = [
            await repo.history(case.case_id, kind, no) for no in range(filed // HISTORY_CHUNK)
        ]
        every = [e for chunk in chunks for e in chunk] + kept
        numbers = [e.seq if kind == "timeline" else e.no for e in every]
        assert numbers == list(range(1, len(every) + 1))
    assert stored.assignment_no == 161 and stored.timeline_seq == stored.timeline[-1].seq
    assert [a.department for a in stored.assignments[-2:]] == ["health", "engineering"]


async def test_a_line_message_without_words_goes_to_the_general_desk_unclassified() -> None:
    """A LINE photo, voice message or pin alone carries the channel's words, not the
    citizen's: the shipped model would read "ข้อความเสียง" as noise and "ส่งทาง" as a
    road or a street light. สำนักปลัด decides (the general category), and two such cases are
    not alike by them."""
    h, _ = handlers()
    h.ranker = load_default_classifier()
    village = {"village_no": 5}
    sent = {
        "SPT-2569-000021": LINE_NO_WORDS["image"],
        "SPT-2569-000022": LINE_NO_WORDS["audio"],
        "SPT-2569-000023": LINE_NO_WORDS["video"],
        "SPT-2569-000024": f"{LINE_PIN_TEXT} ถนนหน้าโรงเรียน หมู่ 5",
    }
    for case_id, text in sent.items():
        event = received(case_id, channel="line", text=text, original_text=text, location=village)
        case = await h.on_case_received(event)
        assert case.category == "general", (text, case.categories[:2])
        assert "ข้อความว่าง" in case.categories[0].evidence[0]
        assert case.likely_duplicate_of is None, text
    # The same model still reads a citizen's own words.
    words = await h.on_case_received(received("SPT-2569-000025", text="เพื่อนบ้านเปิดเพลงเสียงดังทุกคืน"))
    assert words.category == "noise"
