"""Officer actions: what each state allows, and what each action leaves behind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.routing.domain.errors import InvalidCommand, InvalidTransition
from services.routing.domain.lifecycle import (
    TRANSITIONS,
    Closed,
    Command,
    Resolved,
    StatusChanged,
    apply_command,
    receive,
)
from services.routing.domain.model import Case, CategoryScore, Status
from shared.taxonomy import by_code
from tests.routing.fakes import shipped_directory

D = shipped_directory()
NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
PARAMS = {
    "transfer": {"department": "health"},
    "reassign": {"to_officer": "eng-wichai"},
    "recategorize": {"category": "cleanliness"},
    "resolve": {"resolution": "ซ่อมแล้ว"},
    "mark_duplicate": {"duplicate_of": "SPT-2569-000001"},
    "not_responsible": {"forwarded_to": "การไฟฟ้าส่วนภูมิภาค อ.เกษตรวิสัย"},
    "note": {"note": "ลงพื้นที่แล้ว"},
}
# How to bring a fresh (assigned) case into each state.
PATHS: dict[Status, list[str]] = {
    Status.ASSIGNED: [],
    Status.ACKNOWLEDGED: ["acknowledge"],
    Status.IN_PROGRESS: ["start"],
    Status.PENDING_CITIZEN: ["request_info"],
    Status.RESOLVED: ["resolve"],
    Status.CLOSED: ["resolve", "close"],
    Status.REOPENED: ["resolve", "reopen"],
    Status.DUPLICATE: ["mark_duplicate"],
    Status.NOT_OUR_RESPONSIBILITY: ["not_responsible"],
}


def fresh() -> Case:
    case = Case(
        case_id="SPT-2569-000002",
        org_id="sraphonthong",
        kind="complaint",
        channel="phone",
        text="ถนนพัง หมู่ 1",
        received_at=NOW,
    )
    c = by_code("road")
    receive(case, [CategoryScore(c.code, c.label_th, c.label_en, 0.9)], D, {}, NOW)
    return case


def act(case: Case, action: str, **params: str) -> list[object]:
    return list(
        apply_command(
            case,
            Command(action, "eng-somchai", params or PARAMS.get(action, {})),
            NOW + timedelta(hours=1),
            D,
            {},
        )
    )


@pytest.mark.parametrize("state", list(PATHS))
@pytest.mark.parametrize("action", list(TRANSITIONS))
def test_every_action_in_every_state_is_applied_or_refused_with_the_reason(
    state: Status, action: str
) -> None:
    case = fresh()
    for step in PATHS[state]:
        act(case, step)
    assert case.status is state
    allowed, target = TRANSITIONS[action]
    seq = len(case.timeline)
    if state in allowed:
        facts = act(case, action)
        assert len(case.timeline) > seq
        if target is not None and action != "transfer":
            assert case.status is target
        assert any(isinstance(f, StatusChanged) for f in facts)
    else:
        with pytest.raises(
            InvalidTransition, match=f"cannot {action} a case that is {state.value}"
        ):
            act(case, action)
        assert len(case.timeline) == seq


def test_resolve_needs_a_resolution_and_closing_publishes_closed() -> None:
    case = fresh()
    with pytest.raises(InvalidCommand) as err:
        apply_command(case, Command("resolve", "eng-somchai", {}), NOW, D, {})
    assert err.value.field == "params.resolution"
    facts = act(case, "resolve")
    assert any(isinstance(f, Resolved) for f in facts) and case.resolution == "ซ่อมแล้ว"
    facts = act(case, "close")
    assert any(isinstance(f, Closed) for f in facts) and case.status is Status.CLOSED
    assert case.timers == []  # nothing left to chase


def test_mark_duplicate_links_the_original_and_stops_the_clock() -> None:
    case = fresh()
    act(case, "mark_duplicate")
    assert case.duplicate_of == "SPT-2569-000001" and not case.is_overdue(NOW + timedelta(days=60))
    other = fresh()
    with pytest.raises(InvalidCommand, match="cannot duplicate itself"):
        act(other, "mark_duplicate", duplicate_of=other.case_id)


def test_not_responsible_records_where_it_was_forwarded() -> None:
    case = fresh()
    act(case, "not_responsible")
    assert case.forwarded_to == "การไฟฟ้าส่วนภูมิภาค อ.เกษตรวิสัย"
    assert case.timeline[-1].note == "forwarded to การไฟฟ้าส่วนภูมิภาค อ.เกษตรวิสัย"


def test_unknown_actions_and_departments_name_the_field() -> None:
    case = fresh()
    with pytest.raises(InvalidCommand) as err:
        act(case, "explode")
    assert err.value.field == "action"
    with pytest.raises(InvalidCommand) as err:
        act(case, "transfer", department="police")
    assert err.value.field == "params.department"


def test_a_case_cannot_be_grown_past_what_it_can_store() -> None:
    """28 large notes once left a case too big to resolve; every input is now bounded."""
    from services.routing.domain.lifecycle import MAX_NOTES, MAX_PARAM_CHARS

    case = fresh()
    officer = case.officer_id
    with pytest.raises(InvalidCommand) as too_long:
        apply_command(
            case, Command("note", officer, {"note": "ก" * (MAX_PARAM_CHARS + 1)}), NOW, D, {}
        )
    assert too_long.value.field == "params.note"
    for _ in range(MAX_NOTES):
        apply_command(case, Command("note", officer, {"note": "ข" * MAX_PARAM_CHARS}), NOW, D, {})
    with pytest.raises(InvalidTransition):
        apply_command(case, Command("note", officer, {"note": "อีกหนึ่ง"}), NOW, D, {})
    facts = apply_command(case, Command("resolve", officer, PARAMS["resolve"]), NOW, D, {})
    assert case.status is Status.RESOLVED and any(isinstance(f, Resolved) for f in facts)


def test_a_corruption_report_cannot_be_recategorized_to_the_division_it_accuses() -> None:
    case = fresh()
    case.kind = "corruption_report"
    with pytest.raises(InvalidTransition, match="corruption report"):
        apply_command(
            case, Command("recategorize", "palad", {"category": "cleanliness"}), NOW, D, {}
        )
    accused = fresh()
    accused.accused_department = "engineering"
    with pytest.raises(InvalidTransition):
        apply_command(
            accused, Command("recategorize", "palad", {"category": "cleanliness"}), NOW, D, {}
        )
