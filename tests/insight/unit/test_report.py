"""The quarterly report as published: Thai in the PDF comes out shaped and in order (read
back from the PDF's text layer), page 1 is saved as a PNG for people to look at, and the
PII scan (tools/pii_scan.py) finds nothing in the HTML or the PDF, even when a consultation
was recorded with a name and a phone number in what was said."""

from __future__ import annotations

import asyncio
import contextlib
import re
import unicodedata
import zlib
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pypdfium2 as pdfium
import pytest

from services.insight import report
from services.insight.bootstrap import create_service
from services.insight.settings import InsightSettings
from shared.roles import Role
from tests.insight.builders import ORG
from tests.insight.fakes import DIRECTORY, FakeConsultations, FakePlans
from tests.insight.unit.test_history import TODAY, analysed
from tests.signing import as_, sign_in
from tools import pii_scan

SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"
FONTS = InsightSettings().font_dir
HEAD = as_(Role.HEAD, officer_id="eng-head", department="engineering")
PHONE, NAME = "081-234-5678", "นายสมปอง ใจดี"
SAID = f"ถนนหน้าบ้าน{NAME} โทร {PHONE} น้ำท่วมทุกปี ขอให้ขุดลอกรางระบายน้ำ"


def pdf_text(pdf: bytes) -> str:
    doc = pdfium.PdfDocument(pdf)
    try:
        return "\n".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    finally:
        doc.close()


def inflated(pdf: bytes) -> bytes:
    """The PDF with its compressed streams opened (font names sit in object streams)."""
    parts = [pdf]
    for m in re.finditer(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        with contextlib.suppress(zlib.error):
            parts.append(zlib.decompress(m.group(1)))
    return b"".join(parts)


@contextlib.asynccontextmanager
async def insight_api() -> AsyncIterator[httpx.AsyncClient]:
    """Insight's API over the analysed fake history, signed in as the tests' officers."""
    h, _ = await analysed()
    service = create_service(
        InsightSettings(),
        cases=h.cases,
        figures=h.figures,
        consultations=FakeConsultations(),
        plans=FakePlans(),
        directory=DIRECTORY,
        clock=h.clock,
    )
    sign_in(service)
    transport = httpx.ASGITransport(app=service.api)
    async with httpx.AsyncClient(transport=transport, base_url="http://insight") as c:
        yield c


async def published_report() -> tuple[str, bytes]:
    """The SAO's report for FY2569 Q2, with a consultation and a plan, through the API."""
    async with insight_api() as c:
        r = await c.post(
            "/v1/consultations",
            headers=HEAD,
            json={
                "held_on": "2026-02-20",
                "kind": "village_forum",
                "title": "ประชาคมหมู่บ้าน หมู่ 4 เรื่องถนนและน้ำท่วม",
                "participants": {"residents": 46, "village_committee": 9, "elderly": 12},
                "said": [SAID],
                "village_no": 4,
                "department": "engineering",
                "categories": ["road", "drainage"],
                "minutes_case_id": "SPT-2569-000777",
            },
        )
        assert r.status_code == 201, r.text
        base = "/v1/plans/engineering/2569/2"
        r = await c.post(
            base + "/findings",
            headers=HEAD,
            json={"finding_id": "f1", "text": "หลุมบนถนนหมู่ 4 ถูกแจ้งซ้ำ 8 ครั้ง", "metric": "received"},
        )
        assert r.status_code == 201, r.text
        r = await c.post(
            base + "/actions",
            headers=HEAD,
            json={
                "action_id": "a1",
                "finding_id": "f1",
                "text": "ปูผิวถนนใหม่ทั้งช่วงแทนการปะซ่อม",
                "owner": "eng-head",
                "due": "2026-04-30",
                "metric": "percent_reopened",
                "expected": "ลดลงต่ำกว่า 10%",
            },
        )
        assert r.status_code == 201, r.text
        listed = (await c.get("/v1/reports")).json()["reports"]
        assert {"html": "/v1/reports/2569/2.html"}.items() <= next(
            x for x in listed if x["department"] is None and x["quarter"] == 2
        ).items()
        html = (await c.get("/v1/reports/2569/2.html")).text
        r = await c.get("/v1/reports/2569/2.pdf")
        assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
        return html, r.content


@pytest.fixture(scope="module")
def rendered() -> tuple[str, bytes]:
    import asyncio

    return asyncio.run(published_report())


def test_the_pdf_has_thai_shaped_and_in_order(rendered: tuple[str, bytes]) -> None:
    if not (FONTS / "sarabun-thai-400-normal.woff2").exists():
        pytest.skip("Sarabun not fetched (deploy/local/web_assets.py): the system's font is used")
    _, pdf = rendered
    # NFKC on both sides: the PDF writes SARA AM as its two parts, which is what NFKC
    # makes of it too (services/insight/report.py says why).
    # Lines a table cell wraps are joined: the words must read in order across them.
    text = unicodedata.normalize("NFKC", pdf_text(pdf)).replace("\r\n", "")
    # Words with above/below marks and leading vowels: a wrong shaping or order breaks them.
    for words in (
        "รายงานการวิเคราะห์ผลการดำเนินงานและผลลัพธ์",
        "องค์การบริหารส่วนตำบลสระโพนทอง",
        "ไตรมาสที่ 2",
        "ปีงบประมาณ พ.ศ. 2569",
        "จุดที่เกิดปัญหาซ้ำ",
        "เปิดเรื่องใหม่",
        "ประชาคมหมู่บ้าน",
        "ปูผิวถนนใหม่ทั้งช่วงแทนการปะซ่อม",
    ):
        assert unicodedata.normalize("NFKC", words) in text, words
    doc = pdfium.PdfDocument(pdf)
    try:
        assert b"SarabunThai" in inflated(pdf) or b"Sarabun" in inflated(pdf), "Sarabun embedded"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        doc[0].render(scale=1.5).to_pil().save(SCREENSHOTS / "insight-report-2569-q2-page1.png")
    finally:
        doc.close()


def test_the_published_report_has_no_personal_data(rendered: tuple[str, bytes]) -> None:
    html, pdf = rendered
    needles = pii_scan.needles_from([SAID], phones=[PHONE])
    assert needles.phones and needles.names  # the scan knows what to look for
    assert pii_scan.find(needles, html, "report.html") == []
    assert pii_scan.find(needles, pdf_text(pdf), "report.pdf") == []
    assert "ขอให้ขุดลอกรางระบายน้ำ" in html  # what was said is there, redacted


def test_the_report_is_in_thai_with_buddhist_era_and_fiscal_quarters() -> None:
    assert report.month_th("2026-01") == "ม.ค. 69"
    assert report.quarter_end(2569, 1) == date(2025, 12, 31)
    assert report.quarter_end(2569, 4) == date(2026, 9, 30)
    assert TODAY.year == 2026 and ORG == "sraphonthong"


async def add_finding(c: Any, finding_id: str, text: str) -> None:
    """A head adds a finding to engineering's plan for Q2 2569: the report's content moves."""
    r = await c.post(
        "/v1/plans/engineering/2569/2/findings",
        headers=HEAD,
        json={"finding_id": finding_id, "text": text, "metric": "received"},
    )
    assert r.status_code == 201, r.text


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per report drawn (its HTML rendered) from here on."""
    from services.insight import report as report_module

    drawings: list[int] = []
    draw = report_module.render_html

    def counting(built: Any, font_dir: Any) -> str:
        drawings.append(1)
        return draw(built, font_dir)

    monkeypatch.setattr(report_module, "render_html", counting)
    return drawings


async def test_a_report_asked_for_at_once_is_drawn_once_and_drawn_again_after_a_plan_changes(
    drawn: list[int],
) -> None:
    async with insight_api() as c:
        pages = await asyncio.gather(*(c.get("/v1/reports/2569/2.html") for _ in range(4)))
        assert {p.status_code for p in pages} == {200} and len({p.text for p in pages}) == 1
        assert len(drawn) == 1
        await add_finding(c, "f9", "ท่อระบายน้ำอุดตันซ้ำ")
        again = await c.get("/v1/reports/2569/2.html")
        assert len(drawn) == 2 and "ท่อระบายน้ำอุดตันซ้ำ" in again.text


async def test_a_report_whose_content_did_not_change_is_not_drawn_again_after_the_minute(
    drawn: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.insight import http as http_module

    monkeypatch.setattr(http_module, "_KEPT_SECONDS", 0.0)  # every ask builds the content
    async with insight_api() as c:
        first = await c.get("/v1/reports/2569/2.html")
        second = await c.get("/v1/reports/2569/2.html")
        assert (first.status_code, second.status_code) == (200, 200)
        assert second.text == first.text and len(drawn) == 1
        await add_finding(c, "f8", "ไฟส่องสว่างดับซ้ำ")
        third = await c.get("/v1/reports/2569/2.html")
        assert len(drawn) == 2 and "ไฟส่องสว่างดับซ้ำ" in third.text
