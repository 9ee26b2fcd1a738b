"""The analysis page in a real Chromium, over insight as a process fed by the stack's real
topics: the head of กองช่าง sees the department's figures, records a consultation and adds
a finding and an action with the keyboard, which then appear in the plan; an officer of
another department sees none of that plan; the ปลัด sees the whole SAO. Every screen:
axe-core without serious or critical violations, screenshots at 1280 and 390 px."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from services.console.analysis import fiscal_quarter
from shared.thai import to_bangkok
from tests.console.e2e.conftest import SCREENSHOTS, ConsoleServices
from tests.console.e2e.test_journeys import check, press, sign_in, sign_out, type_into
from tests.portal.e2e import browser as browser_module
from tests.portal.e2e.browser import Browser
from tests.portal.e2e.services import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def console_screenshots(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(browser_module, "SCREENSHOTS", SCREENSHOTS)
    yield


def unfold(browser: Browser, css: str) -> None:
    """A folded form opened from the keyboard: its summary focused, Enter pressed."""
    summary = browser.find(css)
    browser.js("arguments[0].focus()", summary)
    ActionChains(browser.driver).send_keys(Keys.ENTER).perform()
    assert browser.js("return arguments[0].parentElement.open", summary) is True


def test_a_head_studies_and_plans_others_see_what_their_role_may(
    services: ConsoleServices, browser: Browser
) -> None:
    fy, q = fiscal_quarter(to_bangkok(datetime.now(UTC)).date())
    # A street light reported in หมู่ 5: engineering's, counted by insight from the topics.
    case_id = services.submit(
        {
            "channel": "phone",
            "kind": "complaint",
            "text": "ไฟถนนดับหลายดวง หมู่ที่ 5",
            "location": {"village_no": 5},
            "channel_message_id": f"e2e-insight-{uuid.uuid4().hex[:8]}",
        },
        as_="desk",
    )
    assert services.assigned(case_id)["department"] == "engineering"

    def counted() -> bool:
        r = services.call(
            "GET",
            "insight",
            f"/v1/insight/quarters/{fy}/{q}",
            as_="eng-head",
            params={"department": "engineering"},
        )
        return int(r.json()["received"]) >= 1

    wait_for("insight counted the case", counted, timeout=90)

    # -- the head of กองช่าง --------------------------------------------------------------
    sign_in(browser, "eng-head")
    browser.open("/analysis")
    text = browser.text()
    assert "วิเคราะห์และปรับปรุง · กองช่าง" in text, text[:800]
    assert f"ไตรมาส {q} ปีงบประมาณ {fy}" in text
    assert browser.exists("nav a[href='/analysis'][aria-current='page']")
    assert browser.exists(f"a[href$='/ita/insight/{fy}/{q}?department=engineering']")
    assert browser.exists("section#figures[data-poll]")
    check(browser, "analysis-head")

    unfold(browser, "details:has(#save-consultation) summary")
    type_into(browser, "#c-title", "ประชาคมหมู่ 5 เรื่องไฟฟ้าสาธารณะ")
    type_into(browser, "#c-village", "5")
    type_into(browser, "#c-p-residents", "42")
    type_into(browser, "#c-p-community_leaders", "3")
    type_into(browser, "#c-said", "ไฟถนนดับบ่อยในฤดูฝน")
    press(browser, "#save-consultation")
    assert "บันทึกการรับฟังความคิดเห็นแล้ว" in browser.text(), browser.text()[:800]
    assert "ประชาคมหมู่ 5 เรื่องไฟฟ้าสาธารณะ" in browser.text()
    assert "ผู้เข้าร่วม 45 คน" in browser.text()

    unfold(browser, "details:has(#save-finding) summary")
    type_into(browser, "#n-text", "ไฟถนนหมู่ 5 ดับซ้ำหลังซ่อม")
    press(browser, "#save-finding")
    assert "บันทึกข้อค้นพบแล้ว" in browser.text(), browser.text()[:800]

    unfold(browser, "details:has(#save-action) summary")
    type_into(browser, "#x-text", "เปลี่ยนเป็นโคมไฟ LED ทั้งสาย")
    type_into(browser, "#x-expected", "เรื่องซ้ำลดลงครึ่งหนึ่ง")
    press(browser, "#save-action")
    shown = browser.text()
    assert "เพิ่มการปรับปรุงในแผนแล้ว" in shown, shown[:800]
    assert "เปลี่ยนเป็นโคมไฟ LED ทั้งสาย" in shown and "วางแผนแล้ว" in shown
    check(browser, "analysis-plan")
    focused, unseen = browser.unseen_focus(stops=80)
    assert focused >= 15 and unseen == [], unseen
    sign_out(browser)

    # -- an officer of กองสาธารณสุข: their own department only -----------------------------
    sign_in(browser, "hlt-officer")
    browser.open("/analysis?department=engineering")
    text = browser.text()
    assert "วิเคราะห์และปรับปรุง · กองสาธารณสุข" in text, text[:800]
    assert "เปลี่ยนเป็นโคมไฟ LED ทั้งสาย" not in text
    assert "ไฟถนนหมู่ 5 ดับซ้ำหลังซ่อม" not in text
    assert not browser.exists("#save-action") and not browser.exists("#save-finding")
    check(browser, "analysis-other-officer")
    sign_out(browser)

    # -- the ปลัด: the whole SAO, and any department ---------------------------------------
    sign_in(browser, "palad")
    browser.open("/analysis")
    text = browser.text()
    assert "วิเคราะห์และปรับปรุง · อบต. ทั้งหมด" in text
    assert "หมู่บ้านที่แจ้งเรื่องน้อย" in text and "ตามหมู่บ้าน" in text
    assert browser.exists("select#a-dept")
    assert "เปลี่ยนเป็นโคมไฟ LED ทั้งสาย" in text  # every department's plan of the quarter
    check(browser, "analysis-sao")
    sign_out(browser)
