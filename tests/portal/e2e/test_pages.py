"""Every page of the portal, at a phone's width (360 px) and a desktop's (1280 px), in a
real headless Chromium: a screenshot for people to look at, and what issue 13 asks of
every page:

- axe-core finds no serious or critical violation;
- `<html lang="th">`, every form control labelled, a visible focus;
- at most 300 KB over the network before images;
- none of the personal data that was put in shows, on a page or in a download.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.portal.e2e.browser import SCREENSHOTS, WIDTHS, Browser
from tests.portal.e2e.conftest import Scenario, needles
from tests.portal.e2e.services import Services, wait_for
from tools.pii_scan import find

pytestmark = pytest.mark.e2e

MAX_BYTES_BEFORE_IMAGES = 300 * 1024
BLOCKING = ("serious", "critical")
# What every page weighed and what axe said of it, all impacts: for people, beside the
# screenshots (the minor and moderate findings fail nothing, and are worth reading).
SUMMARY = SCREENSHOTS / "summary.json"

# name -> the page's path, from what the scenario put in.
PAGES: dict[str, Callable[[Scenario], str]] = {
    "home": lambda s: "/",
    "track": lambda s: "/track",
    "track-case": lambda s: f"/track/{s.web_case}",
    "cases": lambda s: "/cases",
    "stats": lambda s: "/stats",
    "projects": lambda s: "/projects",
    "project": lambda s: f"/projects/{s.project_id}",
    "survey": lambda s: f"/survey/{s.visited_token}",
    "campaign": lambda s: f"/campaigns/{s.campaign_id}",
    "report": lambda s: "/report",
    "ita": lambda s: "/ita",
    "data-dictionary": lambda s: "/data-dictionary",
}
DOWNLOADS = ("/cases.csv", "/cases.json")
# A code of the events (in_progress, public_hearing) shown as it is: a name is missing.
CODE = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")
# Pages whose subject is the codes themselves (the open data's columns and values).
SHOWS_CODES = frozenset({"data-dictionary"})
CASE_NUMBER = re.compile(r"SPT-\d{4}-\d{6}")


@pytest.fixture(scope="session")
def published(services: Services, scenario: Scenario) -> Scenario:
    """The scenario, once the portal's read model shows its cases and its project (the
    portal follows the public topics, a moment behind the APIs)."""

    def shows(path: str, text: str) -> bool:
        r = httpx.get(services.portal + path, timeout=10)
        return r.status_code == 200 and text in r.text

    for case_id in (scenario.web_case, scenario.phone_case, scenario.visited_case):
        wait_for(f"{case_id} on the portal", partial(shows, f"/track/{case_id}", case_id))
    wait_for(
        f"{scenario.project_id} on the portal",
        lambda: shows(f"/projects/{scenario.project_id}", scenario.project_id),
    )
    return scenario


@pytest.fixture(scope="session")
def summary() -> Iterator[dict[str, Any]]:
    pages: dict[str, Any] = {}
    yield pages
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    SUMMARY.write_text(json.dumps(pages, indent=1, ensure_ascii=False, sort_keys=True))


def problems_of(browser: Browser, seen: dict[str, Any]) -> dict[str, str]:
    """What the open page fails of the checks every page must pass, by check."""
    found: dict[str, str] = {}
    lang = browser.lang()
    if lang != "th":
        found["lang"] = f'<html lang="{lang}">, not "th"'
    violations = browser.axe()
    seen["axe"] = [str(v) for v in violations]
    blocking = [v for v in violations if v.impact in BLOCKING]
    if blocking:
        found["axe"] = "\n  ".join(str(v) for v in blocking)
    unlabelled = browser.unlabelled_controls()
    if unlabelled:
        found["labels"] = "\n  ".join(unlabelled)
    stops, unseen = browser.unseen_focus()
    seen["focus_stops"] = stops
    if stops == 0:
        found["focus"] = "Tab focuses nothing"
    elif unseen:
        found["focus"] = f"no visible focus on {len(unseen)} of {stops}: " + ", ".join(unseen)
    return found


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_is_accessible_light_and_photographed(
    browser: Browser, published: Scenario, summary: dict[str, Any], page: str, width: int
) -> None:
    browser.open(PAGES[page](published), width)
    shot = browser.screenshot(page)
    assert shot.stat().st_size > 0
    # Weighed first: the checks below inject axe-core, which is the test's, not the page's.
    weight, counted = browser.weight()
    seen: dict[str, Any] = {
        "path": browser.path,
        "kb_before_images": round(weight / 1024, 1),
        "resources": {urlsplit(r.name).path: r.bytes for r in counted},
    }
    summary[f"{page}-{width}"] = seen
    found = problems_of(browser, seen)
    # Libraries, fonts and data are the site's own (issue 13: served locally); only map
    # tiles may come from elsewhere, and the tests configure no tile server.
    site = urlsplit(browser.base_url).netloc
    elsewhere = [r.name for r in browser.resources() if urlsplit(r.name).netloc != site]
    if elsewhere:
        found["third parties"] = ", ".join(elsewhere)
    codes = sorted(set(CODE.findall(browser.text()))) if page not in SHOWS_CODES else []
    if codes:
        found["untranslated"] = "codes shown as they are: " + ", ".join(codes)
    # Usable on a phone: nothing makes the whole page scroll sideways.
    wide = browser.overflow()
    if wide:
        found["width"] = f"wider than {width} px: " + ", ".join(wide)
    if weight > MAX_BYTES_BEFORE_IMAGES:
        heaviest = sorted(counted, key=lambda r: -r.bytes)[:8]
        found["weight"] = f"{weight / 1024:.0f} KB before images: " + ", ".join(
            f"{urlsplit(r.name).path} {r.bytes / 1024:.0f} KB" for r in heaviest
        )
    assert not found, f"{page} at {width} px ({browser.path}):\n" + "\n".join(
        f"- {check}: {detail}" for check, detail in found.items()
    )


@pytest.mark.parametrize("page", list(PAGES))
def test_no_page_shows_the_personal_data_put_in(
    browser: Browser, services: Services, published: Scenario, page: str
) -> None:
    """The page as the browser has it (the server's HTML and whatever its scripts fetched
    and wrote into it), and every same-site answer the page's scripts fetched."""
    browser.open(PAGES[page](published), 1280)
    wanted = needles()
    hits = find(wanted, browser.source(), page) + find(wanted, browser.text(), page)
    for resource in browser.resources():
        url = urlsplit(resource.name)
        fetched_data = resource.kind in ("fetch", "xmlhttprequest")
        if fetched_data and url.netloc == urlsplit(services.portal).netloc:
            r = httpx.get(resource.name, timeout=30)
            hits += find(wanted, r.text, f"{page}: {url.path}?{url.query}")
    assert not hits, "\n".join(f"{h.kind} {h.masked()} in {h.where}" for h in hits)


@pytest.mark.parametrize("path", DOWNLOADS)
def test_no_download_shows_the_personal_data_put_in(
    services: Services, published: Scenario, path: str
) -> None:
    r = httpx.get(services.portal + path, timeout=30)
    assert r.status_code == 200, r.text[:500]
    # The download is of the same records: the cases put in are there, redacted.
    assert published.web_case in r.text and published.phone_case in r.text
    hits = find(needles(), r.text, path)
    assert not hits, "\n".join(f"{h.kind} {h.masked()} in {h.where}" for h in hits)


def test_the_english_switch_and_thai_digits_are_remembered_and_undone(
    browser: Browser, published: Scenario
) -> None:
    """Thai first; English and Thai digits a click away, remembered (a cookie), and as
    accessible as the Thai pages."""
    try:
        browser.open("/", 1280)
        browser.click_and_wait(browser.find("a[hreflang='en']"))
        assert browser.lang() == "en"
        assert "Sra Phon Thong" in browser.text()
        blocking = [str(v) for v in browser.axe() if v.impact in BLOCKING]
        assert not blocking, "\n".join(blocking)
        browser.open("/projects")  # remembered on the next page
        assert browser.lang() == "en"
        browser.click_and_wait(browser.find("a[hreflang='th']"))
        assert browser.lang() == "th"

        browser.click_and_wait(browser.find("a[href*='digits=thai']"))
        assert re.search("[๐-๙]{4}", browser.text()), browser.text()[:1000]
        browser.click_and_wait(browser.find("a[href*='digits=arabic']"))
        assert not re.search("[๐-๙]{4}", browser.text())
    finally:
        # The other tests read the site as a first-time visitor does: in Thai.
        browser.driver.delete_all_cookies()


def test_the_map_draws_located_cases_without_a_tile_server(
    browser: Browser, published: Scenario
) -> None:
    """Leaflet, served by the site, puts the located cases on the map even though no tile
    server answers (none is configured in the tests); a point leads to its case."""
    browser.open("/cases", 1280)
    assert browser.exists("#map.leaflet-container"), "Leaflet did not start on /cases"
    points = browser.find_all("#map path.leaflet-interactive")
    assert points, "no located case on the map"
    # A point is a 12-px SVG circle, under Leaflet's panes: clicked as a mouse would.
    browser.js(
        "arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true, view: window}))",
        points[0],
    )
    link = browser.find(".leaflet-popup a[href^='/track/']")
    # Read as the DOM has it: the popup fades in, and until then Selenium sees no text.
    text = link.get_attribute("textContent") or ""
    assert CASE_NUMBER.search(text), text


def test_the_statistics_are_drawn_by_chartjs(browser: Browser, published: Scenario) -> None:
    browser.open("/stats", 1280)
    canvases = browser.find_all("canvas")
    assert canvases, "no chart on /stats"
    drawn = browser.js("return window.Chart ? Object.keys(window.Chart.instances).length : 0")
    assert drawn == len(canvases), f"{drawn} of {len(canvases)} charts drawn"
    # The same figures as tables, for readers without a screen or JavaScript.
    assert browser.find_all("table"), "no table beside the charts"


@pytest.mark.parametrize("form", ["report", "survey"])
def test_a_form_sent_with_mistakes_says_so_accessibly(
    browser: Browser, published: Scenario, form: str
) -> None:
    """Sent empty, a form comes back with its mistakes named in Thai (role="alert", each
    field marked aria-invalid), and the page with its errors passes every check too."""
    path = "/report" if form == "report" else f"/survey/{published.visited_token}"
    browser.open(path, 360)
    if form == "report":
        browser.find("#human_answer").send_keys("0")
    browser.click_and_wait(browser.find("form button[type='submit']"))
    alert = browser.find("[role='alert']")
    assert re.search("[ก-๙]{4,}", alert.text), alert.text
    assert browser.find_all("[aria-invalid='true']") or form == "survey"
    browser.screenshot(f"{form}-mistakes")
    found = problems_of(browser, {})
    assert not found, "\n".join(f"- {check}: {detail}" for check, detail in found.items())


def test_no_ita_download_shows_the_personal_data_put_in(
    services: Services, published: Scenario
) -> None:
    """Every document /ita links to (the announcement, the satisfaction reports, the
    participation evidence packs) answers, and none shows the personal data put in."""
    ita = httpx.get(services.portal + "/ita", timeout=30)
    links = sorted(set(re.findall(r'href="(/ita/[^"]+)"', ita.text)))
    assert any("/satisfaction/" in link for link in links), links
    assert any("/evidence/" in link for link in links), links
    hits = []
    for link in links:
        r = httpx.get(services.portal + link, timeout=60)
        assert r.status_code == 200, f"{link}: {r.status_code} {r.text[:300]}"
        hits += find(needles(), r.text, link)
    assert not hits, "\n".join(f"{h.kind} {h.masked()} in {h.where}" for h in hits)


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_in_english_on_a_phone(
    browser: Browser, published: Scenario, summary: dict[str, Any], page: str
) -> None:
    """The English switch's pages: `lang="en"`, and the same checks at 360 px, where
    English words, longer than Thai ones, are likelier to push a page wider."""
    try:
        browser.open(PAGES[page](published) + "?lang=en", 360)
        browser.screenshot(f"{page}-en")
        seen: dict[str, Any] = {"path": browser.path}
        summary[f"{page}-en-360"] = seen
        found = problems_of(browser, seen)
        if found.get("lang") == '<html lang="en">, not "th"':
            del found["lang"]
        else:
            found["lang"] = f'<html lang="{browser.lang()}">, not "en"'
        wide = browser.overflow()
        if wide:
            found["width"] = "wider than 360 px: " + ", ".join(wide)
        assert not found, f"{page} in English ({browser.path}):\n" + "\n".join(
            f"- {check}: {detail}" for check, detail in found.items()
        )
    finally:
        browser.driver.delete_all_cookies()
