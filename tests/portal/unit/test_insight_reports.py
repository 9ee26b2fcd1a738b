"""The quarterly analysis reports on the public website: listed from insight's public
endpoint and passed on as insight renders them; the portal holds none of their data."""

from __future__ import annotations

import httpx

from services.portal.ports import Reply
from tests.portal.fakes import FakeUpstream, portal

LISTED = {
    "reports": [
        {
            "fiscal_year": 2569,
            "quarter": 2,
            "quarter_th": "ไตรมาสที่ 2 (ม.ค.–มี.ค.)",
            "department": None,
            "department_th": "องค์การบริหารส่วนตำบลสระโพนทอง",
            "html": "/v1/reports/2569/2.html",
            "pdf": "/v1/reports/2569/2.pdf",
        },
        {
            "fiscal_year": 2569,
            "quarter": 2,
            "quarter_th": "ไตรมาสที่ 2 (ม.ค.–มี.ค.)",
            "department": "engineering",
            "department_th": "กองช่าง",
            "html": "/v1/reports/2569/2/engineering.html",
            "pdf": "/v1/reports/2569/2/engineering.pdf",
        },
    ]
}


async def get(upstream: FakeUpstream, path: str) -> httpx.Response:
    site = portal(upstream)
    transport = httpx.ASGITransport(app=site.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://portal") as c:
        return await c.get(path)


async def test_the_list_links_each_report_as_html_and_pdf() -> None:
    upstream = FakeUpstream()
    upstream.answer("insight", "GET", "/v1/reports", Reply(200, LISTED, b"", "application/json"))
    r = await get(upstream, "/ita/insight")
    assert r.status_code == 200
    assert "กองช่าง" in r.text and "ไตรมาสที่ 2" in r.text
    assert 'href="/ita/insight/2569/2?department=engineering&amp;format=pdf"' in r.text
    assert 'href="/ita/insight/2569/2"' in r.text


async def test_a_report_is_passed_on_as_insight_renders_it() -> None:
    upstream = FakeUpstream()
    upstream.answer(
        "insight",
        "GET",
        "/v1/reports/2569/2/engineering.pdf",
        Reply(200, None, b"%PDF-1.7 ...", "application/pdf"),
    )
    r = await get(upstream, "/ita/insight/2569/2?department=engineering&format=pdf")
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    assert r.headers["content-type"] == "application/pdf"


async def test_a_made_up_department_or_quarter_is_not_asked_for() -> None:
    upstream = FakeUpstream()
    assert (await get(upstream, "/ita/insight/2569/5")).status_code == 404
    assert (await get(upstream, "/ita/insight/2569/2?department=../x")).status_code == 404
    assert upstream.calls == []


async def test_insight_down_is_a_thai_sentence() -> None:
    r = await get(FakeUpstream(), "/ita/insight")  # the fake answers 404: not listed
    assert r.status_code == 503 and "ลองใหม่" in r.text
    assert r.headers["retry-after"] == "1"  # 503 is "try again" on a page too: it says when
