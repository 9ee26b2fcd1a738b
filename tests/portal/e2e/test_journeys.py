"""What a citizen does on the portal, in a real headless Chromium, against the five services
on the real stack (issue 13's acceptance):

- reports a problem on the web form, then finds the case on the tracker once routing has
  given it an owner;
- answers the survey that the resolution of a case sent;
- opens a project of more than 10,000,000 baht and sees the participation it owes.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.select import Select

from shared.thai import thai_digits_to_arabic
from tests.portal.e2e.browser import Browser
from tests.portal.e2e.conftest import (
    NAMED_IN_TEXT,
    NATIONAL_ID,
    PHONE_IN_TEXT,
    REPORTER,
    REPORTER_EMAIL,
    REPORTER_PHONE,
    Scenario,
)
from tests.portal.e2e.services import Services, wait_for

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[3]
CASE_NUMBER = re.compile(r"SPT-\d{4}-\d{6}")
PHOTOGRAPHER = "Pimlada Thongprasert"
FORM_TEXT = (
    f"กิ่งไม้ใหญ่หักขวางถนนหน้าบ้าน{NAMED_IN_TEXT} รถผ่านไม่ได้ โทร {PHONE_IN_TEXT} เลขบัตร {NATIONAL_ID}"
)


def portal_names() -> dict[str, Any]:
    """The organisation's names as the portal shows them (its shipped configuration)."""
    loaded: dict[str, Any] = yaml.safe_load(
        (REPO / "services/portal/config/sraphonthong.yaml").read_text(encoding="utf-8")
    )
    return loaded


def labels() -> Any:
    from services.portal.domain import texts

    return texts


def answer_of(question: str) -> str:
    """The human check's sum ("๓ บวก ๔", "3 + 4"), worked out as a person would."""
    plain = thai_digits_to_arabic(question)
    numbers = [int(n) for n in re.findall(r"\d+", plain)]
    assert len(numbers) == 2, f"not a sum of two numbers: {question!r}"
    if re.search(r"ลบ|-|−", plain):
        return str(numbers[0] - numbers[1])
    if re.search(r"คูณ|×|\*", plain):
        return str(numbers[0] * numbers[1])
    return str(numbers[0] + numbers[1])


def photo_with_metadata(path: Path) -> Path:
    """A JPEG whose EXIF has a place (GPS) and a person (Artist), as a phone's would."""
    image = Image.new("RGB", (640, 480), (90, 140, 60))
    exif = Image.Exif()
    exif[0x013B] = PHOTOGRAPHER  # Artist (EXIF text is ASCII)
    gps = {1: "N", 2: (15.0, 9.0, 11.5), 3: "E", 4: (103.0, 2.0, 31.6)}
    exif[0x8825] = gps  # GPSInfo
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    path.write_bytes(out.getvalue())
    return path


def field(browser: Browser, name: str) -> WebElement:
    return browser.find(f"form [name='{name}']")


def fill(browser: Browser, name: str, value: str) -> None:
    element = field(browser, name)
    if element.tag_name == "select":
        choice = Select(element)
        options = [o.get_attribute("value") or "" for o in choice.options]
        choice.select_by_value(value if value in options else next(o for o in options if o))
        return
    element.clear()
    element.send_keys(value)


def send_report(browser: Browser, photo: Path, *, typed_location: bool = True) -> str:
    """Fill in /report as a citizen would, send it, and read the case number shown.
    Without a typed location, the place is the one in the photo's EXIF."""
    browser.open("/report")
    fill(browser, "text", FORM_TEXT)
    fill(browser, "category", "")  # optional: left to the SAO
    fill(browser, "village", "4")
    if typed_location:
        fill(browser, "lat", "15.1532")
        fill(browser, "lon", "103.0421")
    field(browser, "photo").send_keys(str(photo_with_metadata(photo)))
    contact = {"contact_name": str(REPORTER), "contact_phone": REPORTER_PHONE,
               "contact_email": REPORTER_EMAIL}  # fmt: skip
    for name, value in contact.items():
        fill(browser, name, value)
    consent = field(browser, "consent")
    if not consent.is_selected():
        consent.click()
    question = browser.find("label[for='human_answer']").text
    fill(browser, "human_answer", answer_of(question))
    browser.click_and_wait(browser.find("form button[type='submit']"))
    shown = CASE_NUMBER.search(browser.text())
    assert shown, f"no case number after sending the form:\n{browser.text()[:1500]}"
    return shown.group(0)


def shows_assigned(browser: Browser, services: Services, case_id: str) -> None:
    """The tracker, reloaded until it shows the case with the owner routing gave it; and
    the matter in its redacted words."""
    department = services.assigned(case_id)["department"]
    assigned = labels().label("status", "assigned")
    owner = portal_names()["departments"][department][0]

    def shows_its_owner() -> bool:
        text = browser.text()
        return case_id in text and owner in text and assigned in text

    browser.reload_until(f"{case_id} assigned to {owner}", shows_its_owner)
    text = browser.text()
    for personal in (str(NAMED_IN_TEXT), PHONE_IN_TEXT, NATIONAL_ID, str(REPORTER)):
        assert personal not in text
    assert "กิ่งไม้ใหญ่หักขวางถนน" in text


def test_a_report_on_the_web_form_is_found_on_the_tracker(
    browser: Browser, services: Services, tmp_path: Path
) -> None:
    browser.resize(360)
    case_id = send_report(browser, tmp_path / "photo.jpg")
    browser.click_and_wait(browser.find(f"a[href$='/track/{case_id}']"))
    assert browser.path == f"/track/{case_id}"
    shows_assigned(browser, services, case_id)
    browser.screenshot("journey-tracked")


def test_without_javascript_a_report_is_sent_and_found_by_its_number(
    browser: Browser, services: Services, tmp_path: Path
) -> None:
    """Every page but the map works without JavaScript (issue 13): the form is sent, its
    place read from the photo, and the case found by typing its number on /track."""
    browser.resize(1280)
    with browser.without_javascript():
        case_id = send_report(browser, tmp_path / "photo.jpg", typed_location=False)
        assert "พิกัดในรูปภาพ" in browser.text(), browser.text()[:1500]
        browser.open("/track")
        fill(browser, "case", case_id)
        browser.click_and_wait(browser.find("form button[type='submit']"))
        shows_assigned(browser, services, case_id)
        assert case_id in browser.path, browser.path
        browser.screenshot("journey-no-javascript")
    # What the portal kept of the photo, as an executive sees it: no metadata left, neither
    # the place nor the name the phone wrote in (the place went into the case instead).
    from services.portal.adapters.images import clean

    sent = (tmp_path / "photo.jpg").read_bytes()
    kept = services.call("GET", "portal", f"/v1/photos/{clean(sent).photo_id}", as_="palad")
    assert kept.headers["content-type"] == "image/jpeg"
    assert not Image.open(io.BytesIO(kept.content)).getexif()
    assert PHOTOGRAPHER.encode() in sent and PHOTOGRAPHER.encode() not in kept.content


def test_an_unknown_case_number_gets_a_thai_message_not_an_error_page(browser: Browser) -> None:
    browser.open("/track/SPT-2569-999999", 1280)
    text = browser.text()
    assert "SPT-2569-999999" in text
    assert re.search(r"[ก-๙]{4,}", text), text[:500]
    assert "Traceback" not in text and "Internal Server Error" not in text


def test_the_survey_of_a_resolved_case_is_answered(
    browser: Browser, services: Services, scenario: Scenario
) -> None:
    browser.open(f"/survey/{scenario.survey_token}", 360)
    form = browser.find("form")
    groups: dict[str, list[WebElement]] = {}
    for radio in form.find_elements(By.CSS_SELECTOR, "input[type='radio']"):
        groups.setdefault(radio.get_attribute("name") or "", []).append(radio)
    assert groups, f"no questions on the survey page:\n{browser.text()[:1500]}"
    for name, radios in groups.items():
        # A satisfied citizen: the highest score; "fixed": yes.
        values = [r.get_attribute("value") or "" for r in radios]
        pick = "yes" if "yes" in values else max(values, key=lambda v: int(v) if v.isdigit() else 0)
        radio = radios[values.index(pick)]
        browser.js("arguments[0].scrollIntoView({block: 'center'})", radio)
        browser.js("arguments[0].click()", radio)
        assert radio.is_selected(), name
    for select in form.find_elements(By.TAG_NAME, "select"):
        Select(select).select_by_index(len(Select(select).options) - 1)
    for comment in form.find_elements(By.TAG_NAME, "textarea"):
        comment.send_keys("ขอบคุณเจ้าหน้าที่ที่มาแก้ไขให้รวดเร็ว")
    browser.click_and_wait(form.find_element(By.CSS_SELECTOR, "button[type='submit']"))

    def answered() -> dict[str, Any] | None:
        r = services.call("GET", "survey", "/v1/surveys", as_="palad",
                          params={"case_id": scenario.survey_case})  # fmt: skip
        items = r.json().get("items", [])
        return items[0] if items and items[0].get("status") == "answered" else None

    wait_for(f"the survey of {scenario.survey_case} answered", answered, timeout=30)
    assert "ขอบคุณ" in browser.text(), browser.text()[:1500]
    browser.screenshot("journey-survey-answered")
    # The same link again: answered already (409), said in plain Thai, not an error page.
    browser.open(f"/survey/{scenario.survey_token}", 360)
    assert "Traceback" not in browser.text()
    assert re.search(r"ตอบ.*แล้ว", browser.text()), browser.text()[:1500]


def test_a_project_over_ten_million_baht_shows_its_participation_requirements(
    browser: Browser, services: Services, scenario: Scenario
) -> None:
    project = services.call("GET", "compliance", f"/v1/projects/{scenario.project_id}").json()
    kinds = {r["kind"] for r in project["requirements"]}
    assert kinds, f"compliance raised no requirement for a 25 M baht project: {project}"

    browser.open("/projects", 1280)
    browser.reload_until(scenario.project_id, lambda: browser.exists(
        f"a[href$='/projects/{scenario.project_id}']"))  # fmt: skip
    browser.click_and_wait(browser.find(f"a[href$='/projects/{scenario.project_id}']"))
    assert browser.path == f"/projects/{scenario.project_id}"
    text = browser.text()
    assert "25,000,000" in text
    texts = labels()
    # Each requirement by its Thai name, never by its code (compliance's kinds of
    # requirement are not all kinds of participation: inspection_committee_participation).
    untranslated = sorted(kind for kind in kinds if kind in text)
    assert not untranslated, f"requirements shown by their code: {untranslated}"
    for kind in kinds:
        assert texts.label("requirement", kind) in text, f"requirement {kind} not shown"
    assert texts.label("requirement_status", "open") in text
    browser.screenshot("journey-project")


def test_a_resolved_case_shows_its_timeline_deadlines_kept_resolution_and_qr_code(
    browser: Browser, services: Services, scenario: Scenario
) -> None:
    """The tracker of a case its officer resolved: every step with its date, both legal
    deadlines kept, what was done, and a QR code of the page's own link."""
    case_id = scenario.visited_case
    texts = labels()
    browser.open(f"/track/{case_id}", 1280)
    resolved = texts.label("status", "resolved")
    browser.reload_until(f"{case_id} resolved", lambda: resolved in browser.text())
    text = browser.text()
    steps = [li.text for li in browser.find_all("ol.timeline li, .timeline li")]
    for status in ("received", "assigned", "acknowledged", "in_progress", "resolved"):
        name = texts.label("status", status)
        assert any(name in step for step in steps), f"{status} not in the timeline: {steps}"
    assert all(re.search(r"\d{4}", step) for step in steps), steps  # each with its date
    kept = texts.label("deadline_state", "met")
    assert text.count(kept) >= 2, f"both deadlines kept, said {text.count(kept)} times"
    assert "ลอกท่อระบายน้ำ" in text  # the resolution, as the officer wrote it
    qr = browser.find("figure svg")
    assert case_id in (qr.get_attribute("innerHTML") or "")  # its title names the case
    browser.screenshot("journey-resolved")


def test_the_public_list_filters_without_javascript_and_downloads_what_it_shows(
    browser: Browser, services: Services, scenario: Scenario
) -> None:
    """/cases filtered by village and status (a plain form, no script): every row is of
    that village and status, the resolved cases put in are there, and the CSV download of
    the same filter holds exactly the same cases."""
    texts = labels()
    resolved = texts.label("status", "resolved")
    with browser.without_javascript():
        browser.open("/cases", 1280)
        browser.reload_until(
            "the resolved cases listed",
            lambda: scenario.visited_case in browser.text() and resolved in browser.text(),
        )
        Select(browser.find("form.filters select[name='village']")).select_by_value("2")
        Select(browser.find("form.filters select[name='status']")).select_by_value("resolved")
        browser.click_and_wait(browser.find("form.filters button[type='submit']"))
    assert "village=2" in browser.path and "status=resolved" in browser.path, browser.path
    rows = [
        [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
        for row in browser.find_all("table.cases tbody tr")
    ]
    assert rows, browser.text()[:1500]
    assert all(row[3] == "2" and row[4] == resolved for row in rows), rows
    listed = {row[0] for row in rows}
    assert {scenario.survey_case, scenario.visited_case} <= listed
    csv_link = browser.find("a[href^='/cases.csv']").get_attribute("href") or ""
    download = services.call("GET", "portal", csv_link.removeprefix(services.portal))
    assert set(CASE_NUMBER.findall(download.text)) == listed
