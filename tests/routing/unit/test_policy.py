"""The routing policy, rule by rule, on the shipped directory of อบต.สระโพนทอง."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.routing.domain.errors import InvalidTransition
from services.routing.domain.lifecycle import Command, apply_command, receive
from services.routing.domain.model import Case, CategoryScore, Status
from services.routing.domain.rules import RoutingInput, decide_assignment, village_from_text
from shared.taxonomy import by_code, codes
from tests.routing.fakes import directory_data, shipped_directory, with_officer_status

NOW = datetime(2026, 5, 4, 3, 0, tzinfo=UTC)
D = shipped_directory()


def route(
    text: str, category: str | None, village_no: int | None = None
) -> tuple[str, str | None, tuple[str, ...]]:
    inp = RoutingInput(kind="complaint", text=text, category=category, village_no=village_no)
    a = decide_assignment(inp, D, {})
    return a.department, a.officer_id, a.reasons


def test_rule_1_the_category_map_decides_the_department() -> None:
    dept, officer, reasons = route("เก็บภาษีป้ายผิด", "tax_fee")
    assert dept == "finance" and officer in {"fin-revenue", "fin-account"}
    assert reasons[0].startswith("1. category tax_fee")


def test_every_taxonomy_category_has_an_owner_department() -> None:
    for code in codes():
        dept, officer, _ = route("เรื่องทดสอบ", code)
        assert D.department(dept) is not None and officer is not None, code


@pytest.mark.parametrize(
    "text",
    [
        "กองช่างเรียกรับเงินใต้โต๊ะจากผู้รับเหมาถนน",
        "นายช่างโยธาเรียกสินบนค่าตรวจแบบ",
        "ทุจริตโครงการถนน engineering",
    ],
)
def test_rule_2_a_corruption_report_accusing_engineering_is_never_owned_by_it(text: str) -> None:
    for kind, category in (("corruption_report", "road"), ("complaint", "corruption")):
        a = decide_assignment(RoutingInput(kind=kind, text=text, category=category), D, {})
        assert a.department != "engineering"
        assert D.officer(a.officer_id) is not None
        assert D.officer(a.officer_id).department != "engineering"  # type: ignore[union-attr]
        assert a.officer_id == "palad" and a.accused_department == "engineering"
        assert any(r.startswith("2. corruption report accusing กองช่าง") for r in a.reasons)


@given(st.text(alphabet="กขคงจฉชซดตถทนบปผพฟมยรลวศสหอะาิีุูเแโใไ่้๊๋์ั ", max_size=40))
@settings(max_examples=80, deadline=None)
def test_rule_2_holds_whatever_else_the_report_says(noise: str) -> None:
    a = decide_assignment(
        RoutingInput(
            kind="corruption_report", text=f"{noise} กองช่าง ทุจริต {noise}", category="road"
        ),
        D,
        {},
    )
    assert a.department != "engineering" and a.officer_id in {"palad", "nayok"}


def test_rule_2_the_palads_office_accused_goes_to_the_mayor() -> None:
    a = decide_assignment(
        RoutingInput(kind="corruption_report", text="เจ้าหน้าที่สำนักปลัดเรียกเงินค่าทำบัตร", category=None),
        D,
        {},
    )
    assert a.officer_id == "nayok" and a.department == "executive"


def test_rule_2_an_accusation_given_as_a_link_counts_too() -> None:
    a = decide_assignment(
        RoutingInput(
            kind="corruption_report",
            text="มีการฮั้วประมูล",
            category=None,
            links={"accused_department": "finance"},
        ),
        D,
        {},
    )
    assert a.accused_department == "finance" and a.officer_id == "palad"


def test_rule_3_field_work_goes_to_the_area_officer_of_the_village() -> None:
    dept, officer, reasons = route("ถนนเป็นหลุม หมู่ที่ ๔", "road", village_no=4)
    assert (dept, officer) == ("engineering", "eng-anan")
    assert any(r.startswith("3. field work in หมู่ที่ 4") for r in reasons)


def test_rule_3_does_not_apply_to_desk_work() -> None:
    _, officer, reasons = route("ขอทราบเรื่องเบี้ยยังชีพ", "welfare", village_no=4)
    assert officer == "wel-dev1" and not any(r.startswith("3.") for r in reasons)


def test_rule_4_an_area_officer_on_leave_is_skipped_for_the_least_loaded() -> None:
    directory = with_officer_status("eng-anan", "on_leave")
    inp = RoutingInput(kind="complaint", text="ถนนพัง", category="road", village_no=4)
    loads = {"eng-somchai": 7, "eng-wichai": 2, "eng-water": 5}
    a = decide_assignment(inp, directory, loads)
    assert a.officer_id == "eng-wichai"
    assert any("is on_leave" in r for r in a.reasons)
    assert any(r.startswith("4. least-loaded officer of engineering") for r in a.reasons)


def test_rule_4_least_loaded_skips_officers_on_leave() -> None:
    # wel-dev2 is on leave in the shipped directory, and has the lightest load.
    a = decide_assignment(
        RoutingInput(kind="complaint", text="", category="welfare"),
        D,
        {"wel-dev1": 9, "wel-dev2": 0},
    )
    assert a.officer_id == "wel-dev1"
    assert any(r.startswith("4. skipped (not at work): นายกิตติศักดิ์") for r in a.reasons)


def test_rule_5_nobody_at_work_in_the_department_means_the_complaints_desk() -> None:
    data = directory_data()
    for o in data["officers"]:
        if o["department"] == "agriculture":
            o["status"] = "on_leave"
    from services.routing.domain.directory import Directory

    a = decide_assignment(
        RoutingInput(kind="complaint", text="", category="agriculture"),
        Directory.model_validate(data),
        {},
    )
    assert (a.department, a.officer_id) == ("office", "desk")
    assert a.reasons[-1].startswith("5. complaints desk")


def test_rule_0_an_improvement_action_goes_to_the_head_of_its_department() -> None:
    a = decide_assignment(
        RoutingInput(
            kind="improvement_action",
            text="ปรับปรุงการเก็บขยะ",
            category="cleanliness",
            department_hint="health",
        ),
        D,
        {},
    )
    assert (a.department, a.officer_id) == ("health", "hlt-head")


def test_the_village_is_read_from_the_citizens_words() -> None:
    assert village_from_text("ไฟดับ หมู่ที่ ๗ บ้านป่าข่า") == 7
    assert village_from_text("ถนนพัง ม.3") == 3
    assert village_from_text("ไฟดับ หมู่ 12") == 12
    assert village_from_text("ถนนพัง") is None


def _case(text: str, kind: str = "complaint") -> Case:
    return Case(
        case_id="SPT-2569-000009",
        org_id="sraphonthong",
        kind=kind,
        channel="web",
        text=text,
        received_at=NOW,
    )


def _rank(code: str) -> list[CategoryScore]:
    c = by_code(code)
    return [CategoryScore(c.code, c.label_th, c.label_en, 0.9)]


def test_a_transfer_keeps_the_history_and_reruns_the_policy() -> None:
    case = _case("ขยะกองหน้าบ้าน หมู่ 2")
    receive(case, _rank("road"), D, {}, NOW)
    assert (case.department, case.officer_id) == ("engineering", "eng-somchai")
    apply_command(case, Command("transfer", "eng-somchai", {"department": "health"}), NOW, D, {})
    assert (case.department, case.officer_id) == ("health", "hlt-officer")  # area officer, หมู่ 2
    assert case.status is Status.ASSIGNED and case.assignment_no == 2
    assert [(a.no, a.department, a.cause) for a in case.assignments] == [
        (1, "engineering", "receive"),
        (2, "health", "transfer"),
    ]
    assert [t.status for t in case.timeline][-2:] == ["transferred", "assigned"]


def test_a_change_of_category_reroutes() -> None:
    case = _case("ขอเบี้ยยังชีพ")
    receive(case, _rank("general"), D, {}, NOW)
    assert case.department == "office"
    apply_command(case, Command("recategorize", "desk", {"category": "welfare"}), NOW, D, {})
    assert (case.department, case.category, case.category_source) == (
        "welfare",
        "welfare",
        "officer",
    )
    assert case.assignment_no == 2


def test_a_corruption_report_cannot_be_transferred_to_a_division() -> None:
    case = _case("กองช่างทุจริต", kind="corruption_report")
    receive(case, _rank("corruption"), D, {}, NOW)
    with pytest.raises(InvalidTransition, match="corruption"):
        apply_command(case, Command("transfer", "palad", {"department": "engineering"}), NOW, D, {})
    assert case.officer_id == "palad"
