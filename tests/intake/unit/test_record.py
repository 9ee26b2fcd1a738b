"""The submission record's decisions, and its stored form (which existing databases hold)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.intake.adapters.mongo_submissions import from_document, to_document
from services.intake.domain.model import Submission
from services.intake.domain.record import Events, FollowUp, SubmissionRecord, media_ref
from shared.events.cases import (
    Attachment,
    CaseAmended,
    CaseAssigned,
    CaseAssignedPayload,
    CaseReceived,
    Channel,
    Kind,
    Location,
    PublicCaseUpdated,
)
from shared.events.envelope import new_event_id
from shared.events.intake import NotificationRequested

AT = datetime(2026, 5, 16, 3, 0, tzinfo=UTC)
ORG = "sraphonthong"

# A LINE case as intake stores it: a follow-up photo and pin added, routing's assignment in.
STORED: dict[str, Any] = {
    "_id": "line:01HA",
    "case_id": "SPT-2569-000007",
    "channel": "line",
    "kind": "complaint",
    "channel_message_id": "01HA",
    "received_at": AT,
    "month": "2026-05",
    "stored_at": AT + timedelta(seconds=1),
    "contact_ref": "ct_0123",
    "text_ref": "tx_0123",
    "service_code": None,
    "links": [{"name": "activity_id", "value": "A1"}],
    "attachments": [{"kind": "image", "ref": "line:message/555"}],
    "public": {
        "text": "ไฟดับ หมู่ 3",
        "address": "หมู่ 3",
        "lat": 15.72,
        "lon": 104.1,
        "village_no": 3,
        "media_url": None,
    },
    "additions": [
        {
            "key": "line:01HB",
            "at": AT + timedelta(minutes=1),
            "type": "image",
            "text_ref": None,
            "attachment": {"kind": "image", "ref": "line:message/555"},
            "lat": None,
            "lon": None,
        }
    ],
    "progress": {
        "status": "assigned",
        "status_seq": 2,
        "assignment_no": 1,
        "department": "public_works",
        "category": "lighting",
        "officer_assigned": True,
        "officer_id": "eng-somchai",
        "acknowledge_due_at": AT + timedelta(days=1),
        "respond_due_at": AT + timedelta(days=7),
        "status_notes": None,
        "updated_at": AT + timedelta(hours=1),
        # As MongoDB gives it back: a list of mappings (asdict writes a tuple of them).
        "steps": ({"status": "assigned", "at": AT + timedelta(hours=1)},),
    },
    "is_open": True,
    "effective_service_code": "lighting",
}


def receive(contact_ref: str | None = None) -> tuple[SubmissionRecord, Events]:
    sub = Submission(
        channel=Channel.LINE, text="ไฟดับ หมู่ 3 โทร 081-222-3333", channel_message_id="01HA"
    )
    return SubmissionRecord.receive(
        sub,
        dedup_key="line:01HA",
        case_id="SPT-2569-000007",
        received_at=AT,
        stored_at=AT,
        contact_ref=contact_ref,
        text_ref="tx_1",
        org_id=ORG,
        correlation_id=None,
    )


def received() -> SubmissionRecord:
    return receive()[0]


def photo(key: str = "line:01HB", minutes: int = 1) -> FollowUp:
    return FollowUp(
        key=key,
        channel=Channel.LINE,
        at=AT + timedelta(minutes=minutes),
        kind="image",
        text=None,
        addition=None,
        location=None,
        attachment=Attachment(kind="image", ref=f"line:message/{key}"),
    )


def pin(lat: float, minutes: int = 2) -> FollowUp:
    place = Location(lat=lat, lon=104.1, address="9 หมู่ 4")
    return FollowUp(
        key=f"line:pin-{lat}",
        channel=Channel.LINE,
        at=AT + timedelta(minutes=minutes),
        kind="location",
        text=None,
        addition="(ตำแหน่งที่ส่งทาง LINE) 9 หมู่ 4",
        location=place,
        attachment=None,
    )


def test_a_stored_case_reads_back_and_is_stored_again_field_for_field() -> None:
    record = from_document({**STORED, "version": 4, "write_id": "w", "life": "l"})
    assert record.version == 4 and record.dedup_key == "line:01HA"
    assert record.links == {"activity_id": "A1"}
    assert record.additions[0].kind == "image" and record.progress.department == "public_works"
    assert to_document(record) == STORED


def test_a_case_stored_before_the_vault_reads_back_without_its_words() -> None:
    """Stored before the vault: a follow-up's words in the clear, no text_ref, no officer."""
    progress = {k: v for k, v in STORED["progress"].items() if k != "officer_id"}
    addition = {**STORED["additions"][0], "type": "text", "original_text": "นายดำ 0812223333"}
    del addition["text_ref"]
    old = {k: v for k, v in STORED.items() if k != "text_ref"}
    record = from_document({**old, "progress": progress, "additions": [addition]})
    assert record.text_ref is None and record.progress.officer_id is None
    # The contact, and the copy of the photo sent on LINE: no words to keep.
    assert record.vault_refs == ["ct_0123", media_ref("555")]
    # Written again, the words in the clear are gone.
    assert "นายดำ" not in str(to_document(record))


def test_a_case_stored_before_follow_ups_and_progress_reads_back_as_new() -> None:
    old = {k: v for k, v in STORED.items() if k not in ("additions", "progress")}
    record = from_document(old)
    assert record.additions == [] and record.progress.status == "received"
    assert record.effective_service_code == "general" and record.is_open


def test_receipt_emits_the_events_of_its_key_and_keeps_only_the_redacted_text() -> None:
    record, events = receive(contact_ref="ct_1")
    assert [type(e) for e in events] == [CaseReceived, NotificationRequested, PublicCaseUpdated]
    assert [e.event_id for e in events] == [
        new_event_id("line:01HA", part) for part in ("received", "ack", "public")
    ]
    assert all(e.correlation_id == "SPT-2569-000007" for e in events)
    assert "081" not in record.public.text and record.public.village_no == 3
    assert to_document(record)["month"] == "2026-05"
    # What goes on Kafka: the redacted words and a reference to the citizen's own.
    payload = events[0].payload
    assert payload.text == "ไฟดับ หมู่ 3 โทร [เบอร์โทร]" and payload.text_ref == "tx_1"
    assert "original_text" not in events[0].model_dump_json()
    assert record.vault_refs == ["ct_1", "tx_1"]


def test_a_corruption_report_publishes_neither_its_words_nor_its_place() -> None:
    sub = Submission(
        channel=Channel.WEB,
        kind=Kind.CORRUPTION_REPORT,
        text="นายช่างเรียกเงินใต้โต๊ะ ที่บ้านเลขที่ 12 หมู่ 5",
        location=Location(lat=15.7, lon=104.1, address="บ้านเลขที่ 12 หมู่ 5"),
        channel_message_id="c-1",
    )
    record, (received_event, _, public) = SubmissionRecord.receive(
        sub,
        dedup_key="web:c-1",
        case_id="SPT-2569-000008",
        received_at=AT,
        stored_at=AT,
        contact_ref=None,
        text_ref="tx_2",
        org_id=ORG,
        correlation_id=None,
    )
    assert record.is_corruption
    assert (record.public.lat, record.public.address, record.public.village_no) == (None,) * 3
    assert "ใต้โต๊ะ" not in public.model_dump_json()
    # Routing still needs the redacted words: they name whom the report accuses.
    assert "นายช่าง" in received_event.payload.text
    assert "12" not in received_event.payload.text


def test_a_follow_up_is_added_once() -> None:
    record = received()
    events = record.add_follow_up(photo(), org_id=ORG, text_ref=None)
    assert [type(e) for e in events] == [PublicCaseUpdated, CaseAmended]
    assert [e.event_id for e in events] == [
        new_event_id("line:01HB", "public"),
        new_event_id("line:01HB", "amended"),
    ]
    assert record.add_follow_up(photo(), org_id=ORG, text_ref=None) == []
    assert [a.key for a in record.additions] == ["line:01HB"]
    assert [a.ref for a in record.attachments] == ["line:message/line:01HB"]
    assert record.progress.updated_at == AT + timedelta(minutes=1)


def test_the_first_place_given_is_the_one_published() -> None:
    record = received()
    record.add_follow_up(pin(15.72), org_id=ORG, text_ref=None)
    record.add_follow_up(pin(16.0, minutes=3), org_id=ORG, text_ref=None)
    assert record.public.lat == 15.72 and record.public.village_no == 3
    assert record.public.text.count("ตำแหน่งที่ส่งทาง LINE") == 2


def test_a_follow_up_arriving_late_does_not_move_the_update_time_back() -> None:
    record = received()
    record.add_follow_up(photo("line:01HC", minutes=5), org_id=ORG, text_ref=None)
    record.add_follow_up(photo("line:01HB", minutes=1), org_id=ORG, text_ref=None)
    assert record.progress.updated_at == AT + timedelta(minutes=5)


def test_routing_facts_apply_once() -> None:
    record = received()
    assigned = CaseAssigned(
        org_id=ORG,
        occurred_at=AT + timedelta(hours=1),
        payload=CaseAssignedPayload(
            case_id="SPT-2569-000007",
            kind=Kind.COMPLAINT,
            channel=Channel.LINE,
            department="public_works",
            officer_id="eng-somchai",
            received_at=AT,
        ),
    )
    events = record.apply(assigned, org_id=ORG)
    assert [e.event_id for e in events] == [new_event_id(str(assigned.event_id), "public")]
    assert record.progress.status == "assigned"
    assert record.progress.officer_id == "eng-somchai"
    before = to_document(record)
    assert record.apply(assigned, org_id=ORG) == []
    assert to_document(record) == before
