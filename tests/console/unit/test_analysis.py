"""The analysis page over the real insight app (in process, on insight's own fakes), signed
in through routing's issuer: a head sees their department's figures and plan and changes
it, an officer of another department sees only their own, the ปลัด the whole SAO; insight's
refusals read as Thai; the live part is the figures again."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from services.console.analysis import (
    Scope,
    consultation_body,
    fiscal_quarter,
    in_department,
    month_th,
    number,
    quarter_end,
    quarter_months,
    report_links,
    scope_of,
)
from services.insight.bootstrap import InsightService, create_service
from services.insight.settings import InsightSettings
from shared.auth import Principal, TokenVerifier
from shared.clock import FixedClock
from shared.roles import Role
from tests.console.world import CONSOLE, ISSUER, Browser, World, world
from tests.insight.builders import life
from tests.insight.fakes import DIRECTORY, FakeCases, FakeConsultations, FakeFigures, FakePlans
from tests.routing.unit.test_handlers import NOW  # 2026-05-01: FY2569 Q3

# --------------------------------------------------------------------------- the view model


def who(role: Role, department: str | None = None) -> Principal:
    return Principal(
        subject=f"s-{role.value}",
        org_id="sraphonthong",
        roles=frozenset({role}),
        officer_id=f"o-{role.value}",
        department=department,
    )


def test_the_thai_fiscal_year_and_its_quarters() -> None:
    assert fiscal_quarter(date(2025, 10, 1)) == (2569, 1)
    assert fiscal_quarter(date(2025, 12, 31)) == (2569, 1)
    assert fiscal_quarter(date(2026, 1, 1)) == (2569, 2)
    assert fiscal_quarter(date(2026, 5, 1)) == (2569, 3)
    assert fiscal_quarter(date(2026, 9, 30)) == (2569, 4)
    assert quarter_months(2569, 1) == ["2025-10", "2025-11", "2025-12"]
    assert quarter_months(2569, 3) == ["2026-04", "2026-05", "2026-06"]
    assert month_th("2026-05") == "พ.ค. 2569"
    assert quarter_end(2569, 1) == "2025-12-31" and quarter_end(2568, 2) == "2025-03-31"


def test_numbers_are_text_and_a_missing_one_a_dash() -> None:
    assert number(None) == "–" and number(12) == "12" and number(1234) == "1,234"
    assert number(40.0, "%") == "40%" and number(2.5) == "2.5" and number(1.25) == "1.25"


def test_the_scope_is_the_roles() -> None:
    today = date(2026, 5, 1)
    asked = {"department": "health", "fy": "2568", "q": "2"}
    # a head (or an officer) sees their own department, whatever the address asks for
    assert scope_of(who(Role.HEAD, "engineering"), asked, today) == Scope(2568, 2, "engineering")
    assert scope_of(who(Role.OFFICER, "health"), {}, today) == Scope(2569, 3, "health")
    # an executive any department, or the whole SAO
    assert scope_of(who(Role.EXECUTIVE, "executive"), asked, today) == Scope(2568, 2, "health")
    assert scope_of(who(Role.EXECUTIVE), {"q": "9", "fy": "x"}, today) == Scope(2569, 3, None)


def test_a_departments_slices_and_its_reports() -> None:
    rows = [{"value": "engineering|road", "received": 3}, {"value": "health|waste", "received": 1}]
    assert in_department(rows, "engineering") == [
        {"value": "road", "received": 3, "department": "engineering"}
    ]
    links = report_links("https://site", Scope(2569, 3, "engineering"))
    assert links[0][1] == "https://site/ita/insight/2569/3?department=engineering"
    assert links[0][2] == "https://site/ita/insight/2569/3?department=engineering&format=pdf"
    assert links[1][1:] == (
        "https://site/ita/insight/2569/3",
        "https://site/ita/insight/2569/3?format=pdf",
    )


def test_a_consultation_has_counts_by_group_and_no_names() -> None:
    body = consultation_body(
        {
            "title": "ประชาคมหมู่ 4",
            "held_on": "2026-04-20",
            "participants_residents": "35",
            "participants_youth": "0",
            "participants_community_leaders": "x",
            "said": "ถนนพังซ้ำ\n\nน้ำท่วมขัง",
            "case_ids": "SPT-2569-000001, SPT-2569-000002",
            "village_no": "4",
        },
        Scope(2569, 3, "engineering"),
    )
    assert body["participants"] == {"residents": 35}
    assert body["said"] == ["ถนนพังซ้ำ", "น้ำท่วมขัง"]
    assert body["case_ids"] == ["SPT-2569-000001", "SPT-2569-000002"]
    assert body["department"] == "engineering" and body["village_no"] == 4


# --------------------------------------------------------------------------- the pages


def _insight(w: World) -> InsightService:
    built = create_service(
        InsightSettings(env="dev", oidc_issuer=ISSUER),
        cases=FakeCases(),
        figures=FakeFigures(),
        consultations=FakeConsultations(),
        plans=FakePlans(),
        directory=DIRECTORY,
        clock=FixedClock(NOW),
    )
    built.api.state.verifier = TokenVerifier(ISSUER, "ruam", http=w.client)
    w.ports.apps[8007] = httpx.ASGITransport(app=built.asgi)
    return built


async def _history(insight: InsightService) -> None:
    """April: four road cases of engineering, one reopened; one health case."""
    for n in range(4):
        for e in life(
            f"SPT-2569-00010{n}",
            received_at=datetime(2026, 4, 3 + n, 3, tzinfo=UTC),
            category="road",
            department="engineering",
            village_no=4,
            resolve_after=timedelta(days=2),
            cause="worn_surface",
            reopen=n == 0,
            likely_duplicate_of="SPT-2569-000100" if n else None,
        ):
            await insight.handlers.on_event(e)
    for e in life(
        "SPT-2569-000200",
        received_at=datetime(2026, 4, 10, 3, tzinfo=UTC),
        category="waste",
        department="health",
        village_no=2,
    ):
        await insight.handlers.on_event(e)


@pytest.fixture
async def setting() -> tuple[World, InsightService]:
    w = world()
    insight = _insight(w)
    await _history(insight)
    return w, insight


def cells(page: str) -> str:
    return re.sub(r"<[^>]+>", " ", page)


async def test_a_head_sees_the_departments_figures_and_changes_its_plan(
    setting: tuple[World, InsightService],
) -> None:
    w, _ = setting
    browser = Browser(w)
    await browser.sign_in("eng-head")
    page = await browser.get("/analysis")
    assert page.status_code == 200, page.text
    text = cells(page.text)
    assert "ไตรมาส 3 ปีงบประมาณ 2569" in text
    assert 'href="/analysis" aria-current="page"' in page.text  # its nav entry
    # April's road cases: 4 received, 1 of 4 resolved reopened (25%); health's not counted
    assert re.search(r"เม\.ย\. 2569\s+4\s", text), text
    assert "25%" in text and "ถนน" in text
    assert "/ita/insight/2569/3?department=engineering" in page.text
    assert 'data-poll="/analysis/updates?fy=2569&amp;q=3&amp;department=engineering"' in page.text
    # a finding, then an action answering it
    r = await browser.post(
        "/analysis/findings?fy=2569&q=3",
        {"csrf": browser.csrf(), "text": "ถนนหมู่ 4 ซ่อมแล้วพังซ้ำ", "source": "analysis"},
    )
    assert "บันทึกข้อค้นพบแล้ว" in r.text and "ถนนหมู่ 4 ซ่อมแล้วพังซ้ำ" in r.text
    finding = re.search(r'<option value="([^"]+)">ถนนหมู่ 4', r.text)
    assert finding is not None
    r = await browser.post(
        "/analysis/actions?fy=2569&q=3",
        {
            "csrf": browser.csrf(),
            "finding_id": finding.group(1),
            "text": "ตรวจรับงานซ่อมก่อนปิดเรื่อง",
            "owner": "eng-head",
            "due": "2026-06-30",
            "metric": "percent_reopened",
            "expected": "ต่ำกว่า 10%",
        },
    )
    assert "เพิ่มการปรับปรุงในแผนแล้ว" in r.text and "ตรวจรับงานซ่อมก่อนปิดเรื่อง" in r.text
    # the metric before (this quarter: 25%) beside the action
    assert re.search(r"ต่ำกว่า 10%\s+25\s", cells(r.text)), cells(r.text)
    # a consultation: counts by group, what was said
    r = await browser.post(
        "/analysis/consultations?fy=2569&q=3",
        {
            "csrf": browser.csrf(),
            "title": "ประชาคมหมู่ 4 เรื่องถนน",
            "held_on": "2026-04-20",
            "kind": "village_forum",
            "participants_residents": "35",
            "participants_community_leaders": "4",
            "said": "ถนนพังซ้ำทุกฤดูฝน",
        },
    )
    assert "บันทึกการรับฟังความคิดเห็นแล้ว" in r.text
    assert "ประชาคมหมู่ 4 เรื่องถนน" in r.text and "ผู้เข้าร่วม 39 คน" in r.text
    # and a follow-up of the action
    action = re.search(r'action="/analysis/actions/([^/]+)/followups', r.text)
    assert action is not None
    r = await browser.post(
        f"/analysis/actions/{action.group(1)}/followups?fy=2569&q=3",
        {"csrf": browser.csrf(), "note": "เริ่มตรวจรับทุกงาน", "status": "in_progress"},
    )
    assert "บันทึกการติดตามผลแล้ว" in r.text and "เริ่มตรวจรับทุกงาน" in r.text


async def test_an_officer_of_another_department_sees_only_their_own(
    setting: tuple[World, InsightService],
) -> None:
    w, _ = setting
    head = Browser(w)
    await head.sign_in("eng-head")
    await head.get("/analysis")
    await head.post(
        "/analysis/findings", {"csrf": head.csrf(), "text": "ถนนพังซ้ำ", "source": "analysis"}
    )
    officer = Browser(w)
    await officer.sign_in("hlt-officer")
    page = await officer.get("/analysis?department=engineering")
    assert page.status_code == 200
    assert "ถนนพังซ้ำ" not in page.text and "/ita/insight/2569/3?department=health" in page.text
    assert "department=engineering" not in page.text
    # an officer adds no finding: the form is not offered, and insight refuses it anyway
    assert 'action="/analysis/findings' not in page.text
    r = await officer.post(
        "/analysis/findings", {"csrf": officer.csrf(), "text": "x", "source": "analysis"}
    )
    assert r.status_code == 403 and "บัญชีของท่านไม่มีสิทธิ์ทำรายการนี้" in r.text


async def test_the_palad_sees_the_whole_sao_and_any_department(
    setting: tuple[World, InsightService],
) -> None:
    w, _ = setting
    browser = Browser(w)
    await browser.sign_in("palad")
    page = await browser.get("/analysis")
    text = cells(page.text)
    assert "อบต. ทั้งหมด" in text
    assert re.search(r"เม\.ย\. 2569\s+5\s", text), text  # both departments' cases
    assert "หมู่ 4" in text  # the villages' table: the SAO's only
    # the road cases twice among the hotspots: one village, and routing's duplicate links
    chain = re.search(r"เรื่องซ้ำของ\s+SPT-2569-000100\s*:\s*SPT-2569-000101", text)
    assert chain is not None, text
    assert 'href="/cases/SPT-2569-000103"' in page.text
    health = await browser.get("/analysis?department=health")
    assert "/ita/insight/2569/3?department=health" in health.text


async def test_a_closed_action_is_a_409_in_plain_thai_and_the_form_kept(
    setting: tuple[World, InsightService],
) -> None:
    w, _ = setting
    browser = Browser(w)
    await browser.sign_in("eng-head")
    await browser.get("/analysis")
    r = await browser.post(
        "/analysis/actions",
        {
            "csrf": browser.csrf(),
            "finding_id": "nope",
            "text": "ทำอะไรสักอย่าง",
            "owner": "eng-head",
            "due": "2026-06-30",
            "metric": "percent_reopened",
            "expected": "ลดลง",
        },
    )
    assert r.status_code == 422 and "ข้อมูลที่กรอกยังไม่ถูกต้องหรือไม่ครบ" in r.text
    assert "finding_id" in r.text


async def test_the_live_part_is_the_figures_again(setting: tuple[World, InsightService]) -> None:
    w, insight = setting
    browser = Browser(w)
    await browser.sign_in("eng-head")
    first = await browser.client.get(f"{CONSOLE}/analysis/updates?fy=2569&q=3")
    assert re.search(r"เม\.ย\. 2569\s+4\s", cells(first.text))
    for e in life(
        "SPT-2569-000300",
        received_at=datetime(2026, 4, 20, 3, tzinfo=UTC),
        category="road",
        department="engineering",
    ):
        await insight.handlers.on_event(e)
    again = await browser.client.get(f"{CONSOLE}/analysis/updates?fy=2569&q=3")
    assert re.search(r"เม\.ย\. 2569\s+5\s", cells(again.text)), cells(again.text)
    assert "<html" not in again.text  # a fragment for the live region


async def test_a_page_without_the_csrf_token_changes_nothing(
    setting: tuple[World, InsightService],
) -> None:
    w, insight = setting
    browser = Browser(w)
    await browser.sign_in("eng-head")
    r = await browser.post("/analysis/findings", {"text": "x"})
    assert r.status_code == 403 and "แบบฟอร์มนี้หมดอายุ" in r.text
    assert await insight.handlers.plans.find("sraphonthong", 2569) == []


async def test_insight_out_of_reach_is_a_thai_503() -> None:
    w = world()  # no insight listening
    browser = Browser(w)
    await browser.sign_in("eng-head")
    r = await browser.get("/analysis")
    assert r.status_code == 503 and "ติดต่อระบบงานไม่ได้ชั่วคราว" in r.text
