"""Every page rendered on fakes: what it shows, in Thai first, and what it never shows."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator
from datetime import date, timedelta

import httpx
import pytest

from services.portal.bootstrap import PortalService
from shared.events.compliance import PublicRequirement, Stage
from tests.portal.fakes import NOW, case, fact, portal, project, resolved_case


@pytest.fixture
def site() -> PortalService:
    service = portal()
    model = service.handlers.model
    model.take_case(case("SPT-2570-000001", category="road", village_no=3))
    model.take_case(case("SPT-2570-000002", category="lighting", village_no=4, lat=None, lon=None))
    model.take_case(
        resolved_case("SPT-2570-000003", NOW - timedelta(days=30), 4, category="road", village_no=3)
    )
    model.take_project(project("PRJ-ROAD-1", budget_baht=25_000_000))
    model.take_project(project("PRJ-SMALL", budget_baht=300_000, with_evidence=False))
    model.take_fact(fact("a", {"process": 5, "staff": 4}))
    model.take_fact(fact("b", {"process": 2, "staff": 5}))
    return service


@pytest.fixture
async def client(site: PortalService) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=site.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://portal") as c:
        yield c


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_home_shows_this_fiscal_years_numbers_and_every_channel(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/")
    assert r.status_code == 200
    assert '<html lang="th">' in r.text
    shown = text_of(r.text)
    assert "ปีงบประมาณ พ.ศ. 2570" in shown
    assert "รับเรื่อง 3" in shown and "ดำเนินการแล้วเสร็จ 1" in shown
    # One answered on time; the two open past their 15 days count against it.
    assert "ตอบภายใน 15 วันตามกฎหมาย 33.3%" in shown
    assert "4.0 วัน" in shown  # the median time to resolve
    assert "ด้านกระบวนการ/ขั้นตอน 50.0%" in shown  # satisfaction by dimension
    for channel in ("LINE", "0-4300-0000", "ตู้รับความคิดเห็น", "เวทีประชาคม", "หนังสือ"):
        assert channel in shown
    assert 'href="/report"' in r.text
    assert "ศาลาประชาคมบ้านโนนสว่าง" in shown  # where a suggestion box is


async def test_english_is_a_switch_remembered_in_a_cookie_and_thai_digits_another(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/?lang=en")
    assert '<html lang="en">' in r.text and "Fiscal year 2570" in text_of(r.text)
    assert "lang=en" in r.headers["set-cookie"]
    again = await client.get("/stats")  # the cookie stays with the client
    assert '<html lang="en">' in again.text
    thai = await client.get("/?lang=th&digits=thai")
    assert "ปีงบประมาณ พ.ศ. ๒๕๗๐" in text_of(thai.text)


async def test_a_case_is_tracked_with_its_timeline_deadlines_and_resolution(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/track/SPT-2570-000003")
    assert r.status_code == 200
    shown = text_of(r.text)
    assert "ดำเนินการแล้วเสร็จ" in shown and "กองช่าง" in shown and "ถนน" in shown
    assert "1 พฤศจิกายน 2569" in shown  # received, in Buddhist Era
    assert "5 พฤศจิกายน 2569" in shown  # resolved four days later
    assert "ทันกำหนด" in shown  # the 15-day reply deadline was met
    assert "ซ่อมแล้ว" in shown  # the resolution
    assert "<svg" in r.text  # the QR code of the tracking link
    by_form = await client.get("/track", params={"case": " spt-๒๕๗๐-000003 "})
    assert by_form.status_code == 200 and "SPT-2570-000003" in by_form.text


async def test_an_unknown_case_number_is_a_plain_thai_404_page(client: httpx.AsyncClient) -> None:
    for r in (
        await client.get("/track/SPT-2570-999999"),
        await client.get("/track", params={"case": "SPT-2570-999999"}),
    ):
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("text/html")
        assert "ไม่พบเรื่องเลขที่" in r.text and "SPT-2570-999999" in r.text
        assert 'name="case"' in r.text  # the form again, to try another number
    form = await client.get("/track")
    assert form.status_code == 200 and '<label for="case">' in form.text


async def test_the_list_filters_pages_and_maps_the_located_cases(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/cases", params={"category": "road"})
    assert r.status_code == 200
    assert "SPT-2570-000001" in r.text and "SPT-2570-000003" in r.text
    assert "SPT-2570-000002" not in r.text
    assert '<div id="map"' in r.text
    assert "/static/vendor/leaflet/leaflet.js" in r.text
    assert "/static/vendor/leaflet/leaflet.css" in r.text
    data = json.loads(re.search(r'id="map-data">(.*?)</script>', r.text, re.S).group(1))  # type: ignore[union-attr]
    assert {p[0] for p in data["points"]} == {"SPT-2570-000001", "SPT-2570-000003"}
    assert data["points"][0][1:] == [15.651, 103.602, "received"]
    assert data["statuses"]["received"] == "รับเรื่องแล้ว"
    assert data["tiles"] == ""
    assert 'id="tiles-off"' in r.text, "without a tile server the page says tiles are off"
    assert "chart.umd.js" not in r.text, "the chart library loads on /stats only"
    village = await client.get("/cases", params={"village": "4"})
    assert "SPT-2570-000002" in village.text and "SPT-2570-000001" not in village.text
    status = await client.get("/cases", params={"status": "resolved"})
    assert "SPT-2570-000003" in status.text and "SPT-2570-000001" not in status.text
    month = await client.get("/cases", params={"month": "2026-11"})
    assert "SPT-2570-000001" in month.text and "SPT-2570-000003" in month.text


async def test_the_map_uses_the_configured_tile_server() -> None:
    service = portal(tile_url="https://tiles.example/{z}/{x}/{y}.png")
    transport = httpx.ASGITransport(app=service.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://portal") as c:
        r = await c.get("/cases")
    assert "https://tiles.example/{z}/{x}/{y}.png" in r.text
    assert 'id="tiles-off"' not in r.text


async def test_csv_and_json_carry_the_same_redacted_records_under_the_same_filters(
    client: httpx.AsyncClient,
) -> None:
    as_json = (await client.get("/cases.json", params={"category": "road"})).json()
    raw = await client.get("/cases.csv", params={"category": "road"})
    assert raw.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(raw.text.lstrip("\ufeff"))))
    assert as_json["count"] == 2 == len(rows)
    assert [r["case_id"] for r in rows] == [i["case_id"] for i in as_json["items"]]
    assert set(rows[0]) == set(as_json["fields"]) == set(as_json["items"][0])
    dictionary = await client.get("/data-dictionary")
    for name in as_json["fields"]:
        assert f"<code>{name}</code>" in dictionary.text


async def test_statistics_embed_their_data_and_the_same_numbers_as_tables(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/stats", params={"fy": "2570"})
    assert r.status_code == 200
    assert "/static/vendor/chart.js/chart.umd.js" in r.text
    assert "leaflet.js" not in r.text
    data = json.loads(re.search(r'id="stats-data">(.*?)</script>', r.text, re.S).group(1))  # type: ignore[union-attr]
    assert data["category"]["labels"] == ["ถนน", "แสงสว่าง"]
    assert data["category"]["values"] == [2, 1]
    shown = text_of(r.text)
    assert "ถนน 2" in shown  # the table beside the chart
    assert "หมู่ที่ 3 บ้านหนองบัว 2" in shown
    assert "กองช่าง ด้านเจ้าหน้าที่ 100.0%" in shown
    empty = await client.get("/stats", params={"fy": "2569"})
    assert empty.status_code == 200 and "ยังไม่มีผลการสำรวจ" in empty.text


async def test_projects_show_budget_in_baht_and_participation_for_big_ones(
    client: httpx.AsyncClient,
) -> None:
    listing = text_of((await client.get("/projects")).text)
    assert "25,000,000.00" in listing and "300,000.00" in listing
    big = text_of((await client.get("/projects/PRJ-ROAD-1")).text)
    assert "ข้อกำหนดการมีส่วนร่วมของประชาชน" in big
    assert "การรับฟังความคิดเห็นหรือประชาคม จัดซื้อจัดจ้าง ดำเนินการแล้ว" in big
    assert "ผู้แทนภาคประชาชนหรือภาคเอกชนในคณะกรรมการตรวจรับ" in big  # open, upcoming
    assert "inspection_committee_participation" not in big  # a name, never a code
    assert "เพิ่มไหล่ทางข้างละ 1 เมตร" in big  # what participation changed
    # The open violation, in words: a forum owed before approval, which came without one.
    assert "เวทีประชาคม: เข้าสู่ขั้นตอนโดยยังไม่ได้ดำเนินการ (ร้ายแรง)" in big
    assert "stage_without_participation" not in big
    assert "นโยบายสำคัญ ใช่" in big
    small = await client.get("/projects/PRJ-SMALL")
    assert "ไม่ถึงเกณฑ์" in small.text
    missing = await client.get("/projects/NOPE")
    assert missing.status_code == 404


async def test_a_hearing_still_owed_before_procurement_shows_the_planned_date(
    site: PortalService, client: httpx.AsyncClient
) -> None:
    owed = project("PRJ-BRIDGE").model_copy(
        update={
            "planned_procurement_date": date(2027, 2, 1),
            "requirements": (
                PublicRequirement(
                    kind="public_hearing", due_stage=Stage.PROCUREMENT, status="open"
                ),
            ),
        }
    )
    site.handlers.model.take_project(owed)
    shown = text_of((await client.get("/projects/PRJ-BRIDGE")).text)
    assert "การรับฟังความคิดเห็นหรือประชาคม — ก่อนเข้าสู่ขั้นตอน จัดซื้อจัดจ้าง" in shown
    assert "ภายในวันที่ 1 กุมภาพันธ์ 2570" in shown  # Buddhist Era


async def test_every_page_is_thai_labelled_and_light(client: httpx.AsyncClient) -> None:
    for path in ("/", "/track", "/cases", "/stats", "/projects", "/report", "/ita"):
        r = await client.get(path)
        assert r.status_code == 200, path
        assert '<html lang="th">' in r.text
        assert "/static/vendor/fonts/sarabun.css" in r.text
        assert len(r.content) < 100_000, path
        for field_id in re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', r.text):
            assert f'for="{field_id}"' in r.text, f"{path}: #{field_id} has no label"
    css = await client.get("/static/portal.css")
    assert css.status_code == 200 and ":focus-visible" in css.text


async def test_static_files_are_served_and_a_missing_vendor_file_is_a_plain_404(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/static/map.js")).status_code == 200
    assert (await client.get("/static/charts.js")).status_code == 200
    missing = await client.get("/static/vendor/chart.js/nothing-here.js")
    assert missing.status_code == 404
    escape = await client.get("/static/%2e%2e/settings.py")
    assert escape.status_code == 404
    too_long = await client.get("/static/" + "x" * 5_000)  # was a 500
    assert too_long.status_code == 404


async def test_ita_lists_the_downloads_and_passes_them_on(site: PortalService) -> None:
    from services.portal.ports import Reply
    from tests.portal.fakes import FakeUpstream

    upstream = site.handlers.upstream
    assert isinstance(upstream, FakeUpstream)
    upstream.answer(
        "survey",
        "GET",
        "/v1/reports/satisfaction/2570",
        Reply(200, None, b"<html>report</html>", "text/html; charset=utf-8"),
    )
    transport = httpx.ASGITransport(app=site.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://portal") as c:
        page = await c.get("/ita")
        assert 'href="/ita/satisfaction/2570"' in page.text
        assert 'href="/ita/evidence/2570"' in page.text
        report = await c.get("/ita/satisfaction/2570")
        assert report.status_code == 200 and report.text == "<html>report</html>"
        pack = await c.get("/ita/evidence/2570")  # the fake compliance knows none: 404
        assert pack.status_code == 404 and "ไม่พบเอกสารนี้" in pack.text
        nonsense = await c.get("/ita/satisfaction/next-year")
        assert nonsense.status_code == 404 and nonsense.headers["content-type"].startswith(
            "text/html"
        )


async def test_the_figures_are_computed_again_once_the_read_model_changes(
    site: PortalService, client: httpx.AsyncClient
) -> None:
    assert "รับเรื่อง 3" in text_of((await client.get("/")).text)
    assert "รับเรื่อง 3" in text_of((await client.get("/")).text)  # remembered
    site.handlers.model.take_case(case("SPT-2570-000009"))
    assert "รับเรื่อง 4" in text_of((await client.get("/")).text)
    assert "ถนน 3" in text_of((await client.get("/stats")).text)


async def test_the_list_is_paginated() -> None:
    service = portal(page_size=2)
    for n in range(1, 6):
        service.handlers.model.take_case(case(f"SPT-2570-{n:06d}"))
    transport = httpx.ASGITransport(app=service.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://portal") as c:
        first = await c.get("/cases")
        last = await c.get("/cases", params={"page": "๙๙"})

    def rows(html: str) -> list[str]:  # the list's case numbers (the map has every point)
        body = html[html.index('<table class="cases">') :]
        return re.findall(r'<td><a href="/track/([^"]+)">', body)

    assert rows(first.text) == ["SPT-2570-000005", "SPT-2570-000004"]
    assert 'rel="next" href="/cases?page=2"' in first.text and 'rel="prev"' not in first.text
    assert rows(last.text) == ["SPT-2570-000001"]
    assert "หน้า 3 / 3" in text_of(last.text)


BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


async def test_a_mistyped_address_in_a_browser_is_the_sites_thai_page(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/trak/SPT-2570-000001", headers=BROWSER)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert '<html lang="th">' in r.text and "ไม่พบหน้าหรือรายการนี้" in r.text
    assert 'href="/"' in r.text  # the way back
    # The same page in English for whoever chose it; a script keeps the API's JSON.
    english = await client.get("/nope", params={"lang": "en"}, headers=BROWSER)
    assert english.status_code == 404 and "<h1>Not found</h1>" in english.text
    for accept in ("*/*", "application/json", "text/htmlx"):
        script = await client.get("/nope", headers={"Accept": accept})
        assert script.status_code == 404, accept
        assert script.json()["error"] == "not_found", accept
    # A method the path has not stays the API's 405, with its Allow.
    wrong = await client.delete("/track", headers=BROWSER)
    assert wrong.status_code == 405 and "GET" in wrong.headers["allow"]
