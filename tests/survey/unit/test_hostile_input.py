"""The survey API over what anyone may send: digits int() refuses, a CSV the csv module
gives up on, paths no route has. Each is a 4xx in the API's shape, never a 500, with
nothing stored and nothing published."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from services.survey.bootstrap import SurveyService
from shared.roles import Role
from shared.topics import Topic
from tests.signing import as_, sign_in
from tests.survey.builders import ALL_FIVE, Wired, answers, service_on, wired
from tests.survey.unit.test_handlers import ask

# Each passes str.isdigit(); int() refuses every one.
STRANGE = ["²", "①", "1" * 5000]
OFFICER = as_(Role.OFFICER, department="engineering", officer_id="eng-01")


def campaign_answers(**over: object) -> dict[str, object]:
    return {**{q: 5 for q in ALL_FIVE}, "respondent": "service_user", **over}


CSV_HEAD = "form_no,responded_at,respondent,process,channels,staff,facilities,quality\n"


@pytest.fixture
async def setting() -> AsyncIterator[tuple[Wired, httpx.AsyncClient]]:
    w = wired()
    service: SurveyService = sign_in(service_on(w))
    transport = httpx.ASGITransport(app=service.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://survey") as c:
        yield w, c


def nothing_kept(w: Wired) -> None:
    assert w.responses.all() == []
    assert w.publisher.on(Topic.SURVEY_RESPONDED) == []


@pytest.mark.parametrize("strange", STRANGE)
async def test_a_strange_score_is_a_422_naming_the_question(
    setting: tuple[Wired, httpx.AsyncClient], strange: str
) -> None:
    w, c = setting
    token = await ask(w)
    case = await c.post(
        f"/v1/surveys/{token}/responses", json={"answers": answers(process=strange)}
    )
    campaign = await c.post(
        "/v1/campaigns/general-2569/responses", json={"answers": campaign_answers(process=strange)}
    )
    for r in (case, campaign):
        assert r.status_code == 422, r.text[:200]
        assert r.json()["error"] == "validation_failed"
        assert [d["field"] for d in r.json()["details"]] == ["answers.process"]
    nothing_kept(w)


async def test_a_score_in_thai_digits_is_still_a_score(
    setting: tuple[Wired, httpx.AsyncClient],
) -> None:
    w, c = setting
    r = await c.post(
        "/v1/campaigns/general-2569/responses", json={"answers": campaign_answers(process="๔")}
    )
    assert r.status_code == 201
    [kept] = w.responses.all()
    assert kept.answer("process") == 4


async def test_a_strange_score_in_a_paper_form_rejects_its_row_only(
    setting: tuple[Wired, httpx.AsyncClient],
) -> None:
    _, c = setting
    body = (
        CSV_HEAD + "001,2026-05-14,service_user,²,3,3,3,3\n002,2026-05-14,service_user,4,4,4,4,4\n"
    )
    r = await c.post(
        "/v1/campaigns/general-2569/responses",
        content=body.encode(),
        headers={**OFFICER, "content-type": "text/csv"},
    )
    assert r.status_code == 200, r.text[:200]
    assert r.json()["accepted"] == 1
    assert [(x["row"], x["field"]) for x in r.json()["rejected"]] == [(2, "answers.process")]


@pytest.mark.parametrize("where", ["header", "row", "row after a good one"])
async def test_a_csv_cell_past_the_csv_modules_limit_is_a_400_and_nothing_is_kept(
    setting: tuple[Wired, httpx.AsyncClient], where: str
) -> None:
    w, c = setting
    huge = "x" * 200_000
    good = "001,2026-05-14,service_user,4,4,4,4,4\n"
    body = {
        "header": f"form_no,{huge}\n001,5\n",
        "row": CSV_HEAD + f"001,2026-05-14,service_user,4,4,4,4,{huge}\n",
        "row after a good one": CSV_HEAD + good + f"002,2026-05-14,service_user,4,4,4,4,{huge}\n",
    }[where]
    r = await c.post(
        "/v1/campaigns/general-2569/responses",
        content=body.encode(),
        headers={**OFFICER, "content-type": "text/csv"},
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_csv", r.text[:200]
    assert "not readable as CSV" in r.json()["message"]
    nothing_kept(w)


@pytest.mark.parametrize("strange", STRANGE)
async def test_a_strange_fiscal_year_is_a_400(
    setting: tuple[Wired, httpx.AsyncClient], strange: str
) -> None:
    _, c = setting
    answers_ = [
        await c.get("/v1/satisfaction", params={"fiscal_year": strange}),
        await c.get(f"/v1/reports/satisfaction/{strange}"),
        await c.get("/v1/alerts", params={"fiscal_year": strange}, headers=OFFICER),
    ]
    for r in answers_:
        assert r.status_code == 400 and r.json()["error"] == "bad_fiscal_year", r.text[:200]
        assert r.json()["details"][0]["field"] == "fiscal_year"


async def test_a_fiscal_year_in_thai_digits_is_read(
    setting: tuple[Wired, httpx.AsyncClient],
) -> None:
    _, c = setting
    r = await c.get("/v1/satisfaction", params={"fiscal_year": "๒๕๖๙"})
    assert r.status_code == 200


async def test_no_route_and_a_wrong_method_answer_in_the_error_shape(
    setting: tuple[Wired, httpx.AsyncClient],
) -> None:
    _, c = setting
    missing = await c.get("/v1/nowhere")
    wrong = await c.delete("/v1/satisfaction")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed"
    assert "GET" in wrong.headers["allow"]
