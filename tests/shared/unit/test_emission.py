"""Event wiring declared once: each envelope class names its topic and its key field."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import ClassVar, Literal

import pytest

import shared.events.compliance
import shared.events.intake
import shared.events.survey  # noqa: F401  (registers their classes)
from shared.events.cases import CaseClosed, CaseClosedPayload
from shared.events.envelope import REGISTRY, Cause, Contract, Envelope, new_event_id
from shared.events.intake import RawPayloadReceived, RawPayloadReceivedPayload
from shared.events.survey import SurveyResponded, SurveyRespondedPayload
from shared.outbox import Emission
from shared.topics import Topic

AT = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def closed(case_id: str = "SPT-2569-000001") -> CaseClosed:
    return CaseClosed.caused_by(
        Cause("sraphonthong", "corr-1"),
        CaseClosedPayload(case_id=case_id, closed_at=AT, seq=4),
        case_id,
        "closed",
        "4",
    )


def test_every_event_class_declares_its_topic() -> None:
    assert len(REGISTRY) >= 25
    for cls in REGISTRY.values():
        assert isinstance(cls.topic, Topic), cls.__name__


def test_the_wiring_is_not_part_of_the_json() -> None:
    body = json.loads(closed().to_bytes())
    assert "topic" not in body and "keyed_by" not in body
    assert set(body) == {
        "event_id",
        "type",
        "schema_version",
        "occurred_at",
        "org_id",
        "correlation_id",
        "payload",
    }


def test_a_derived_event_takes_its_id_and_belongings_from_the_cause() -> None:
    event = closed()
    assert event.event_id == new_event_id("SPT-2569-000001", "closed", "4")
    assert (event.org_id, event.correlation_id) == ("sraphonthong", "corr-1")
    at = CaseClosed.caused_by(Cause("o", None, AT), event.payload, "x").occurred_at
    assert at == AT
    with pytest.raises(ValueError):
        CaseClosed.caused_by(Cause("o", None), event.payload)  # a random id is no derivation


def test_an_emission_goes_to_its_class_topic_under_its_key_field() -> None:
    emission = Emission.of(closed())
    assert (emission.topic, emission.key) == (Topic.CASE_CLOSED, "SPT-2569-000001")
    item = emission.to_item()
    assert item["topic"] == "case.closed" and item["key"] == "SPT-2569-000001"
    assert item["event_id"] == str(new_event_id("SPT-2569-000001", "closed", "4"))
    assert Emission.of(closed(), key="other").key == "other"


def test_a_response_is_keyed_by_its_response_even_when_it_names_a_case() -> None:
    response = SurveyResponded(
        org_id="o",
        payload=SurveyRespondedPayload(
            response_id="R1",
            source="case",
            case_id="SPT-2569-000001",
            questionnaire_version="v1",
            channel="web",
            responded_at=AT,
            fiscal_year=2569,
            month="2026-05",
            answers=(),
        ),
    )
    assert Emission.of(response).key == "R1"


def test_a_raw_payload_has_no_key_field_and_must_be_given_one() -> None:
    raw = RawPayloadReceived(
        event_id=uuid.uuid4(),
        org_id="o",
        payload=RawPayloadReceivedPayload(channel="internal", received_at=AT, body="{}"),
    )
    with pytest.raises(TypeError):
        Emission.of(raw)
    assert Emission.of(raw, key="alert-1").key == "alert-1"


def test_a_class_without_a_topic_or_with_a_wrong_key_field_is_refused_at_import() -> None:
    class _Payload(Contract):
        thing_id: str

    with pytest.raises(TypeError, match="declares no topic"):

        class NoTopic(Envelope[_Payload]):
            type: Literal["NoTopic"] = "NoTopic"

    with pytest.raises(TypeError, match="not a payload field"):

        class WrongKey(Envelope[_Payload]):
            topic: ClassVar[Topic] = Topic.CASE_CLOSED
            keyed_by: ClassVar[str | None] = "case_id"
            type: Literal["WrongKey"] = "WrongKey"
