"""The heads', executives', planners' and operators' pages over routing on fakes."""

from __future__ import annotations

from datetime import timedelta

from tests.console.world import Browser, world
from tests.routing.unit.test_handlers import NOW

LATE = "SPT-2569-000010"
REPORT = "SPT-2569-000011"


async def _late_and_reported() -> object:
    w = world()
    # Received 20 days ago: its 15-day reply deadline passed, and the timers escalate it.
    await w.receive(LATE, location={"village_no": 5}, received_at=NOW - timedelta(days=20))
    await w.receive(REPORT, kind="corruption_report", text="เจ้าหน้าที่เรียกรับเงิน")
    await w.routing.handlers.fire_timers(100)
    return w


async def test_a_palad_sees_the_escalation_and_the_corruption_report() -> None:
    w = await _late_and_reported()
    browser = Browser(w)  # type: ignore[arg-type]
    await browser.sign_in("palad")
    page = await browser.get("/executive")
    assert page.status_code == 200, page.text
    escalations = page.text.split("<h2>เรื่องที่ถูกยกระดับ</h2>")[1].split("<h2>")[0]
    assert LATE in escalations and "ยกระดับ" in escalations
    reports = page.text.split("เรื่องแจ้งเบาะแสทุจริต")[1].split("<h2>")[0]
    assert REPORT in reports
    overdue = page.text.split("เรื่องเลยกำหนดรายส่วนราชการ")[1]
    assert "กองช่าง</a></td><td>1</td>" in overdue


async def test_a_head_sees_the_departments_workload_but_no_corruption_report() -> None:
    w = await _late_and_reported()
    browser = Browser(w)  # type: ignore[arg-type]
    await browser.sign_in("eng-head")
    page = await browser.get("/department")
    assert page.status_code == 200
    assert "<td>eng-anan</td><td>1</td><td>1</td>" in page.text
    assert LATE in page.text and REPORT not in page.text
    # The executives' page is not a head's.
    assert (await browser.get("/executive")).status_code == 403
    queue = await browser.get("/queue")
    assert REPORT not in queue.text


async def test_a_planner_lands_on_projects_and_an_officer_is_refused_there() -> None:
    w = world()
    planner = Browser(w)
    page = await planner.sign_in("planner")
    # No compliance service here: the page says so in Thai instead of failing.
    assert str(page.url).endswith("/projects")
    assert page.status_code == 503 and "ติดต่อระบบงานไม่ได้ชั่วคราว" in page.text
    officer = Browser(w)
    await officer.sign_in("eng-anan")
    assert (await officer.get("/projects")).status_code == 403
    assert (await officer.get("/operator")).status_code == 403
