"""Open311 GeoReport v2 in XML, the spec's required format: every resource and every
refusal as `.xml` too, the same content as `.json`; what a citizen wrote that XML cannot
carry is left out rather than breaking the document; and a key reused at the same instant
for two different requests."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from typing import Any

import httpx

from shared import georeport
from shared.http import ApiError
from shared.limits import OPEN311_PREFIX
from shared.topics import Topic
from tests.intake.unit.api import client
from tests.intake.unit.helpers import World
from tests.intake.unit.test_open311 import BASE, assigned_to_public_works, form


def xml_of(r: httpx.Response, status: int = 200) -> ET.Element:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "text/xml; charset=utf-8"
    assert r.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(r.content)


def as_text(value: Any) -> str:
    """A JSON value as the XML answer writes it: booleans in lower case, nothing as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def flat(element: ET.Element) -> dict[str, str]:
    return {child.tag: child.text or "" for child in element}


def assert_xml_error(r: httpx.Response, status: int) -> None:
    root = xml_of(r, status)
    assert root.tag == "errors"
    (error,) = root.findall("error")
    assert error.findtext("code") == str(status) and error.findtext("description")


async def test_services_and_a_definition_are_the_json_ones_in_xml() -> None:
    async with client(World()) as c:
        listed = await c.get(f"{BASE}/services.json")
        xml = await c.get(f"{BASE}/services.xml")
        definition = await c.get(f"{BASE}/services/road.json")
        definition_xml = await c.get(f"{BASE}/services/road.xml")
    root = xml_of(xml)
    assert root.tag == "services"
    assert [flat(s) for s in root.findall("service")] == [
        {k: as_text(v) for k, v in s.items()} for s in listed.json()
    ]
    d = xml_of(definition_xml)
    assert d.tag == "service_definition" and d.findtext("service_code") == "road"
    attributes = d.find("attributes")
    assert attributes is not None
    expected = definition.json()["attributes"]
    got = attributes.findall("attribute")
    assert [a.findtext("code") for a in got] == [a["code"] for a in expected]
    kind = next(a for a in got if a.findtext("code") == "kind")
    kind_json = next(a for a in expected if a["code"] == "kind")
    assert kind.findtext("variable") == "true" and kind.findtext("required") == "false"
    assert [(v.findtext("key"), v.findtext("name")) for v in kind.iter("value")] == [
        (v["key"], v["name"]) for v in kind_json["values"]
    ]


async def test_a_request_posted_and_read_in_xml() -> None:
    world = World()
    async with client(world) as c:
        posted = await c.post(f"{BASE}/requests.xml", data=form(), headers={"Idempotency-Key": "x"})
        (request,) = xml_of(posted).findall("request")
        case_id = request.findtext("service_request_id")
        assert case_id and request.findtext("account_id") == "acc-77"
        assert request.findtext("service_notice")
        await world.handlers.case_event(assigned_to_public_works(case_id))
        one_json = await c.get(f"{BASE}/requests/{case_id}.json")
        one_xml = await c.get(f"{BASE}/requests/{case_id}.xml")
        many_xml = await c.get(f"{BASE}/requests.xml")
        again = await c.post(f"{BASE}/requests.xml", data=form(), headers={"Idempotency-Key": "x"})
    (view,) = one_json.json()
    root = xml_of(one_xml)
    assert root.tag == "service_requests"
    (shown,) = root.findall("request")
    assert flat(shown) == {k: as_text(v) for k, v in view.items()}
    assert shown.findtext("agency_responsible")  # routing's answer shows in XML too
    assert [r.findtext("service_request_id") for r in xml_of(many_xml).findall("request")] == [
        case_id
    ]
    assert again.headers["idempotent-replayed"] == "true"
    assert xml_of(again).findtext("request/service_request_id") == case_id
    assert len(world.publisher.on(Topic.CASE_RECEIVED)) == 1


async def test_what_xml_cannot_carry_is_left_out_and_markup_is_text() -> None:
    hostile = "ไฟดับ\x00\x01\x08\x0b\x1f\ufffe หมู่ 3 <script>alert(1)</script> ]]> &amp; จบ"
    async with client(World()) as c:
        posted = await c.post(f"{BASE}/requests.xml", data=form(description=hostile))
        case_id = xml_of(posted).findtext("request/service_request_id")
        shown = await c.get(f"{BASE}/requests/{case_id}.xml")
        as_json = await c.get(f"{BASE}/requests/{case_id}.json")
    description = xml_of(shown).findtext("request/description") or ""
    assert "<script>alert(1)</script> ]]> &amp; จบ" in description
    assert not any(ch in description for ch in "\x00\x01\x08\x0b\x1f\ufffe")
    # The same text as JSON gives it, but for the characters XML cannot hold.
    assert description == georeport._NOT_XML.sub("", as_json.json()[0]["description"])


async def test_every_refusal_comes_in_the_format_asked_for() -> None:
    async with client(World()) as c:
        no_key = await c.post(f"{BASE}/requests.xml", data=form(api_key="wrong"))
        missing = await c.get(f"{BASE}/requests/nothing-like-it.xml")
        unknown_service = await c.get(f"{BASE}/services/no_such_service.xml")
        unknown_path = await c.get(f"{BASE}/tokens/abc.xml")
        wrong_method = await c.delete(f"{BASE}/requests.xml")
        other_format = await c.get(f"{BASE}/services.csv")
        json_still = await c.get(f"{BASE}/requests/nothing-like-it.json")
        capitals = await c.get(f"{BASE}/requests/nothing-like-it.XML")
        services_in_capitals = await c.get(f"{BASE}/services.JSON")
    assert_xml_error(capitals, 404)
    assert services_in_capitals.status_code == 200 and services_in_capitals.json()
    assert_xml_error(no_key, 403)
    assert_xml_error(missing, 404)
    assert_xml_error(unknown_service, 404)
    assert_xml_error(unknown_path, 404)
    assert_xml_error(wrong_method, 405)
    assert wrong_method.headers["allow"] == "GET, HEAD, POST"
    assert other_format.status_code == 400
    assert other_format.json()[0]["code"] == 400 and ".xml" in other_format.json()[0]["description"]
    assert json_still.status_code == 404 and json_still.json()[0]["code"] == 404


async def test_discovery_offers_both_formats_and_answers_at_the_base_with_a_slash() -> None:
    async with client(World()) as c:
        bare = await c.get(BASE)
        slash = await c.get(f"{BASE}/")
        xml = await c.get(f"{BASE}/discovery.xml")
    assert bare.status_code == slash.status_code == 200
    assert slash.json() == bare.json()
    (endpoint,) = bare.json()["endpoints"]
    assert endpoint["formats"] == ["text/xml", "application/json"]
    root = xml_of(xml)
    assert root.tag == "discovery"
    assert [f.text for f in root.iter("format")] == ["text/xml", "application/json"]
    assert root.findtext("endpoints/endpoint/url") == endpoint["url"]


def test_the_rate_limits_refusal_follows_the_path_format() -> None:
    error = ApiError(429, "rate_limited", "too many requests", retry_after=3)
    xml = georeport.refusal(error, georeport.format_of(f"{OPEN311_PREFIX}v2/requests.xml"))
    as_json = georeport.refusal(error, georeport.format_of(f"{OPEN311_PREFIX}v2/requests.json"))
    assert xml.headers["retry-after"] == as_json.headers["retry-after"] == "3"
    root = ET.fromstring(bytes(xml.body))
    assert root.findtext("error/code") == "429"
    assert as_json.headers["content-type"] == "application/json"


async def test_one_key_for_two_requests_at_the_same_instant_files_one_and_refuses_one() -> None:
    world = World()
    key = {"Idempotency-Key": "same-instant"}
    async with client(world) as c:
        a, b = await asyncio.gather(
            c.post(f"{BASE}/requests.json", data=form(description="ถนนเป็นหลุม หมู่ 2"), headers=key),
            c.post(f"{BASE}/requests.json", data=form(description="ไฟดับทั้งซอย หมู่ 4"), headers=key),
        )
    assert sorted([a.status_code, b.status_code]) == [200, 400]
    refused = a if a.status_code == 400 else b
    assert "Idempotency-Key" in refused.json()[0]["description"]
    assert len(world.publisher.on(Topic.CASE_RECEIVED)) == 1


async def test_a_form_sent_as_multipart_is_read_and_an_upload_is_said_not_kept() -> None:
    world = World()
    photo = ("pothole.jpg", b"\xff\xd8\xff\xe0 not really a jpeg", "image/jpeg")
    async with client(world) as c:
        # What a browser's FormData, or a client attaching `media`, sends.
        plain = await c.post(
            f"{BASE}/requests.json", data=form(), files={"address_string": (None, "หน้าวัด")}
        )
        with_photo = await c.post(
            f"{BASE}/requests.xml",
            data=form(description="ไฟส่องทางดับ หมู่ 7"),
            files={"media": photo},
        )
        too_many = await c.post(f"{BASE}/requests.json", data=form(), files=[("media", photo)] * 5)
    assert plain.status_code == 200, plain.text
    assert plain.request.headers["content-type"].startswith("multipart/form-data")
    assert "ไม่ได้เก็บไฟล์" not in plain.json()[0]["service_notice"]
    request = xml_of(with_photo).find("request")
    assert request is not None and request.findtext("service_request_id")
    assert "ไม่ได้เก็บไฟล์ที่แนบมา" in (request.findtext("service_notice") or "")
    texts = [e["payload"]["text"] for e in world.publisher.on(Topic.CASE_RECEIVED)]
    assert any("ไฟส่องทางดับ" in t for t in texts) and len(texts) == 2
    assert too_many.status_code == 400 and too_many.json()[0]["code"] == 400
