"""Every channel on the real Kafka and FerretDB: one case each, visible in routing and
Open311; nothing personal on public.cases; raw payloads and dead letters on Kafka."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.intake.bootstrap import create_service as create_intake
from services.intake.settings import IntakeSettings
from services.routing.bootstrap import create_service as create_routing
from services.routing.settings import RoutingSettings
from shared.events.intake import RawPayloadReceived, RawPayloadReceivedPayload
from shared.kafka import client_options
from shared.roles import Role
from shared.topics import SPECS, Topic, name
from tests.conftest import eventually, running
from tests.intake.unit.helpers import line_body, line_event, signed
from tests.intake.unit.test_email import tis620_message
from tests.intake.unit.test_privacy import PERSONAL
from tests.signing import AUDITOR, EXECUTIVE, OPERATOR, as_
from tools.demo.stages.intake import UUID

pytestmark = pytest.mark.integration

KEY = "stack-key"
SECRET = "stack-secret"
REF = re.compile(r"\b(?:ct|tx)_[0-9a-f]{32}\b")
DESK = as_(Role.OFFICER, officer_id="desk", department="office")


async def read_topic(settings: Any, topic: Topic) -> list[dict[str, Any]]:
    """Everything on a topic so far (from the beginning to the current end)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        **client_options(settings),
    )
    await consumer.start()
    try:
        full = name(topic, settings.topic_prefix)
        parts = [TopicPartition(full, p) for p in range(SPECS[topic].partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        reached = {p: 0 for p in parts}
        out: list[dict[str, Any]] = []
        while any(reached[p] < ends[p] for p in parts):
            batch = await consumer.getmany(timeout_ms=1000)
            for part, records in batch.items():
                out += [json.loads(r.value) for r in records]
                reached[part] = max(reached[part], records[-1].offset + 1)
        return out
    finally:
        await consumer.stop()


async def test_every_channel_becomes_one_case_seen_by_routing_and_open311(
    real_settings: Any,
) -> None:
    settings = real_settings(IntakeSettings, open311_api_keys=KEY, line_channel_secret=SECRET)
    intake = create_intake(settings)
    routing = create_routing(real_settings(RoutingSettings))
    now = datetime.now(UTC)
    async with running(intake) as http, running(routing) as routing_http:
        case_ids: dict[str, str] = {}
        r = await http.post(
            "/open311/v2/requests.json",
            data={
                "api_key": KEY,
                "service_code": "lighting",
                "lat": "15.72",
                "long": "103.51",
                "description": "ไฟถนนดับทั้งซอย หมู่ที่ 3 ติดต่อ นายสมชาย ใจดี 081-234-5678",
                "email": "somchai@example.co.th",
                "first_name": "สมชาย",
                "phone": "0812345678",
            },
            headers={"Idempotency-Key": "o311-1"},
        )
        assert r.status_code == 200, r.text
        case_ids["open311"] = r.json()[0]["service_request_id"]

        body = line_body(
            line_event(
                "01HLINE1", user="U" + "b" * 32, at=now, text="ถนนเป็นหลุมใหญ่ หมู่ 5 โทร ๐๘๙-๘๗๖-๕๔๓๒"
            )
        )
        r = await http.post(
            "/channels/line/webhook",
            content=body,
            headers={"x-line-signature": signed(body, SECRET)},
        )
        assert r.status_code == 200, r.text
        case_ids["line"] = r.json()["events"][0]["case_id"]

        r = await http.post(
            "/v1/channels/phone",
            json={
                "call_id": "CALL-7",
                "caller_number": "043-123-456",
                "officer_id": "desk",
                "call_time": (now - timedelta(hours=1)).isoformat(),
                "summary": "น้ำประปาไม่ไหลสามวัน หมู่ที่ 2",
            },
            headers=DESK,
        )
        assert r.status_code == 202, r.text
        case_ids["phone"] = r.json()["case_id"]

        r = await http.post(
            "/v1/channels/letter",
            json={
                "registration_no": "สปท 123/2569",
                "received_date": "2569-05-14",
                "sender_name": "นางมาลี ศรีสุข",
                "sender_address": "บ้านเลขที่ 45/2 หมู่ 7",
                "scan_ref": "scan/2569/123.pdf",
                "text": "ขอให้ซ่อมสะพานข้ามลำห้วย",
            },
            headers=DESK,
        )
        assert r.status_code == 202, r.text
        case_ids["letter"] = r.json()["case_id"]

        r = await http.post(
            "/v1/channels/suggestion-box",
            params={
                "box_id": "BOX-1",
                "location": "หน้าที่ทำการ อบต.",
                "opened_at": "2026-05-01T10:00:00+07:00",
                "committee": "ปลัด,หัวหน้าสำนักปลัด",
            },
            content="slip_no,text,phone\n1,อยากให้ขยายเวลาเปิดศูนย์เด็กเล็ก,0891112222\n".encode(),
            headers={"content-type": "text/csv", **DESK},
        )
        assert r.status_code == 202, r.text
        case_ids["suggestion_box"] = r.json()["items"][0]["case_id"]

        r = await http.post(
            "/v1/channels/email",
            content=tis620_message(),
            headers={"content-type": "message/rfc822", **OPERATOR},
        )
        assert r.status_code == 202, r.text
        case_ids["email"] = r.json()["case_id"]

        r = await http.post(
            "/v1/channels/meeting",
            json={
                "activity_id": "ACT-2569-01",
                "title": "ประชาคมหมู่บ้าน หมู่ 4",
                "held_at": "2026-05-10T13:00:00+07:00",
                "village_no": 4,
                "attendees": {"ประชาชน": 52, "ผู้นำชุมชน": 6},
                "opinions": [{"no": 1, "text": "ควรขุดลอกคลองก่อนฤดูฝน", "kind": "suggestion"}],
            },
            headers=DESK,
        )
        assert r.status_code == 202, r.text
        case_ids["meeting"] = r.json()["items"][0]["case_id"]

        # intake.raw: an adapter that speaks Kafka, normalized exactly like HTTP.
        raw = RawPayloadReceived(
            org_id="sraphonthong",
            payload=RawPayloadReceivedPayload(
                channel="phone",
                received_at=now,
                body=json.dumps(
                    {
                        "call_id": "CALL-RAW-1",
                        "officer_id": "ivr",
                        "call_time": now.isoformat(),
                        "summary": "สุนัขจรจัดกัดเด็ก หมู่ 1",
                    }
                ),
            ),
        )
        poison = b'{"type": "RawPayloadReceived", "payload": {"channel": "fax"}}'
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers, **client_options(settings)
        )
        await producer.start()
        try:
            raw_topic = name(Topic.INTAKE_RAW, settings.topic_prefix)
            await producer.send_and_wait(raw_topic, raw.to_bytes())
            await producer.send_and_wait(raw_topic, poison)
            await producer.send_and_wait(raw_topic, raw.to_bytes())  # redelivered: no new case
        finally:
            await producer.stop()

        async def raw_case() -> Any:
            r = await http.get("/v1/channels", headers=AUDITOR)
            phone = [c for c in r.json()["channels"] if c["channel"] == "phone"]
            return phone and phone[0]["total"] == 2

        await eventually(raw_case, timeout=60)

        async def dead_lettered() -> Any:
            r = await http.get("/v1/dlq", headers=OPERATOR)
            return r.json()["items"]

        letters = await eventually(dead_lettered, timeout=60)
        assert "body" not in letters[0]  # listed without bodies; inspected one at a time
        inspected = (await http.get(f"/v1/dlq/{letters[0]['id']}", headers=OPERATOR)).json()
        assert inspected["body"] == poison.decode()
        assert "invalid event" in letters[0]["reason"]
        assert letters[0]["source_topic"] == raw_topic
        # Replayed through intake's raw consumer: nothing was fixed, so it is refused again
        # with the reason, and no second letter or case appears.
        replay = await http.post(f"/v1/dlq/{letters[0]['id']}/replay", headers=OPERATOR)
        assert replay.status_code == 409 and "refused again" in replay.text
        assert len((await http.get("/v1/dlq", headers=OPERATOR)).json()["items"]) == 1
        assert (
            await http.post("/v1/dlq/no-such-letter/replay", headers=OPERATOR)
        ).status_code == 404

        # Exactly one case per channel, each assigned by routing and shown by Open311.
        assert len(set(case_ids.values())) == len(case_ids) == 7
        for channel, case_id in case_ids.items():

            async def assigned(case_id: str = case_id) -> Any:
                r = await routing_http.get(f"/v1/cases/{case_id}", headers=EXECUTIVE)
                return r.json() if r.status_code == 200 and r.json()["department"] else None

            case = await eventually(assigned, timeout=60)
            assert case["channel"] == channel

            async def open311_knows(case_id: str = case_id) -> Any:
                r = await http.get(f"/open311/v2/requests/{case_id}.json")
                view = r.json()[0]
                return view if view["agency_responsible"] else None

            try:
                view = await eventually(open311_knows, timeout=30)
            except AssertionError:
                r = await http.get(f"/open311/v2/requests/{case_id}.json")
                m = (await http.get("/metrics")).text
                raise AssertionError(
                    (
                        channel,
                        case,
                        r.text,
                        [x for x in m.splitlines() if "case_updates_total" in x],
                    )
                ) from None
            assert view["status"] == "open"
            assert view["expected_datetime"] is not None

        listed = await http.get(
            "/open311/v2/requests.json", params={"service_request_id": ",".join(case_ids.values())}
        )
        as_xml = await http.get(
            "/open311/v2/requests.xml", params={"service_request_id": ",".join(case_ids.values())}
        )
        # The same requests in the spec's required format, read as an XML client reads them.
        shown = ET.fromstring(as_xml.content).findall("request")
        assert sorted(r.findtext("service_request_id") or "" for r in shown) == sorted(
            v["service_request_id"] for v in listed.json()
        )
        answers = listed.text + as_xml.text
        stats = (await http.get("/v1/channels", headers=AUDITOR)).json()
        assert stats["meets_assessment"] is True and stats["listening_channels"] == 7

        async def all_public() -> Any:
            items = await read_topic(settings, Topic.PUBLIC_CASES)
            seen = {i["payload"]["case_id"] for i in items}
            return items if set(case_ids.values()) <= seen else None

        published = await eventually(all_public, timeout=60)

        # The citizen's own words and contact: for the executives, and on the audit trail.
        personal = await http.get(f"/v1/cases/{case_ids['open311']}/personal", headers=EXECUTIVE)
        assert personal.status_code == 200, personal.text
        assert "นายสมชาย ใจดี 081-234-5678" in personal.json()["text"]
        assert personal.json()["contact"]["email"] == "somchai@example.co.th"
        refused = await http.get(f"/v1/cases/{case_ids['open311']}/personal", headers=DESK)
        assert refused.status_code == 403

        async def audited() -> Any:
            records = [r["payload"] for r in await read_topic(settings, Topic.AUDIT_TRAIL)]
            reads = [r for r in records if r["target"].startswith("case:")]
            return reads if len(reads) >= 2 else None

        reads = await eventually(audited, timeout=30)  # the dead letters' are there too
        assert {r["action"] for r in reads} == {"text.read", "contact.read"}
        assert {r["target"] for r in reads} == {f"case:{case_ids['open311']}"}
        received = await read_topic(settings, Topic.CASE_RECEIVED)
    assert all("original_text" not in e["payload"] for e in received)
    # Event ids and vault references are hex, whose digit runs look like numbers: they are
    # taken out first.
    scanned = REF.sub(
        "<ref>",
        UUID.sub(
            "<uuid>",
            json.dumps(published, ensure_ascii=False)
            + answers
            + json.dumps(received, ensure_ascii=False),
        ),
    )
    for pattern in PERSONAL:
        assert not pattern.search(scanned), pattern.pattern
    for name_given in ("สมชาย", "มาลี", "somchai"):
        assert name_given not in scanned
