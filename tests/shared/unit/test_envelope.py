"""The envelope on the wire: a JSON round trip loses nothing (Thai text, UTC times), a
redelivered cause yields the same event id, and nothing forged gets in."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

import shared.events.compliance
import shared.events.intake
import shared.events.survey  # noqa: F401  (registers their classes)
from shared.events.cases import (
    CaseAssigned,
    CaseReceived,
    CaseReceivedPayload,
    Channel,
    Kind,
    Location,
)
from shared.events.compliance import project_event_id
from shared.events.envelope import REGISTRY, Cause, Envelope, new_event_id
from shared.outbox import Emission

BANGKOK = timezone(timedelta(hours=7))
AT = datetime(2026, 5, 1, 16, 30, 15, 123456, tzinfo=BANGKOK)
TEXT = "ไฟถนนดับหน้าวัด หมู่ที่ 3 ตั้งแต่เมื่อวาน 🙏"


def payload(case_id: str = "SPT-2569-000001", text: str = TEXT) -> CaseReceivedPayload:
    return CaseReceivedPayload(
        case_id=case_id,
        channel=Channel.LINE,
        kind=Kind.COMPLAINT,
        text=text,
        received_at=AT,
        location=Location(lat=14.97, lon=102.1, address="ถนนมิตรภาพ", village_no=3),
        links={"activity_id": "ประชาคม-1"},
    )


def received(message_key: str = "line:U1:m-42") -> CaseReceived:
    cause = Cause("sraphonthong", "corr-7", AT)
    return CaseReceived.caused_by(cause, payload(), message_key, "received")


def test_a_json_round_trip_loses_nothing() -> None:
    event = received()
    back = CaseReceived.model_validate_json(event.model_dump_json())
    assert back == event
    assert back.payload.text == TEXT and back.payload.location == event.payload.location
    assert back.payload.received_at == AT and back.payload.received_at.utcoffset() == AT.utcoffset()
    assert TEXT.encode("utf-8") in event.to_bytes()  # UTF-8 on the wire, not \\u escapes


def test_the_time_of_an_event_is_kept_in_utc() -> None:
    event = received()
    assert event.occurred_at == AT and event.occurred_at.tzinfo is UTC
    wire = json.loads(event.to_bytes())["occurred_at"]
    assert datetime.fromisoformat(wire.replace("Z", "+00:00")) == AT
    assert CaseReceived(org_id="o", payload=payload()).occurred_at.tzinfo is UTC


def test_a_time_without_a_zone_is_refused() -> None:
    body = json.loads(received().to_bytes())
    body["occurred_at"] = "2026-05-01T09:30:15"
    with pytest.raises(ValidationError):
        CaseReceived.model_validate(body)
    with pytest.raises(ValidationError):
        CaseReceived(org_id="o", occurred_at=datetime(2026, 5, 1), payload=payload())


def test_an_emission_item_carries_the_event_it_was_made_of() -> None:
    event = received()
    item = Emission.of(event).to_item()
    assert uuid.UUID(item["event_id"]) == event.event_id
    assert CaseReceived.model_validate_json(item["value"]) == event
    assert item["key"] == event.payload.case_id == Emission.of(event).key
    assert Emission.of(event, key="S-2").to_item()["key"] == "S-2"


def test_a_key_field_without_a_value_is_refused_rather_than_sent_unkeyed() -> None:
    # Built without validation: as an optional key field left out would be.
    keyless = payload().model_copy(update={"case_id": None})
    event = CaseReceived(org_id="o", payload=payload()).model_copy(update={"payload": keyless})
    with pytest.raises(ValueError):
        Emission.of(event)
    assert Emission.of(event, key="explicit").key == "explicit"


def test_a_redelivered_cause_yields_the_same_event_id() -> None:
    assert received().event_id == received().event_id  # the same message, twice
    assert received("line:U1:m-42").event_id != received("line:U1:m-43").event_id
    assert new_event_id("a", "received") == new_event_id("a", "received")
    assert new_event_id("a", "received") != new_event_id("a", "ack")
    assert new_event_id() != new_event_id()  # no cause: a fresh id each time
    assert project_event_id("P-1", 3) == project_event_id("P-1", 3)
    assert (
        len({project_event_id("P-1", 3), project_event_id("P-1", 4), project_event_id("P-2", 3)})
        == 3
    )
    a = CaseReceived.caused_by(Cause("o", None), payload(), "k", "received")
    b = CaseReceived.caused_by(Cause("o", None), payload(text="อื่น"), "k", "received")
    assert a.event_id == b.event_id  # the id derives from the cause, not the content


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda body: body.update(topic="public.cases"), id="a topic"),
        pytest.param(lambda body: body.update(keyed_by="org_id"), id="a key field"),
        pytest.param(lambda body: body.update(admin=True), id="an unknown field"),
        pytest.param(lambda body: body["payload"].update(officer_id="o-1"), id="in the payload"),
        pytest.param(lambda body: body["payload"]["location"].update(x=1), id="deeper down"),
        pytest.param(lambda body: body.update(type="CaseAssigned"), id="another type"),
    ],
)
def test_a_forged_or_unknown_field_is_refused(forge: object) -> None:
    body = json.loads(received().to_bytes())
    forge(body)  # type: ignore[operator]
    with pytest.raises(ValidationError):
        CaseReceived.model_validate_json(json.dumps(body, ensure_ascii=False))


def test_an_event_cannot_be_changed_once_built() -> None:
    event = received()
    with pytest.raises(ValidationError):
        event.org_id = "another"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        event.payload.text = "แก้"  # type: ignore[misc]


def test_every_event_type_names_its_class_and_round_trips_its_type() -> None:
    assert REGISTRY["CaseReceived"] is CaseReceived and REGISTRY["CaseAssigned"] is CaseAssigned
    for type_name, cls in REGISTRY.items():
        assert issubclass(cls, Envelope), type_name
        assert cls.model_fields["type"].default == type_name
        assert "topic" not in cls.model_fields and "keyed_by" not in cls.model_fields
