"""What anyone may send the public site: digits int() refuses, bodies streamed past their
limit, case texts written as spreadsheet formulas. Each gets the page the site gives any
other bad input, never a 500, and nothing reaches another service."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.portal.ports import Reply
from tests.portal.fakes import FakeUpstream, case, portal
from tests.portal.unit.test_report_form import ACCEPTED, form_fields
from tests.portal.unit.test_survey_pages import SURVEY, TOKEN, survey_upstream

# Each passes str.isdigit(); int() refuses every one.
STRANGE = ["²", "①", "1" * 5000]


def client(upstream: FakeUpstream, **settings: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=portal(upstream, **settings).asgi)
    return httpx.AsyncClient(transport=transport, base_url="http://portal")


async def chunked(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.parametrize("strange", STRANGE)
async def test_strange_digits_in_a_page_query_or_year_are_the_default_or_a_404(
    strange: str,
) -> None:
    upstream = FakeUpstream()
    async with client(upstream) as c:
        listed = await c.get("/cases", params={"page": strange})
        stats = await c.get("/stats", params={"fy": strange})
        satisfaction = await c.get(f"/ita/satisfaction/{strange}")
        evidence = await c.get(f"/ita/evidence/{strange}")
        insight = await c.get(f"/ita/insight/{strange}/1")
    assert listed.status_code == 200 and stats.status_code == 200
    for r in (satisfaction, evidence, insight):
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert upstream.calls == [], "no year that is not one is asked of another service"


async def test_thai_digits_still_choose_the_year_and_the_page() -> None:
    upstream = FakeUpstream()
    async with client(upstream) as c:
        await c.get("/ita/satisfaction/๒๕๖๙")
        listed = await c.get("/cases", params={"page": "๑"})
    assert upstream.calls[0]["path"] == "/v1/reports/satisfaction/2569"
    assert listed.status_code == 200


@pytest.mark.parametrize("strange", STRANGE)
async def test_a_report_with_strange_digits_is_the_form_again_or_goes_without_them(
    strange: str,
) -> None:
    upstream = FakeUpstream()
    upstream.answer("intake", "POST", "/v1/submissions", ACCEPTED)
    async with client(upstream) as c:
        token, answer = await form_fields(c)
        wrong = await c.post(
            "/report", data={"text": "ถนนพัง", "human_token": token, "human_answer": strange}
        )
        forged = await c.post(
            "/report",
            data={"text": "ถนนพัง", "human_token": f"{strange}.1.1.x", "human_answer": answer},
        )
        assert upstream.calls == []
        village = await c.post(
            "/report",
            data={
                "text": "ถนนพัง",
                "village": strange,
                "human_token": token,
                "human_answer": answer,
            },
        )
    for r in (wrong, forged):
        assert r.status_code == 422 and 'id="err-human_answer"' in r.text
    assert village.status_code == 202
    assert "location" not in upstream.calls[-1]["json"], "no village that is not one"


@pytest.mark.parametrize("strange", STRANGE)
async def test_a_strange_score_goes_to_the_survey_service_as_typed(strange: str) -> None:
    refused = Reply(
        422,
        {
            "error": "validation_failed",
            "details": [{"field": "answers.process", "message": "must be an integer from 1 to 5"}],
        },
    )
    upstream = survey_upstream(refused)
    async with client(upstream) as c:
        r = await c.post(f"/survey/{TOKEN}", data={"process": strange, "fixed": "yes"})
    assert r.status_code == 422 and str(SURVEY["title_th"]) in r.text
    assert upstream.calls[-1]["json"]["answers"]["process"] == strange


async def test_the_cases_csv_opens_no_formula_in_a_spreadsheet() -> None:
    service = portal()
    texts = ['=HYPERLINK("http://evil.example","ดูรูป")', "+66 81 234 5678", "-1", "@SUM(A1)"]
    for n, text in enumerate(texts, start=1):
        service.handlers.model.take_case(case(f"SPT-2570-00000{n}", text=text))
    transport = httpx.ASGITransport(app=service.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://portal") as c:
        r = await c.get("/cases.csv")
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.text.removeprefix("\ufeff"))))
    assert sorted(row["text"] for row in rows) == sorted("'" + t for t in texts)
    assert {row["lat"] for row in rows} == {"15.651"}, "numbers stay numbers"


# --------------------------------------------------------------------------- bodies


async def test_a_chunked_survey_answer_past_its_limit_is_a_413_and_nothing_is_sent() -> None:
    upstream = survey_upstream(Reply(201, {}))
    headers = {"content-type": "application/x-www-form-urlencoded"}
    async with client(upstream) as c:
        one_field = await c.post(
            f"/survey/{TOKEN}",
            content=chunked(b"comment=", *[b"x" * 65_536] * 20),
            headers=headers,
        )
        many_fields = await c.post(
            f"/survey/{TOKEN}",
            content=chunked(*[b"f%d=%s&" % (i, b"y" * 20_000) for i in range(60)]),
            headers=headers,
        )
    for r in (one_field, many_fields):
        assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    assert [c for c in upstream.calls if c["method"] == "POST"] == []


async def test_a_chunked_photo_past_the_form_limit_is_a_413_page_as_with_its_length() -> None:
    upstream = FakeUpstream()
    upstream.answer("intake", "POST", "/v1/submissions", ACCEPTED)
    limit = 200_000
    async with client(upstream, max_form_bytes=limit) as c:
        token, answer = await form_fields(c)
        fields = {"text": "ถนนพัง", "human_token": token, "human_answer": answer}
        photo = {"photo": ("big.jpg", b"\xff" * (2 * limit), "image/jpeg")}
        declared = await c.post("/report", data=fields, files=photo)
        request = c.build_request("POST", "/report", data=fields, files=photo)
        body = request.read()
        headers = {"content-type": request.headers["content-type"]}
        streamed = await c.post(
            "/report",
            content=chunked(*(body[i : i + 8192] for i in range(0, len(body), 8192))),
            headers=headers,
        )
    for r in (declared, streamed):
        assert r.status_code == 413 and 'id="err-photo"' in r.text, r.text[:200]
    assert upstream.calls == []


async def test_an_unreadable_report_form_is_the_form_again_with_a_400() -> None:
    async with client(FakeUpstream()) as c:
        r = await c.post("/report", content=b"x", headers={"content-type": "multipart/form-data"})
    assert r.status_code == 400 and re.search(r'class="errors"', r.text)
