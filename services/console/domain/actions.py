"""Which actions a case offers the person looking at it, and the deadline each one affects.

The states each action starts from are routing's own table (`TRANSITIONS`, pure domain), so
the console never offers what routing would refuse with a 409 for the state; whether this
person may act at all follows routing's rule (`refusal_to_act`), restated on the case as
the API shows it. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.routing.domain.lifecycle import TRANSITIONS
from shared.auth import Principal
from shared.roles import Role


@dataclass(frozen=True)
class Action:
    name: str  # routing's action
    label: str  # the button, Thai
    fields: tuple[str, ...]  # the form's fields (params of the action)
    required: tuple[str, ...]


# In the order an officer meets them.
ACTIONS = (
    Action("acknowledge", "รับเรื่อง", (), ()),
    Action("start", "เริ่มดำเนินการ", ("note",), ()),
    Action("request_info", "ขอข้อมูลเพิ่มเติมจากประชาชน", ("question",), ("question",)),
    Action("note", "บันทึกความคืบหน้า", ("note",), ("note",)),
    Action("transfer", "โอนเรื่องไปส่วนราชการอื่น", ("department", "reason"), ("department", "reason")),
    Action("reassign", "มอบหมายให้เจ้าหน้าที่คนอื่น", ("to_officer", "reason"), ("to_officer",)),
    # The cause (measure 3): a code of the category's list, and a note; both optional.
    Action(
        "resolve", "แจ้งผลการแก้ไข", ("resolution", "cause", "cause_note", "photo"), ("resolution",)
    ),
    Action("close", "ปิดเรื่อง", ("note",), ()),
    Action("reopen", "เปิดเรื่องใหม่", ("reason",), ("reason",)),
)
BY_NAME = {a.name: a for a in ACTIONS}
MERGE = "mark_duplicate"


def may_act(who: Principal, case: Mapping[str, Any]) -> bool:
    """Routing's `refusal_to_act` on the case as shown: executives on everything, a head on
    the department's cases, an officer on the cases assigned to them; a whistle-blower's
    report only the executives (the others never see one)."""
    if who.has(Role.EXECUTIVE):
        return True
    if case.get("kind") == "corruption_report" or case.get("accused_department"):
        return False
    if who.has(Role.HEAD) and who.department and who.department == case.get("department"):
        return True
    officer = case.get("officer") or {}
    return (
        who.has(Role.OFFICER, Role.HEAD)
        and who.officer_id is not None
        and officer.get("id") == who.officer_id
    )


def allowed(who: Principal, case: Mapping[str, Any]) -> list[Action]:
    """The actions of `ACTIONS` this person may take on the case in its current state."""
    if not may_act(who, case):
        return []
    status = str(case.get("status"))
    # Reassigning is the head's decision (or an executive's), as routing holds it.
    heads = who.has(Role.HEAD, Role.EXECUTIVE)
    return [
        a
        for a in ACTIONS
        if status in {s.value for s in TRANSITIONS[a.name][0]} and (a.name != "reassign" or heads)
    ]


def may_merge(who: Principal, case: Mapping[str, Any]) -> bool:
    status = str(case.get("status"))
    return may_act(who, case) and status in {s.value for s in TRANSITIONS[MERGE][0]}


def deadline_effect(action: str, case: Mapping[str, Any], when: Any) -> str:
    """What the action does to the case's deadlines, in Thai; `when` formats a moment."""
    respond = case.get("respond_due_at")
    ack = case.get("acknowledge_due_at")
    if action == "acknowledge":
        return f"ตอบรับเรื่องตามกำหนด {when(ack)} · กำหนดตอบประชาชน {when(respond)} ยังคงเดิม"
    if action == "start":
        return f"กำหนดตอบประชาชน {when(respond)} ยังคงเดิม"
    if action == "request_info":
        return f"หยุดนับกำหนดตอบ ({when(respond)}) ระหว่างรอประชาชนตอบกลับ แล้วเลื่อนออกตามเวลาที่รอ"
    if action == "note":
        return "ไม่เปลี่ยนกำหนดเวลา"
    if action == "transfer":
        return f"ส่วนราชการใหม่รับช่วงต่อ กำหนดตอบประชาชน {when(respond)} ยังคงเดิม"
    if action == "reassign":
        return f"เจ้าหน้าที่ใหม่ต้องรับเรื่องอีกครั้ง กำหนดตอบประชาชน {when(respond)} ยังคงเดิม"
    if action == "resolve":
        return f"ปิดกำหนดตอบประชาชน {when(respond)} และส่งแบบสอบถามความพึงพอใจ"
    if action == "close":
        return "ไม่มีกำหนดเวลาหลังปิดเรื่อง"
    if action == "reopen":
        return "เริ่มนับกำหนดตอบรับและกำหนดตอบประชาชนใหม่ตั้งแต่วันนี้"
    if action == MERGE:
        return "เรื่องนี้ไม่มีกำหนดเวลาอีก ติดตามผลที่เรื่องต้นฉบับ"
    return ""
