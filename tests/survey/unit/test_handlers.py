"""Survey use cases on hand-written fakes: ask, answer once, aggregate exactly, alert."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.survey.domain.errors import (
    AlreadyAnswered,
    CampaignClosed,
    InvalidAnswers,
    SurveyExpired,
    SurveyNotFound,
)
from services.survey.domain.model import ResponseSubmission, Slice, Tally
from shared.events.survey import SurveyResponded
from shared.topics import Topic
from tests.survey.builders import NOW, ORG, Wired, answers, resolved, wired


def submit(body: dict[str, object], **over: object) -> ResponseSubmission:
    return ResponseSubmission.model_validate({"answers": body, **over})


async def ask(w: Wired, case_id: str = "SPT-2569-000001", **over: object) -> str:
    survey = await w.handlers.on_case_resolved(resolved(case_id, **over))  # type: ignore[arg-type]
    assert survey is not None
    return survey.token


async def deliver_responded(w: Wired) -> list[SurveyResponded]:
    """Hand every published survey.responded to the consumer, as Kafka would."""
    events = [SurveyResponded.model_validate(e) for e in w.publisher.on(Topic.SURVEY_RESPONDED)]
    for event in events:
        await w.handlers.on_survey_responded(event)
    return events


async def test_a_resolved_case_gets_one_survey_whatever_the_redeliveries() -> None:
    w = wired()
    event = resolved()
    first = await w.handlers.on_case_resolved(event)
    again = await w.handlers.on_case_resolved(event)
    assert first is not None and again is not None and again.token == first.token
    requested = w.publisher.on(Topic.SURVEY_REQUESTED)
    assert len(requested) == 1
    p = requested[0]["payload"]
    assert p["token"] == first.token and p["link"].endswith(first.token)
    assert p["recipient_ref"] == "ct_abc" and p["channel"] == "line"
    assert first.expires_at == NOW + timedelta(days=30)


async def test_improvement_actions_are_not_surveyed() -> None:
    w = wired()
    assert await w.handlers.on_case_resolved(resolved(kind="improvement_action")) is None
    assert w.publisher.on(Topic.SURVEY_REQUESTED) == []


async def test_one_response_per_token_and_it_is_published() -> None:
    w = wired()
    token = await ask(w)
    response = await w.handlers.respond(token, submit(answers(4)))
    with pytest.raises(AlreadyAnswered):
        await w.handlers.respond(token, submit(answers(1)))
    published = w.publisher.on(Topic.SURVEY_RESPONDED)
    assert [e["payload"]["response_id"] for e in published] == [response.response_id]
    assert published[0]["payload"]["department"] == "engineering"
    assert published[0]["payload"]["fiscal_year"] == 2569


async def test_unknown_expired_and_invalid_are_refused_and_nothing_is_stored() -> None:
    w = wired()
    token = await ask(w)
    with pytest.raises(SurveyNotFound):
        await w.handlers.respond("no-such-token", submit(answers()))
    with pytest.raises(InvalidAnswers) as caught:
        await w.handlers.respond(token, submit(answers(5, quality=6)))
    assert caught.value.details[0]["field"] == "answers.quality"
    w.clock.set(NOW + timedelta(days=31))
    with pytest.raises(SurveyExpired):
        await w.handlers.respond(token, submit(answers()))
    assert w.responses.all() == []


async def test_a_paper_form_keyed_in_late_counts_on_its_own_date() -> None:
    w = wired()
    token = await ask(w)
    w.clock.set(NOW + timedelta(days=40))  # keyed in after the token's 30 days
    on_paper = NOW + timedelta(days=3)
    response = await w.handlers.respond(token, submit(answers(), responded_at=on_paper))
    assert response.responded_at == on_paper and response.month == "2026-05"


async def test_not_fixed_reopens_the_case_through_routing_once() -> None:
    w = wired()
    token = await ask(w)
    await w.handlers.respond(token, submit(answers(3, fixed="no")))
    commands = w.publisher.on(Topic.CASE_COMMANDS)
    assert len(commands) == 1
    command = commands[0]["payload"]
    assert command["action"] == "reopen" and command["case_id"] == "SPT-2569-000001"
    assert command["params"]["reason"] and command["command_id"]
    await w.responses.sweep()  # a relay pass republishes nothing already cleared
    assert len(w.publisher.on(Topic.CASE_COMMANDS)) == 1


async def test_aggregates_are_exact_and_replays_change_nothing() -> None:
    w = wired()
    scores = [5, 4, 2, 5, 1]
    for n, score in enumerate(scores, start=1):
        token = await ask(w, f"SPT-2569-{n:06d}")
        await w.handlers.respond(token, submit(answers(score)))
    await deliver_responded(w)
    view = await w.handlers.satisfaction(ORG, 2569, "question")
    quality = next(q for q in view["items"] if q["id"] == "quality")
    assert (quality["count"], quality["sum"], quality["satisfied"]) == (5, 17, 3)
    assert quality["mean"] == 3.4 and quality["percent_satisfied"] == 60.0
    assert quality["distribution"] == {"1": 1, "2": 1, "4": 1, "5": 2}
    assert view["total"]["responses"] == 5
    before = await w.aggregates.all()
    await deliver_responded(w)  # every event a second time
    assert await w.aggregates.all() == before
    w.aggregates.clear()
    await w.handlers.rebuild()
    assert await w.aggregates.all() == before


async def test_by_department_category_channel_month_and_source() -> None:
    w = wired()
    t1 = await ask(w, "SPT-2569-000001", department="engineering", channel="line")
    t2 = await ask(w, "SPT-2569-000002", department="office", category=None, channel="phone")
    await w.handlers.respond(t1, submit(answers(5)))
    await w.handlers.respond(t2, submit(answers(2)))
    await deliver_responded(w)
    deps = await w.handlers.satisfaction(ORG, 2569, "department")
    assert {d["value"]: d["overall"]["mean"] for d in deps["items"]} == {
        "engineering": 5.0, "office": 2.0
    }  # fmt: skip
    cats = await w.handlers.satisfaction(ORG, 2569, "category")
    assert {d["value"] for d in cats["items"]} == {"road", "unspecified"}
    chans = await w.handlers.satisfaction(ORG, 2569, "channel")
    assert {d["value"] for d in chans["items"]} == {"line", "phone"}
    months = await w.handlers.satisfaction(ORG, 2569, "month")
    assert [(m["value"], m["responses"]) for m in months["items"]] == [("2026-05", 2)]
    total = await w.handlers.satisfaction(ORG, 2569, None)
    assert total["total"]["overall"]["count"] == 10  # 2 responses x 5 dimensions


async def test_responses_counted_at_the_same_moment_are_all_counted_once() -> None:
    w = wired()
    for n in range(1, 9):
        token = await ask(w, f"SPT-2569-{n:06d}")
        await w.handlers.respond(token, submit(answers(4)))
    events = [SurveyResponded.model_validate(e) for e in w.publisher.on(Topic.SURVEY_RESPONDED)]
    # Every bucket is changed by all of them at once: the losers of each race retry.
    await asyncio.gather(*(w.handlers.on_survey_responded(e) for e in events + events[:3]))
    org = await w.aggregates.get(Slice(ORG, 2569, "org", ORG))
    assert org is not None and org.responses == 8
    assert org.tally() == Tally(count=40, total=160, satisfied=40)
    assert {b.slice.by: b.responses for b in await w.aggregates.all()} == dict.fromkeys(
        ("org", "department", "category", "channel", "month", "source"), 8
    )
    # Writes that lost a race were tried again (one write per bucket and response won).
    assert w.ops.counts["buckets.replace"] + w.ops.counts["buckets.insert"] > 6 * 8


async def test_a_score_of_one_becomes_an_improvement_action_through_intake() -> None:
    w = wired()
    token = await ask(w)
    await w.handlers.respond(token, submit(answers(4, staff=1)))
    await deliver_responded(w)
    await deliver_responded(w)  # redelivered: still one alert, one action
    alerts = w.publisher.on(Topic.SATISFACTION_ALERT)
    raws = w.publisher.on(Topic.INTAKE_RAW)
    assert [a["payload"]["rule"] for a in alerts] == ["very_dissatisfied"]
    assert len(raws) == 1
    raw = raws[0]["payload"]
    body = json.loads(raw["body"])
    alert_id = alerts[0]["payload"]["alert_id"]
    assert raw["channel"] == "internal" and raw["channel_message_id"] == alert_id
    assert body == {
        "channel": "internal",
        "kind": "improvement_action",
        "text": alerts[0]["payload"]["description_th"],
        "department_hint": "engineering",
        "channel_message_id": alert_id,
    }


async def test_a_department_below_80_percent_over_90_days_raises_one_alert() -> None:
    w = wired()
    for n in range(1, 13):
        token = await ask(w, f"SPT-2569-{n:06d}")
        w.clock.set(NOW + timedelta(hours=n))
        await w.handlers.respond(token, submit(answers(3)))
    await deliver_responded(w)
    window = [a for a in w.alerts.all() if a.decision.rule == "department_low_satisfaction"]
    assert len(window) == 1
    assert window[0].decision.window_responses == 10  # fired when the 10th arrived
    assert window[0].decision.department == "engineering"


async def test_the_improvement_action_status_follows_its_case() -> None:
    from shared.events.cases import (
        CaseReceived,
        CaseReceivedPayload,
        CaseStatusChanged,
        CaseStatusChangedPayload,
        Channel,
        Kind,
    )

    w = wired()
    token = await ask(w)
    await w.handlers.respond(token, submit(answers(4, fixed="no")))
    await deliver_responded(w)
    (alert,) = w.alerts.all()
    received = CaseReceived(
        org_id=ORG,
        payload=CaseReceivedPayload(
            case_id="SPT-2569-000777",
            channel=Channel.INTERNAL,
            kind=Kind.IMPROVEMENT_ACTION,
            text="x",
            received_at=NOW,
            channel_message_id=alert.decision.alert_id,
        ),
    )
    await w.handlers.on_case_received(received)

    def changed(seq: int, status: str) -> CaseStatusChanged:
        return CaseStatusChanged(
            org_id=ORG,
            payload=CaseStatusChangedPayload(
                case_id="SPT-2569-000777", from_status="x", to_status=status, action="a", seq=seq
            ),
        )

    await w.handlers.on_case_status_changed(changed(4, "in_progress"))
    await w.handlers.on_case_status_changed(changed(3, "acknowledged"))  # late: ignored
    (tracked,) = w.alerts.all()
    assert tracked.action_case_id == "SPT-2569-000777"
    assert (tracked.action_status, tracked.action_seq) == ("in_progress", 4)


async def test_campaign_paper_forms_by_csv_are_idempotent_per_form_number() -> None:
    w = wired()
    csv_text = (
        "form_no,responded_at,respondent,process,channels,staff,facilities,quality,comment\n"
        "001,15/05/2569,service_user,5,4,5,4,5,ดีมาก\n"
        "๐๐๒,2026-05-14,stakeholder,๓,3,3,3,3,\n"
        "003,2026-05-14,service_user,6,3,3,3,3,\n"
        ",2026-05-14,service_user,5,5,5,5,5,\n"
    )
    first = await w.handlers.upload_campaign_csv("general-2569", csv_text)
    assert len(first.accepted) == 2
    assert {(r["row"], r["field"]) for r in first.rejected} == {
        (4, "answers.process"),
        (5, "form_no"),
    }
    again = await w.handlers.upload_campaign_csv("general-2569", csv_text)
    assert again.accepted == [] and sorted(again.already_recorded) == ["001", "002"]
    await deliver_responded(w)
    source = await w.handlers.satisfaction(ORG, 2569, "source")
    assert [(s["value"], s["responses"]) for s in source["items"]] == [("campaign", 2)]


async def test_a_campaign_refuses_answers_outside_its_dates() -> None:
    w = wired()
    with pytest.raises(CampaignClosed):
        await w.handlers.respond_campaign("general-2570", submit(answers(5)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scores=st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=12),
    days=st.lists(st.integers(min_value=0, max_value=200), min_size=12, max_size=12),
    seed=st.integers(min_value=0, max_value=1000),
)
async def test_any_order_any_duplicates_same_exact_totals(
    scores: list[int], days: list[int], seed: int
) -> None:
    w = wired(NOW + timedelta(days=250))
    expected_sum = 0
    for n, score in enumerate(scores):
        token = await ask(w, f"SPT-2569-{n:06d}", at=NOW - timedelta(days=200))
        at = NOW - timedelta(days=days[n])  # spread over two fiscal years' months
        await w.handlers.respond(token, submit(answers(score), responded_at=at))
        expected_sum += score
    events = [SurveyResponded.model_validate(e) for e in w.publisher.on(Topic.SURVEY_RESPONDED)]
    shuffled = events + random.Random(seed).sample(events, k=len(events) // 2)
    random.Random(seed).shuffle(shuffled)
    for event in shuffled:
        await w.handlers.on_survey_responded(event)
    totals = {}
    for fy in (2569, 2570):
        view = await w.handlers.satisfaction(ORG, fy, "question")
        quality = next((q for q in view["items"] if q["id"] == "quality"), None)
        totals[fy] = (quality["count"], quality["sum"]) if quality else (0, 0)
    assert sum(c for c, _ in totals.values()) == len(scores)
    assert sum(s for _, s in totals.values()) == expected_sum
    before = await w.aggregates.all()
    w.aggregates.clear()
    await w.handlers.rebuild()
    assert await w.aggregates.all() == before
