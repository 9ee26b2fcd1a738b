"""The portal's small adapters: other services over HTTP, its settings, the announcement."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

from services.portal.adapters.config_files import load_site
from services.portal.adapters.upstream import HttpUpstream
from services.portal.settings import PortalSettings
from tests.portal.fakes import portal


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_service_that_cannot_be_reached_is_a_503() -> None:
    upstream = HttpUpstream({"survey": f"http://127.0.0.1:{closed_port()}"}, 1.0)
    try:
        reply = await upstream.request("survey", "GET", "/v1/surveys/x")
    finally:
        await upstream.close()
    assert reply.status == 503 and reply.body is None


def test_the_other_services_are_found_by_url_or_by_their_port() -> None:
    # Ports given here, not read from a developer's environment.
    settings = PortalSettings(
        survey_url="https://survey.example/",
        intake_port=18001,
        compliance_port=8004,
        http_port=8005,
        public_base_url="",
    )
    assert settings.url_of("survey") == "https://survey.example"
    assert settings.url_of("intake") == "http://127.0.0.1:18001"
    assert settings.url_of("compliance") == "http://127.0.0.1:8004"
    assert settings.site_url == "http://127.0.0.1:8005"
    assert PortalSettings(public_base_url="https://sraphonthong.go.th/").site_url == (
        "https://sraphonthong.go.th"
    )


def test_the_shipped_organisation_file() -> None:
    site = load_site("sraphonthong")
    assert {c.code for c in site.channels} >= {
        "web", "line", "phone", "letter", "suggestion_box", "meeting",
    }  # fmt: skip
    assert site.suggestion_boxes and site.village(3) == "หมู่ที่ 3 บ้านหนองบัว"
    assert site.department("engineering", "en") == "Engineering Division"


async def test_the_announcement_is_read_from_where_the_sao_keeps_it(tmp_path: Path) -> None:
    (tmp_path / "announcement.th.txt").write_text("ประกาศ อบต. เรื่อง มาตรการ", encoding="utf-8")
    (tmp_path / "other.txt").write_text("not published", encoding="utf-8")
    transport = httpx.ASGITransport(app=portal(announcement_dir=tmp_path).asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://portal") as c:
        ita = await c.get("/ita")
        assert 'href="/ita/announcement/announcement.th.txt"' in ita.text
        assert "other.txt" not in ita.text
        shown = await c.get("/ita/announcement/announcement.th.txt")
        assert shown.status_code == 200 and "ประกาศ อบต. เรื่อง มาตรการ" in shown.text
        assert (await c.get("/ita/announcement/other.txt")).status_code == 404
        assert (await c.get("/ita/announcement/..%2Fsettings.py")).status_code == 404
    nowhere = portal(announcement_dir=tmp_path / "missing")
    transport = httpx.ASGITransport(app=nowhere.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://portal") as c:
        assert "ยังไม่ได้ตั้งค่าที่เก็บประกาศ" in (await c.get("/ita")).text
