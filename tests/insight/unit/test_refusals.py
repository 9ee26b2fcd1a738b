"""What insight's API refuses, and how: a report of a department the directory does not know
is 404 before anything is drawn, the PDF's file name cannot break its header, a write stays
within the writer's department and the directory's departments, what was said at a
consultation is bounded, dates in the Buddhist Era are read as such, and a number in a query
is Arabic or Thai digits or a 400 naming it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.insight import http, report
from services.insight.adapters.directory import Directory
from services.insight.bootstrap import InsightService
from shared.roles import Role
from tests.insight.builders import life
from tests.insight.fakes import DIRECTORY, FakeConsultations, FakePlans, insight_service
from tests.signing import EXECUTIVE, PLANNER, as_

NOW = datetime(2026, 5, 20, 3, 0, tzinfo=UTC)  # FY2569 Q3
HEAD = as_(Role.HEAD, officer_id="eng-head", department="engineering")
OFFICER = as_(Role.OFFICER, officer_id="eng-somchai", department="engineering")
FAKE_PDF = b"%PDF-1.7 drawn by the test"


def build(directory: Directory = DIRECTORY) -> InsightService:
    return insight_service(NOW, directory)


@pytest.fixture
def service() -> InsightService:
    return build()


@pytest.fixture
async def client(service: InsightService) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=service.api)
    async with httpx.AsyncClient(transport=transport, base_url="http://insight") as c:
        yield c


def stored(service: InsightService) -> tuple[int, int]:
    """(consultations, plans) kept by the fakes."""
    h = service.handlers
    assert isinstance(h.consultations, FakeConsultations) and isinstance(h.plans, FakePlans)
    return len(h.consultations.docs), len(h.plans.docs)


def consultation(**over: Any) -> dict[str, Any]:
    return {
        "held_on": "2026-05-17",
        "kind": "village_forum",
        "title": "ประชาคมหมู่ 4",
        "participants": {"residents": 38},
        **over,
    }


def fields(r: httpx.Response) -> list[str]:
    return [str(d.get("field")) for d in r.json().get("details", [])]


# ------------------------------------------------------------------ 1. published reports


@pytest.mark.parametrize(
    "path",
    [
        "/v1/reports/2569/3/nodept0.html",
        "/v1/reports/2569/3/nodept0.pdf",
        "/v1/reports/2569/3/กอง.pdf",
        "/v1/reports/2569/3/a%22b.pdf",
        "/v1/reports/2569/3/a%0D%0AX-Evil:%201.pdf",
        "/v1/reports/2569/3/%24where.html",
    ],
)
async def test_a_report_of_a_department_the_directory_does_not_know_is_404_and_not_drawn(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    async def never(*_: Any, **__: Any) -> dict[str, Any]:
        raise AssertionError("a report was built for a department that does not exist")

    monkeypatch.setattr(report, "build", never)
    r = await client.get(path)  # anonymous: the reports are public
    assert r.status_code == 404, r.text
    assert r.json()["error"] == "not_found"
    assert "x-evil" not in {k.lower() for k in r.headers}


async def test_the_list_of_reports_links_only_to_reports_that_exist(
    service: InsightService, client: httpx.AsyncClient
) -> None:
    for n, dept in enumerate(["engineering", "nodept0"]):
        for e in life(
            f"SPT-R-{n}",
            received_at=datetime(2026, 4, 10, 3, tzinfo=UTC),
            category="road",
            department=dept,
        ):
            await service.handlers.on_event(e)
    listed = (await client.get("/v1/reports")).json()["reports"]
    assert {x["department"] for x in listed} == {None, "engineering"}


def content_disposition_parts(value: str) -> dict[str, str]:
    parts = [p.strip() for p in value.split(";")]
    assert parts[0] == "inline"
    return dict(p.split("=", 1) for p in parts[1:])


@pytest.mark.parametrize(
    ("dept", "ascii_name", "encoded"),
    [
        ("engineering", '"insight-2569-q3-engineering.pdf"', "insight-2569-q3-engineering.pdf"),
        ("กอง", '"insight-2569-q3-_.pdf"', "insight-2569-q3-%E0%B8%81%E0%B8%AD%E0%B8%87.pdf"),
        ('a"b', '"insight-2569-q3-a_b.pdf"', "insight-2569-q3-a%22b.pdf"),
        (
            "a\r\nX-Evil: 1",
            '"insight-2569-q3-a_X-Evil_1.pdf"',
            "insight-2569-q3-a%0D%0AX-Evil%3A%201.pdf",
        ),
    ],
)
def test_the_pdf_name_is_ascii_with_the_real_name_in_rfc_5987_form(
    dept: str, ascii_name: str, encoded: str
) -> None:
    value = http.content_disposition(2569, 3, dept)
    value.encode("ascii")  # a header is latin-1; ASCII is what every client reads
    assert "\r" not in value and "\n" not in value
    parts = content_disposition_parts(value)
    assert parts["filename"] == ascii_name
    assert parts["filename*"] == "UTF-8''" + encoded


async def test_a_department_with_a_thai_code_gets_its_pdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """A directory may name a department in Thai: its PDF is served, not a 500."""

    def drawn(built: dict[str, Any], font_dir: Path) -> bytes:
        return FAKE_PDF

    monkeypatch.setattr(report, "render_pdf", drawn)
    directory = Directory(org_id=DIRECTORY.org_id, departments={"กอง": "กองช่าง", 'a"b': "x"})
    transport = httpx.ASGITransport(app=build(directory).api)
    async with httpx.AsyncClient(transport=transport, base_url="http://insight") as c:
        for dept, encoded in (("กอง", "%E0%B8%81%E0%B8%AD%E0%B8%87"), ('a"b', "a%22b")):
            r = await c.get(f"/v1/reports/2569/3/{dept}.pdf")
            assert r.status_code == 200, r.text
            assert r.content == FAKE_PDF
            parts = content_disposition_parts(r.headers["content-disposition"])
            assert parts["filename*"] == f"UTF-8''insight-2569-q3-{encoded}.pdf"
            assert parts["filename"].count('"') == 2


# ------------------------------------------------------------------ 2. writes stay in scope


async def test_a_head_records_no_consultation_for_another_department(
    service: InsightService, client: httpx.AsyncClient
) -> None:
    for who in (HEAD, OFFICER):
        r = await client.post(
            "/v1/consultations", headers=who, json=consultation(department="health")
        )
        assert r.status_code == 403, r.text
        assert r.json()["error"] == "forbidden"
    assert stored(service) == (0, 0)
    own = await client.post(
        "/v1/consultations", headers=HEAD, json=consultation(department="engineering")
    )
    assert own.status_code == 201, own.text
    # the executives and the planner record for any department
    for n, who in enumerate((EXECUTIVE, PLANNER)):
        r = await client.post(
            "/v1/consultations",
            headers=who,
            json=consultation(consultation_id=f"c-{n}", department="health"),
        )
        assert r.status_code == 201, r.text
    assert stored(service) == (3, 0)


@pytest.mark.parametrize("dept", ["finance-x", "$where", "nodept0"])
async def test_a_consultation_of_a_department_the_directory_does_not_know_is_422(
    service: InsightService, client: httpx.AsyncClient, dept: str
) -> None:
    r = await client.post(
        "/v1/consultations", headers=EXECUTIVE, json=consultation(department=dept)
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "validation_failed" and fields(r) == ["department"]
    assert stored(service) == (0, 0)


@pytest.mark.parametrize("dept", ["no-such-dept", "%24where", "%E0%B8%81%E0%B8%AD%E0%B8%87"])
@pytest.mark.parametrize(
    ("tail", "body"),
    [
        ("findings", {"finding_id": "f1", "text": "ถนนพังซ้ำ"}),
        (
            "actions",
            {
                "finding_id": "f1",
                "text": "ตรวจรับงาน",
                "owner": "head",
                "due": "2026-06-30",
                "metric": "percent_reopened",
                "expected": "ลดลง",
            },
        ),
        ("actions/a1/followups", {"note": "เริ่มแล้ว", "status": "in_progress"}),
    ],
)
async def test_a_plan_of_a_department_the_directory_does_not_know_is_404(
    service: InsightService,
    client: httpx.AsyncClient,
    dept: str,
    tail: str,
    body: dict[str, Any],
) -> None:
    r = await client.post(f"/v1/plans/{dept}/2569/3/{tail}", headers=EXECUTIVE, json=body)
    assert r.status_code == 404, r.text
    assert r.json()["error"] == "not_found"
    assert stored(service) == (0, 0)


# ------------------------------------------------------------------ 3. what was said is bounded


@pytest.mark.parametrize(
    ("said", "field"),
    [
        (["ก" * 4001], "said.0"),
        (["น้ำท่วม"] * 51, "said"),
    ],
)
async def test_what_was_said_is_bounded(
    service: InsightService, client: httpx.AsyncClient, said: list[str], field: str
) -> None:
    r = await client.post("/v1/consultations", headers=OFFICER, json=consultation(said=said))
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "validation_failed" and field in fields(r)
    assert stored(service) == (0, 0)
    ok = await client.post(
        "/v1/consultations", headers=OFFICER, json=consultation(said=["ก" * 4000] * 2)
    )
    assert ok.status_code == 201, ok.text


# ------------------------------------------------------------------ 4. Buddhist-Era dates


async def test_a_consultation_held_on_a_buddhist_era_date_is_filed_in_its_fiscal_year(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post(
        "/v1/consultations", headers=OFFICER, json=consultation(held_on="2569-05-01")
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["held_on"], body["fiscal_year"], body["quarter"]) == ("2026-05-01", 2569, 3)


@pytest.mark.parametrize("held_on", ["3112-05-01", "1800-01-01", "2300-01-01", "๓๑๑๒-๐๕-๐๑"])
async def test_a_date_out_of_any_era_is_422_naming_it(
    service: InsightService, client: httpx.AsyncClient, held_on: str
) -> None:
    r = await client.post("/v1/consultations", headers=OFFICER, json=consultation(held_on=held_on))
    assert r.status_code == 422, r.text
    assert fields(r) == ["held_on"]
    assert stored(service) == (0, 0)


async def test_plan_dates_in_the_buddhist_era_are_kept_in_the_common_era(
    client: httpx.AsyncClient,
) -> None:
    base = "/v1/plans/engineering/2569/3"
    r = await client.post(base + "/findings", headers=HEAD, json={"finding_id": "f1", "text": "x"})
    assert r.status_code == 201, r.text
    action = {
        "action_id": "a1",
        "finding_id": "f1",
        "text": "ตรวจรับงาน",
        "owner": "head",
        "due": "2569-06-30",
        "metric": "percent_reopened",
        "expected": "ลดลง",
    }
    r = await client.post(base + "/actions", headers=HEAD, json=action)
    assert r.status_code == 201, r.text
    assert r.json()["actions"][0]["due"] == "2026-06-30"
    r = await client.post(
        base + "/actions/a1/followups",
        headers=HEAD,
        json={"note": "เริ่มแล้ว", "status": "in_progress", "on": "2569-05-21"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["actions"][0]["followups"][0]["on"] == "2026-05-21"
    r = await client.post(
        base + "/actions", headers=HEAD, json={**action, "action_id": "a2", "due": "3112-06-30"}
    )
    assert r.status_code == 422 and fields(r) == ["due"]
    r = await client.post(
        base + "/actions/a1/followups",
        headers=HEAD,
        json={"note": "x", "status": "in_progress", "on": "9999-01-01"},
    )
    assert r.status_code == 422 and fields(r) == ["on"]


async def test_hotspots_until_a_buddhist_era_date(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/insight/hotspots", params={"until": "2569-05-01"}, headers=HEAD)
    assert r.status_code == 200, r.text
    assert r.json()["until"] == "2026-05-01"
    for bad in ("3112-05-01", "2026-13-01", "²⁰²⁶-01-01"):
        r = await client.get("/v1/insight/hotspots", params={"until": bad}, headers=HEAD)
        assert r.status_code == 400, r.text
        assert fields(r) == ["until"]


# ------------------------------------------------------------------ numbers in a query


@pytest.mark.parametrize("fy", ["²", "①", "٢٥٦٩", "２５６９", "9" * 5000, "-1", "2569.0"])
async def test_a_number_in_a_query_is_arabic_or_thai_digits_or_a_400(
    client: httpx.AsyncClient, fy: str
) -> None:
    r = await client.get("/v1/insight/figures", params={"fy": fy}, headers=HEAD)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_query" and fields(r) == ["fy"]


async def test_a_fiscal_year_in_thai_digits_is_read(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/insight/figures", params={"fy": "๒๕๖๙"}, headers=HEAD)
    assert r.status_code == 200 and r.json()["fiscal_year"] == 2569


@pytest.mark.parametrize("fy", ["²", "9" * 5000])
async def test_a_path_number_that_is_not_one_is_a_400(client: httpx.AsyncClient, fy: str) -> None:
    r = await client.get(f"/v1/reports/{fy}/3.html")
    assert r.status_code == 400, r.text
    assert fields(r) == ["fiscal_year"]


@pytest.mark.parametrize(
    "path", ["/v1/insight/quarters/2569/3?department=nodept0", "/v1/insight/causes?department=x"]
)
async def test_a_figure_of_a_department_the_directory_does_not_know_is_400_not_empty(
    client: httpx.AsyncClient, path: str
) -> None:
    r = await client.get(path, headers=EXECUTIVE)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_query" and fields(r) == ["department"]


async def test_a_figure_of_a_known_department_is_answered(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/insight/causes?department=engineering", headers=EXECUTIVE)
    assert r.status_code == 200, r.text
