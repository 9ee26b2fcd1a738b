"""The console's pure parts: the queue's order and bands, the actions a state offers, the
Thai reading of the APIs' refusals, the receipt's QR code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import segno

from services.console.domain import actions, queue
from services.console.domain.receipt import qr_svg, tracker_url
from services.console.upstream import refusal_of
from shared.auth import Principal
from shared.roles import Role

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 10:00 in Bangkok


def row(
    case_id: str, due: datetime | None, status: str = "assigned", **more: object
) -> dict[str, object]:
    return {
        "case_id": case_id,
        "status": status,
        "respond_due_at": due.isoformat() if due else None,
        "received_at": (NOW - timedelta(days=1)).isoformat(),
        **more,
    }


def test_the_queue_puts_the_nearest_deadline_first_and_labels_every_band() -> None:
    rows = [
        row("later", NOW + timedelta(days=12)),
        row("paused", NOW - timedelta(days=3), status="pending_citizen"),
        row("week", NOW + timedelta(days=3)),
        row("overdue-1", NOW - timedelta(hours=2)),
        row("today", NOW + timedelta(hours=5)),  # 15:00 in Bangkok, the same day
        row("overdue-5", NOW - timedelta(days=5)),
    ]
    ordered = queue.order(rows, NOW, None)
    assert [r.case["case_id"] for r in ordered] == [
        "overdue-5",
        "overdue-1",
        "today",
        "week",
        "later",
        "paused",
    ]
    labels = {r.case["case_id"]: r.band.label for r in ordered}
    assert labels["overdue-5"] == "เลยกำหนด"
    assert labels["today"] == "ครบกำหนดวันนี้"
    assert labels["week"] == "ครบกำหนดในสัปดาห์นี้"
    assert labels["later"] == "ยังไม่ถึงกำหนด"
    assert labels["paused"].startswith("รอข้อมูลจากประชาชน")


def test_due_today_is_bangkoks_day_not_utcs() -> None:
    # 23:30 in Bangkok today is still today; 00:30 tomorrow in Bangkok (17:30 UTC today) is not.
    tonight = datetime(2026, 12, 1, 16, 30, tzinfo=UTC)
    after_midnight = datetime(2026, 12, 1, 17, 30, tzinfo=UTC)
    assert queue.band_of(row("a", tonight), NOW) is queue.TODAY
    assert queue.band_of(row("b", after_midnight), NOW) is queue.WEEK


def test_new_since_the_last_visit_is_counted() -> None:
    old = row("old", NOW + timedelta(days=2), received_at=(NOW - timedelta(days=3)).isoformat())
    new = row("new", NOW + timedelta(days=9), received_at=(NOW - timedelta(hours=1)).isoformat())
    ordered = queue.order([old, new, new], NOW, NOW - timedelta(days=1))
    assert [r.case["case_id"] for r in ordered] == ["old", "new"]  # the same case once
    assert queue.counts(ordered)["new"] == 1
    assert queue.counts(queue.order([old, new], NOW, None))["new"] == 0


def test_finished_cases_owe_no_deadline() -> None:
    assert queue.band_of(row("r", NOW - timedelta(days=1), status="resolved"), NOW) is queue.NONE


OFFICER = Principal(
    "eng-anan", "sraphonthong", frozenset({Role.OFFICER}), "engineering", "eng-anan"
)
OTHER = Principal(
    "eng-somchai", "sraphonthong", frozenset({Role.OFFICER}), "engineering", "eng-somchai"
)
HEAD = Principal("eng-head", "sraphonthong", frozenset({Role.HEAD}), "engineering", "eng-head")
PALAD = Principal("palad", "sraphonthong", frozenset({Role.EXECUTIVE}), "executive", "palad")


def case(status: str, **more: object) -> dict[str, object]:
    return {
        "case_id": "SPT-2570-000001",
        "status": status,
        "kind": "complaint",
        "department": "engineering",
        "officer": {"id": "eng-anan"},
        **more,
    }


@pytest.mark.parametrize(
    ("status", "offered"),
    [
        ("assigned", ["acknowledge", "start", "request_info", "note", "transfer", "resolve"]),
        ("acknowledged", ["start", "request_info", "note", "transfer", "resolve"]),
        ("in_progress", ["request_info", "note", "transfer", "resolve"]),
        ("pending_citizen", ["start", "note", "transfer", "resolve"]),
        ("resolved", ["note", "close", "reopen"]),
        ("closed", ["note", "reopen"]),
        ("reopened", ["acknowledge", "start", "request_info", "note", "transfer", "resolve"]),
    ],
)
def test_a_state_offers_only_its_actions(status: str, offered: list[str]) -> None:
    assert [a.name for a in actions.allowed(OFFICER, case(status))] == offered


def test_only_the_assigned_officer_the_head_and_the_executives_may_act() -> None:
    assert actions.allowed(OTHER, case("assigned")) == []
    assert actions.allowed(HEAD, case("assigned"))
    assert actions.allowed(PALAD, case("assigned"))
    other_dept = case("assigned", department="finance", officer={"id": "fin-x"})
    assert actions.allowed(HEAD, other_dept) == []
    report = case("assigned", kind="corruption_report")
    assert actions.allowed(HEAD, report) == [] and actions.allowed(PALAD, report)


def test_each_action_names_the_deadline_it_affects() -> None:
    c = case(
        "assigned",
        respond_due_at="2026-12-16T10:00:00+00:00",
        acknowledge_due_at="2026-12-02T10:00:00+00:00",
    )
    fmt = lambda v: str(v)[:10]  # noqa: E731
    assert "2026-12-02" in actions.deadline_effect("acknowledge", c, fmt)
    assert "2026-12-16" in actions.deadline_effect("resolve", c, fmt)
    assert "หยุดนับ" in actions.deadline_effect("request_info", c, fmt)
    assert "ใหม่" in actions.deadline_effect("reopen", c, fmt)
    for a in actions.ACTIONS:
        assert actions.deadline_effect(a.name, c, fmt)


def test_a_409_and_a_503_are_plain_thai_with_what_to_do() -> None:
    conflict = refusal_of(409, {"error": "invalid_transition", "message": "cannot close"})
    assert conflict.message == "ทำรายการนี้ไม่ได้ในสถานะปัจจุบันของเรื่อง"
    assert "โหลดหน้าเรื่องใหม่" in conflict.advice and conflict.detail == "cannot close"
    busy = refusal_of(503, {"error": "busy"}, "3")
    assert busy.message.startswith("ระบบไม่ว่างชั่วคราว") and "3 วินาที" in busy.advice
    assert busy.retry_after == 3
    invalid = refusal_of(
        422, {"message": "bad", "details": [{"field": "params.resolution", "message": "required"}]}
    )
    assert "params.resolution: required" in invalid.detail


def test_the_receipts_qr_code_opens_the_public_tracker_of_the_case() -> None:
    url = tracker_url("https://sraphonthong.example/", "SPT-2570-000123")
    assert url == "https://sraphonthong.example/track/SPT-2570-000123"
    svg = qr_svg(url)
    assert svg.startswith("<svg")
    # The drawn code is the code of exactly this address: segno draws the same modules for
    # the same text, and another case's code differs.
    assert svg == segno.make(url, error="m").svg_inline(scale=4, dark="#000", light="#fff")
    assert svg != qr_svg(tracker_url("https://sraphonthong.example", "SPT-2570-000124"))
    matrix = segno.make(url, error="m")
    assert matrix.mode == "byte" and matrix.error == "M"


def test_only_heads_and_executives_are_offered_a_reassignment() -> None:
    assert "reassign" not in [a.name for a in actions.allowed(OFFICER, case("assigned"))]
    assert "reassign" in [a.name for a in actions.allowed(HEAD, case("assigned"))]
    assert "reassign" in [a.name for a in actions.allowed(PALAD, case("in_progress"))]
    assert "reassign" not in [a.name for a in actions.allowed(HEAD, case("resolved"))]
