"""The survey a resolved case sends, and general campaigns, on the survey service (faked):
every refusal is a plain Thai sentence on the page, never an error page."""

from __future__ import annotations

from typing import Any

import httpx

from services.portal.ports import Reply
from tests.portal.fakes import FakeUpstream, portal

QUESTIONS: list[dict[str, Any]] = [
    {"id": "process", "type": "scale", "required": True, "label_th": "ด้านกระบวนการ",
     "label_en": "Process", "min": 1, "max": 5,
     "scale_labels_th": ["ไม่พอใจมาก", "ไม่พอใจ", "ปานกลาง", "พอใจ", "พอใจมาก"],
     "scale_labels_en": ["1", "2", "3", "4", "5"]},
    {"id": "fixed", "type": "choice", "required": True, "label_th": "แก้ไขจริงหรือไม่",
     "label_en": "Fixed?", "options": ["yes", "no"],
     "option_labels_th": {"yes": "ได้รับการแก้ไขแล้ว", "no": "ยังไม่ได้รับการแก้ไข"},
     "option_labels_en": {"yes": "Yes", "no": "No"}},
    {"id": "comment", "type": "text", "required": False, "label_th": "ข้อเสนอแนะ",
     "label_en": "Comment"},
]  # fmt: skip
SURVEY = {
    "survey_id": "svy-SPT-2570-000001-3",
    "case_id": "SPT-2570-000001",
    "status": "open",
    "version": "case-v1",
    "title_th": "แบบสอบถามความพึงพอใจ",
    "title_en": "Satisfaction",
    "questions": QUESTIONS,
}
TOKEN = "tok_abc"


def client(upstream: FakeUpstream) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=portal(upstream).asgi)
    return httpx.AsyncClient(transport=transport, base_url="http://portal")


def survey_upstream(answer: Reply | None = None) -> FakeUpstream:
    upstream = FakeUpstream()
    upstream.answer("survey", "GET", f"/v1/surveys/{TOKEN}", Reply(200, SURVEY))
    if answer is not None:
        upstream.answer("survey", "POST", f"/v1/surveys/{TOKEN}/responses", answer)
    return upstream


async def test_the_form_shows_the_versioned_questionnaire_with_labelled_fields() -> None:
    async with client(survey_upstream()) as c:
        r = await c.get(f"/survey/{TOKEN}")
    assert r.status_code == 200
    assert "แบบสอบถามความพึงพอใจ" in r.text and "case-v1" in r.text
    assert r.text.count('type="radio" id="q-process-') == 5
    assert '<label for="q-process-4">4 พอใจ</label>' in r.text
    assert "<legend>ด้านกระบวนการ *</legend>" in r.text
    assert '<label for="q-comment">' in r.text


async def test_an_answer_goes_to_the_survey_service_and_thanks_the_citizen() -> None:
    upstream = survey_upstream(Reply(201, {"response_id": "rsp-1"}))
    async with client(upstream) as c:
        r = await c.post(
            f"/survey/{TOKEN}", data={"process": "๔", "fixed": "yes", "comment": "ดีมาก"}
        )
    assert r.status_code == 201 and "ขอบคุณ" in r.text
    sent = upstream.calls[-1]
    assert sent["path"] == f"/v1/surveys/{TOKEN}/responses"
    assert sent["json"] == {"answers": {"process": 4, "fixed": "yes", "comment": "ดีมาก"}}


async def test_already_answered_expired_and_down_are_plain_thai_messages() -> None:
    cases = {
        409: (Reply(409, {"error": "already_answered"}), "ตอบแบบสอบถามนี้ไปแล้ว"),
        410: (Reply(410, {"error": "survey_expired"}), "หมดเวลาตอบแล้ว"),
        503: (Reply(503), "ขณะนี้ระบบแบบสอบถามขัดข้อง"),
    }
    for status, (reply, words) in cases.items():
        async with client(survey_upstream(reply)) as c:
            r = await c.post(f"/survey/{TOKEN}", data={"process": "4", "fixed": "yes"})
        assert r.status_code == status
        assert r.headers["content-type"].startswith("text/html")
        assert words in r.text
        assert "Traceback" not in r.text and '"error"' not in r.text


async def test_opening_an_expired_answered_or_unknown_link() -> None:
    expired = FakeUpstream()
    expired.answer("survey", "GET", f"/v1/surveys/{TOKEN}", Reply(410, {"error": "expired"}))
    answered = FakeUpstream()
    answered.answer(
        "survey", "GET", f"/v1/surveys/{TOKEN}", Reply(200, {**SURVEY, "status": "answered"})
    )
    down = FakeUpstream()
    down.answer("survey", "GET", f"/v1/surveys/{TOKEN}", Reply(503))
    for upstream, status, words in (
        (expired, 410, "หมดเวลาตอบแล้ว"),
        (answered, 409, "ตอบแบบสอบถามนี้ไปแล้ว"),
        (down, 503, "ลองใหม่อีกครั้งในภายหลัง"),
        (FakeUpstream(), 404, "ไม่พบแบบสอบถามนี้"),
    ):
        async with client(upstream) as c:
            r = await c.get(f"/survey/{TOKEN}")
        assert r.status_code == status and words in r.text


async def test_a_refused_answer_shows_the_form_again_with_the_question_marked() -> None:
    refused = Reply(
        422,
        {
            "error": "validation_failed",
            "details": [{"field": "answers.fixed", "message": "required"}],
        },
    )
    async with client(survey_upstream(refused)) as c:
        r = await c.post(f"/survey/{TOKEN}", data={"process": "5"})
    assert r.status_code == 422
    assert 'role="alert"' in r.text and 'id="err-fixed"' in r.text
    assert 'value="5" checked' in r.text, "what was answered stays filled in"


async def test_a_campaign_uses_the_same_form_and_a_submission_id_for_retries() -> None:
    upstream = FakeUpstream()
    campaign = {"id": "general-2570", **{k: v for k, v in SURVEY.items() if k != "case_id"}}
    upstream.answer("survey", "GET", "/v1/campaigns/general-2570", Reply(200, campaign))
    upstream.answer("survey", "POST", "/v1/campaigns/general-2570/responses", Reply(201, {}))
    async with client(upstream) as c:
        page = await c.get("/campaigns/general-2570")
        assert page.status_code == 200 and 'name="submission_id"' in page.text
        r = await c.post(
            "/campaigns/general-2570",
            data={"process": "3", "fixed": "no", "submission_id": "abc_123"},
        )
        assert r.status_code == 201
        assert upstream.calls[-1]["json"] == {
            "answers": {"process": 3, "fixed": "no"},
            "submission_id": "abc_123",
        }
        upstream.answer("survey", "POST", "/v1/campaigns/general-2570/responses", Reply(409, {}))
        closed = await c.post("/campaigns/general-2570", data={"process": "3", "fixed": "no"})
        assert closed.status_code == 409 and "ปิดรับคำตอบแล้ว" in closed.text
        missing = await c.get("/campaigns/nope")
        assert missing.status_code == 404 and "ไม่พบการสำรวจนี้" in missing.text
