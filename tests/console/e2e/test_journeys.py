"""The officers' day in a real Chromium, each step signed in as the role that does it:

a clerk takes a phone call and prints the receipt; the head sees it assigned; the officer
acknowledges and asks the citizen for information; the citizen answers on LINE (a signed
webhook) and the officer, with the keyboard alone, resolves with an after-photo; the survey
invitation goes out; an officer of another department sees none of it; the ปลัด sees the
escalation of an overdue case. Every screen: axe-core without serious or critical
violations, every control labelled, screenshots at 1280 and 390 px.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from services.intake.channels.line import signature
from services.intake.settings import DEMO_LINE_CHANNEL_SECRET
from tests.console.e2e.conftest import SCREENSHOTS, WIDTHS, ConsoleServices
from tests.intake.unit.helpers import line_body, line_event
from tests.portal.e2e import browser as browser_module
from tests.portal.e2e.browser import Browser, replaced
from tests.portal.e2e.services import wait_for

pytestmark = pytest.mark.e2e

CALLER_PHONE = "0917654321"


@pytest.fixture(autouse=True)
def console_screenshots(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The public site's browser writes its screenshots to its own folder; ours go here.
    monkeypatch.setattr(browser_module, "SCREENSHOTS", SCREENSHOTS)
    yield


def check(browser: Browser, name: str) -> None:
    """The screen as every screen must be, shot at both widths."""
    assert browser.lang() == "th"
    assert browser.unlabelled_controls() == [], browser.path
    for width in WIDTHS:
        browser.resize(width)
        browser.settle()
        bad = [v for v in browser.axe() if v.impact in ("serious", "critical")]
        assert not bad, f"{name} at {width}px: " + "; ".join(str(v) for v in bad)
        browser.screenshot(f"console-{name}")
    browser.resize(1280)


def type_into(browser: Browser, css: str, text: str) -> None:
    field = browser.find(css)
    field.clear()
    field.send_keys(text)


def press(browser: Browser, css: str) -> None:
    """A button pressed from the keyboard: focused by tabbing from the field before it is
    too slow to write, so it is focused by script and pressed with Enter, as a keyboard
    user does once there."""
    button = browser.find(css)
    browser.js("arguments[0].focus()", button)
    old = browser.find("html")
    # To whatever has the focus, as a keyboard does: no reference to a node the page
    # replaces while the key is being sent.
    ActionChains(browser.driver).send_keys(Keys.ENTER).perform()
    WebDriverWait(browser.driver, 60).until(replaced(old))
    browser.settle()


def sign_in(browser: Browser, username: str) -> None:
    browser.open("/auth/login")
    assert browser.path.startswith("/oidc/authorize"), browser.path
    check(browser, "sign-in")
    type_into(browser, "#username", username)
    password = browser.find("#password")
    password.send_keys("ruam-demo")
    old = browser.find("html")
    ActionChains(browser.driver).send_keys(Keys.ENTER).perform()
    WebDriverWait(browser.driver, 60).until(replaced(old))
    browser.settle()
    assert not browser.path.startswith("/oidc"), browser.text()[:500]


def sign_out(browser: Browser) -> None:
    press(browser, "form.signout button")
    assert browser.path == "/signed-out"


def case_of(services: ConsoleServices, case_id: str) -> dict[str, Any]:
    found = services.case(case_id)
    assert found is not None
    return found


def test_a_day_at_the_console(services: ConsoleServices, browser: Browser, tmp_path: Path) -> None:
    # -- the clerk takes a call ----------------------------------------------------------
    sign_in(browser, "desk")
    browser.open("/intake/phone")
    check(browser, "intake-phone")
    type_into(browser, "#caller_name", "นางบุญมี ทองคำ")
    type_into(browser, "#caller_number", CALLER_PHONE)
    type_into(browser, "#summary", "ไฟถนนหน้าวัดดับหลายดวง มืดมาก หมู่ที่ 5")
    type_into(browser, "#village_no", "5")
    browser.find("#wants_contact").send_keys(Keys.SPACE)
    press(browser, "form.intake button[type=submit]")
    assert browser.path.startswith("/receipt?case="), browser.text()[:500]
    call_case = browser.path.split("case=")[1]
    assert f"/track/{call_case}" in browser.text() and browser.exists("figure svg")
    assert CALLER_PHONE not in browser.source()
    check(browser, "receipt")
    sign_out(browser)

    officer = str(services.assigned(call_case)["officer"]["id"])
    department = str(case_of(services, call_case)["department"])

    # -- the officer is told on LINE (the Messaging API's push, to the fake LINE server) ----
    services.line.wait_for(lambda _: bool(services.pushed(officer, call_case)), timeout=60)
    told = services.pushed(officer, call_case)[0]
    assert f"{services.console}/cases/{call_case}" in told and "กำหนดตอบประชาชน" in told
    this_year = datetime.now(UTC).year + 543  # a Buddhist-Era date
    assert str(this_year) in told or str(this_year + 1) in told
    assert CALLER_PHONE not in told and "บุญมี" not in told

    # -- the head sees it assigned ---------------------------------------------------------
    head = {"engineering": "eng-head", "office": "office-head"}.get(department, "palad")
    sign_in(browser, head)
    browser.open("/queue")
    assert call_case in browser.text() and officer in browser.text()
    check(browser, "queue-head")
    browser.open("/department")
    assert officer in browser.text()
    check(browser, "department")
    sign_out(browser)

    # -- the officer acknowledges and asks the caller for information --------------------------
    sign_in(browser, officer)
    assert browser.path == "/queue" and call_case in browser.text()
    check(browser, "queue-officer")
    browser.open(f"/cases/{call_case}")
    check(browser, "case")
    press(browser, "form.action input[value=acknowledge] ~ button")
    assert "บันทึกแล้ว: รับเรื่อง" in browser.text()
    type_into(browser, "#request_info-question", "ขอทราบจุดที่ไฟดับว่าอยู่ใกล้เสาต้นใด")
    press(browser, "form.action input[value=request_info] ~ button")
    assert case_of(services, call_case)["status"] == "pending_citizen"
    sign_out(browser)

    # -- a LINE conversation: the citizen writes, is asked, answers on LINE ------------------------
    user = "U" + uuid.uuid4().hex
    line_case = post_line(services, user, "ท่อประปาแตก น้ำไหลนองถนน หมู่ที่ 5 หน้าโรงเรียน")
    # Intake answers on LINE with the case number and where to follow it.
    services.line.wait_for(lambda _: bool(services.pushed_to(user, line_case, "/track/")), 60)
    assert [r["to"] for r in services.line.replies].count(user) == 1  # as LINE's free reply
    line_officer = str(services.assigned(line_case)["officer"]["id"])
    sign_in(browser, line_officer)
    browser.open(f"/cases/{line_case}")
    type_into(browser, "#request_info-question", "ขอภาพถ่ายจุดที่ท่อแตก")
    press(browser, "form.action input[value=request_info] ~ button")
    # The officer's question reaches the citizen on LINE; their answer there joins the case.
    services.line.wait_for(lambda _: bool(services.pushed_to(user, "ขอภาพถ่ายจุดที่ท่อแตก")), 60)
    # ...in words, and in a voice message, as many do on LINE.
    voice = uuid.uuid4().hex[:16]
    services.line.contents[voice] = (
        b"\x00\x00\x00\x1cftypM4A \x00\x00\x00\x00 speech",
        "audio/x-m4a",
    )
    post_line(services, user, "ท่อแตกตรงข้ามประตูโรงเรียน ใกล้เสาไฟต้นที่สาม", voice=voice)

    def answered() -> bool:
        return bool(case_of(services, line_case)["status"] == "in_progress")

    wait_for("the citizen's LINE answer on the case", answered, timeout=60)
    # ...and the citizen is told on LINE that it arrived.
    services.line.wait_for(
        lambda _: bool(services.pushed_to(user, line_case, "ได้รับข้อมูลเพิ่มเติม")), 60
    )
    browser.open(f"/cases/{line_case}")
    assert "ประชาชนตอบกลับ" in browser.text() and "ใกล้เสาไฟต้นที่สาม" in browser.text()
    # The voice message plays in the page, from intake's copy (made by its own consumer),
    # through the console with the officer's token.
    heard = "return fetch(arguments[0]).then(r => r.status + ' ' + r.headers.get('content-type'))"
    browser.reload_until(
        "the voice message copied from LINE",
        lambda: (
            browser.js(heard, browser.find("audio[controls]").get_attribute("src"))
            == "200 audio/mp4"
        ),
    )
    assert browser.find("audio[controls]").get_attribute("aria-labelledby")
    check(browser, "case-line-voice")

    # -- resolved with an after-photo, keyboard only -----------------------------------------
    photo = tmp_path / "after.jpg"
    Image.new("RGB", (320, 240), (30, 120, 200)).save(photo, format="JPEG")
    type_into(browser, "#resolve-resolution", "ซ่อมท่อประปาและเปิดน้ำแล้ว")
    # The root cause (measure 3): one of the case's category's causes, and a note.
    causes = Select(browser.find("#resolve-cause"))
    cause = next(o for o in causes.options if o.get_attribute("value"))
    cause_code, cause_label = str(cause.get_attribute("value")), cause.text.strip()
    causes.select_by_value(cause_code)
    type_into(browser, "#resolve-cause_note", "ท่อเดิมใช้งานมากว่ายี่สิบปี")
    browser.find("#resolve-photo").send_keys(str(photo))
    press(browser, "form.action input[value=resolve] ~ button")
    assert "บันทึกแล้ว: แจ้งผลการแก้ไข" in browser.text()
    assert browser.exists("img.photo")
    assert cause_label in browser.find("#cause").text
    assert "ท่อเดิมใช้งานมากว่ายี่สิบปี" in browser.text()
    resolved = case_of(services, line_case)
    assert resolved["status"] == "resolved" and resolved["cause"] == cause_code
    assert str(resolved["after_photo_ref"]).startswith("console-photo:")

    # -- the citizen's survey goes out, is answered on the public site, and arrives ---------------
    token = services.survey_token(line_case)
    # On LINE: what was done, then the survey's link.
    services.line.wait_for(
        lambda _: bool(services.pushed_to(user, line_case, "ซ่อมท่อประปาและเปิดน้ำแล้ว")), 60
    )
    services.line.wait_for(lambda _: bool(services.pushed_to(user, f"/survey/{token}")), 60)
    browser.reload_until(
        "the survey invitation on the case", lambda: "ส่งแล้ว รอคำตอบ" in browser.text()
    )
    answer_survey(browser, f"{services.portal}/survey/{token}")
    browser.open(f"/cases/{line_case}")
    browser.reload_until("the survey answered on the case", lambda: "ตอบแล้ว" in browser.text())
    check(browser, "case-resolved")
    sign_out(browser)

    # -- an officer of another department sees none of it -------------------------------------
    sign_in(browser, "fin-head")
    browser.open("/queue")
    assert call_case not in browser.text() and line_case not in browser.text()
    browser.open(f"/cases/{call_case}")
    assert "ไม่มีสิทธิ์" in browser.text() and "ไฟถนนหน้าวัด" not in browser.text()
    check(browser, "refused")
    sign_out(browser)


def answer_survey(browser: Browser, url: str) -> None:
    """The citizen, on the public site: satisfied, and says it was fixed."""
    browser.open(url)
    form = browser.find("form")
    groups: dict[str, list[Any]] = {}
    for radio in form.find_elements(By.CSS_SELECTOR, "input[type='radio']"):
        groups.setdefault(radio.get_attribute("name") or "", []).append(radio)
    assert groups, browser.text()[:1500]
    for radios in groups.values():
        values = [r.get_attribute("value") or "" for r in radios]
        pick = "yes" if "yes" in values else max(values, key=lambda v: int(v) if v.isdigit() else 0)
        browser.js("arguments[0].click()", radios[values.index(pick)])
    for select in form.find_elements(By.TAG_NAME, "select"):
        Select(select).select_by_index(len(Select(select).options) - 1)
    browser.click_and_wait(form.find_element(By.CSS_SELECTOR, "button[type='submit']"))
    assert "ขอบคุณ" in browser.text(), browser.text()[:1500]


def post_line(services: ConsoleServices, user: str, text: str, voice: str | None = None) -> str:
    """The citizen's message on LINE, and after it, in the same delivery, the voice message
    `voice` names (LINE's message id) if given; the case they are on."""
    # With a reply token LINE would take: intake's answer to it goes as the free reply.
    token = services.line.issue(user)
    now = datetime.now(UTC)
    events = [line_event(uuid.uuid4().hex, user=user, at=now, text=text, reply_token=token)]
    if voice is not None:
        events.append(line_event(uuid.uuid4().hex, user=user, at=now, image=voice, sent="audio"))
    body = line_body(*events)
    r = httpx.post(
        services.url("intake", "/channels/line/webhook"),
        content=body,
        headers={
            "X-Line-Signature": signature(DEMO_LINE_CHANNEL_SECRET, body),
            "Content-Type": "application/json",
        },
        timeout=30,
    )
    assert r.status_code == 200, r.text
    cases = {str(outcome["case_id"]) for outcome in r.json()["events"]}
    assert len(cases) == 1, r.text
    return cases.pop()


def test_the_palad_sees_the_escalation_of_an_overdue_case(
    services: ConsoleServices, browser: Browser
) -> None:
    # A call taken three weeks ago and never answered: its reply deadline has passed.
    received = datetime.now(UTC) - timedelta(days=21)
    r = services.call(
        "POST",
        "intake",
        "/v1/channels/phone",
        as_="desk",
        json={
            "call_time": received.isoformat(),
            "summary": "ถนนลูกรังหมู่ที่ 5 เป็นหลุมลึก รถติดหล่ม",
            "officer_id": "desk",
        },
    )
    late = str(r.json()["case_id"])

    def escalated() -> bool:
        return int(case_of(services, late).get("escalation_level") or 0) >= 1

    wait_for("the overdue case escalated", escalated, timeout=90)
    # Whom it was escalated to is told on LINE.
    to = str(case_of(services, late)["escalations"][0]["to_officer_id"])
    services.line.wait_for(lambda _: bool(services.pushed(to, late, "ยกระดับ")), timeout=60)
    sign_in(browser, "palad")
    browser.open("/executive")
    section = browser.text().split("เรื่องที่ถูกยกระดับ")[-1].split("เรื่องแจ้งเบาะแสทุจริต")[0]
    assert late in section and "ยกระดับ" in section
    check(browser, "executive")
    sign_out(browser)


def test_the_actions_are_reachable_with_the_keyboard_and_show_their_focus(
    services: ConsoleServices, browser: Browser
) -> None:
    case_id = services.submit(
        {
            "channel": "phone",
            "kind": "complaint",
            "text": "ขยะไม่ได้เก็บมาหนึ่งสัปดาห์ หมู่ที่ 3",
            "channel_message_id": f"e2e-kbd-{uuid.uuid4().hex[:8]}",
        },
        as_="desk",
    )
    case = services.assigned(case_id)
    sign_in(browser, str(case["officer"]["id"]))
    browser.open(f"/cases/{case_id}")
    focused, unseen = browser.unseen_focus(stops=60)
    assert focused >= 10 and unseen == [], unseen
    # Every action's button is in the tab order (no tabindex below zero, none disabled).
    buttons = browser.find_all("form.action button")
    assert buttons and all(
        b.get_attribute("tabindex") in (None, "0") and b.is_enabled() for b in buttons
    )
    # A note, by keys alone: type, Tab to the button, Enter.
    note = browser.find("#note-note")
    note.send_keys("โทรนัดรถเก็บขยะแล้ว")
    old = browser.find("html")
    note.send_keys(Keys.TAB)
    focused = browser.js("return document.activeElement.textContent.trim()")
    assert focused == "บันทึกความคืบหน้า", focused
    ActionChains(browser.driver).send_keys(Keys.ENTER).perform()
    WebDriverWait(browser.driver, 60).until(replaced(old))
    browser.settle()
    assert "บันทึกแล้ว: บันทึกความคืบหน้า" in browser.text()
    assert "โทรนัดรถเก็บขยะแล้ว" in browser.text()
    sign_out(browser)


def test_every_other_screen_is_accessible_at_both_widths(
    services: ConsoleServices, browser: Browser
) -> None:
    sign_in(browser, "desk")
    for path, name in (
        ("/intake", "intake-menu"),
        ("/intake/walk-in", "intake-walk-in"),
        ("/intake/letter", "intake-letter"),
        ("/intake/box", "intake-box"),
        ("/intake/meeting", "intake-meeting"),
        ("/me", "me"),
    ):
        browser.open(path)
        check(browser, name)
    # A suggestion box opened: the slip form with its running count.
    browser.open("/intake/box")
    type_into(browser, "#box_id", f"box-{uuid.uuid4().hex[:6]}")
    type_into(browser, "#location", "หน้าที่ทำการ อบต.")
    type_into(browser, "#committee", "นายก, ปลัด")
    press(browser, "form.intake button[type=submit]")
    assert "บันทึกแล้ว 0 ใบ" in browser.text()
    check(browser, "intake-box-slips")
    sign_out(browser)
    for user, path, name in (
        ("planner", "/projects", "projects"),
        ("operator", "/operator", "operator"),
    ):
        sign_in(browser, user)
        browser.open(path)
        check(browser, name)
        sign_out(browser)
    browser.open("/signed-out")
    check(browser, "signed-out")


def test_a_web_photo_a_map_and_a_letter_scan_on_the_case_page(
    services: ConsoleServices, browser: Browser, tmp_path: Path
) -> None:
    # -- a citizen reports on the public site, with a photo and a place -------------------
    web_case = send_report(browser, services, tmp_path / "photo.jpg")
    owner = str(services.assigned(web_case)["officer"]["id"])
    sign_in(browser, owner)
    browser.open(f"/cases/{web_case}")
    # The photo: a thumbnail with Thai alt text, loaded through the console (the public
    # site's photo with the officer's own token).
    thumb = browser.find("img.thumb")
    assert "รูปภาพที่ผู้แจ้งส่งมา" in (thumb.get_attribute("alt") or "")
    browser.reload_until(
        "the citizen's photo loaded",
        lambda: bool(browser.js("return document.querySelector('img.thumb').naturalWidth > 0")),
    )
    # The map (Leaflet, tiles off in the tests), with the coordinates and geo: link as text.
    assert browser.exists("#map") and browser.exists("a[href^='geo:']")
    browser.reload_until(
        "the map drawn", lambda: browser.exists("#map[data-ready='true'] .leaflet-interactive")
    )
    check(browser, "case-photo-map")
    # The photo's link, the map's controls and the new fields show the keyboard's focus.
    focused, unseen = browser.unseen_focus(stops=80)
    assert focused >= 15 and unseen == [], unseen
    sign_out(browser)

    # -- the clerk takes in a letter with its scan -----------------------------------------
    scan = tmp_path / "letter.png"
    Image.new("RGB", (600, 800), (250, 250, 245)).save(scan, format="PNG")
    sign_in(browser, "desk")
    browser.open("/intake/letter")
    type_into(browser, "#registration_no", f"สพท {uuid.uuid4().hex[:4]}/2569")
    type_into(browser, "#text", "ขอให้ซ่อมไฟถนนหมู่ที่ 5 ที่ดับหลายดวง")
    browser.find("#scan").send_keys(str(scan))
    press(browser, "form.intake button[type=submit]")
    assert browser.path.startswith("/receipt?case="), browser.text()[:500]
    letter_case = browser.path.split("case=")[1]
    sign_out(browser)
    refs = [a["ref"] for a in case_of(services, letter_case)["attachments"]]
    assert len(refs) == 1 and refs[0].startswith("console-scan:")

    # -- whoever may see the case sees the scan ----------------------------------------------
    sign_in(browser, "palad")
    browser.open(f"/cases/{letter_case}")
    link = browser.find(f"a[href='/cases/{letter_case}/attachments/0']")
    assert "ไฟล์สแกนหนังสือ" in link.text
    fetched = browser.js(
        "return fetch(arguments[0]).then(r => r.status + ' ' + r.headers.get('content-type'))",
        link.get_attribute("href"),
    )
    assert fetched == "200 image/jpeg", fetched  # re-encoded from its pixels

    # The look is on the audit trail (the console's producer, compliance's store): who,
    # which case, which file.
    def looked() -> list[dict[str, Any]]:
        r = services.call(
            "GET",
            "compliance",
            "/v1/audit",
            as_="auditor",
            params={"action": "file.read", "target": f"case:{letter_case}"},
        )
        return list(r.json()["items"])

    wait_for("the look at the scan audited", lambda: bool(looked()), timeout=60)
    (record,) = looked()
    assert record["service"] == "console" and record["officer_id"] == "palad"
    assert record["detail"] == f"attachment 1 (scan) {refs[0]}"
    check(browser, "case-letter-scan")
    sign_out(browser)


def send_report(browser: Browser, services: ConsoleServices, photo: Path) -> str:
    """The public site's web form, as a citizen fills it in: a place and a photo."""
    from tests.portal.e2e.test_journeys import (
        CASE_NUMBER,
        answer_of,
        field,
        fill,
        photo_with_metadata,
    )

    browser.open(f"{services.portal}/report")
    fill(browser, "text", "กิ่งไม้ใหญ่หักขวางถนนหมู่ที่ 4 รถผ่านไม่ได้")
    fill(browser, "village", "4")
    fill(browser, "lat", "15.1532")
    fill(browser, "lon", "103.0421")
    field(browser, "photo").send_keys(str(photo_with_metadata(photo)))
    fill(browser, "human_answer", answer_of(browser.find("label[for='human_answer']").text))
    browser.click_and_wait(browser.find("form button[type='submit']"))
    shown = CASE_NUMBER.search(browser.text())
    assert shown, f"no case number after sending the form:\n{browser.text()[:1500]}"
    return shown.group(0)
