"""The case page's photos and files, its map, a letter's scan and the root cause at resolve,
on fakes: what routing shows the signed-in person decides what the console serves."""

from __future__ import annotations

import io
import re

import httpx
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.console.http import VENDOR
from tests.console.unit.test_pages import _intake, _jpeg_with_gps
from tests.console.world import Browser, hidden, world

CASE = "SPT-2569-000001"
SENT = [
    {"kind": "image", "ref": "portal-photo:web1"},
    {"kind": "image", "ref": "line:message/9"},
    {"kind": "link", "ref": "https://open311.example/media/1.jpg"},
    {"kind": "video", "ref": "line:message/10"},
    {"kind": "audio", "ref": "line:message/11"},
    {"kind": "document", "ref": "line:message/12"},
    {"kind": "document", "ref": "line:message/13"},
]
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64
PDF_BYTES = b"%PDF-1.4 a letter\n%%EOF"


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 120, 0)).save(out, format="PNG")
    return out.getvalue()


def _portal(seen: list[str]) -> Starlette:
    """The public site's photo endpoint: it answers a bearer token, and says who asked."""

    async def photo(request: Request) -> Response:
        seen.append(request.headers.get("authorization", ""))
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return Response(status_code=401)
        return Response(_png(), media_type="image/png")

    return Starlette(routes=[Route("/v1/photos/{photo_id}", photo)])


def _intake_media(seen: list[str]) -> Starlette:
    """Intake's copies of what was sent on LINE: it answers a bearer token, and says who
    asked. Message 13 comes back as a page, which the console must never serve."""
    kept = {
        "9": (_png(), "image/png"),
        "10": (MP4, "video/mp4"),
        "11": (MP4, "audio/mp4"),
        "12": (PDF_BYTES, "application/pdf"),
        "13": (b"<script>alert(1)</script>", "text/html; charset=utf-8"),
    }

    async def media(request: Request) -> Response:
        seen.append(request.url.path)
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return Response(status_code=401)
        data, media_type = kept[request.path_params["message_id"]]
        return Response(data, media_type=media_type)

    return Starlette(routes=[Route("/v1/cases/{case_id}/media/{message_id}", media)])


async def test_the_citizens_photos_are_shown_to_the_department_not_to_an_auditor() -> None:
    seen: list[str] = []
    from_intake: list[str] = []
    w = world({8005: _portal(seen), 8001: _intake_media(from_intake)})
    await w.receive(CASE, location={"village_no": 5}, attachments=SENT)
    officer = Browser(w)
    await officer.sign_in("eng-anan")
    page = await officer.get(f"/cases/{CASE}")
    assert f'src="/cases/{CASE}/attachments/0"' in page.text
    assert f'alt="รูปภาพที่ผู้แจ้งส่งมา ลำดับที่ 1 ของเรื่อง {CASE}"' in page.text
    assert f'src="/cases/{CASE}/attachments/1"' in page.text  # a LINE photo: intake's copy
    # A LINE video and voice message are played, a file linked: intake's copies too.
    assert f'<video controls preload="none" src="/cases/{CASE}/attachments/3"' in page.text
    assert f'<audio controls preload="none" src="/cases/{CASE}/attachments/4"' in page.text
    assert f'<a href="/cases/{CASE}/attachments/5">' in page.text
    assert 'href="https://open311.example/media/1.jpg" rel="noopener noreferrer"' in page.text
    shown = await officer.get(f"/cases/{CASE}/attachments/0")
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/png"
    assert "sandbox" in shown.headers["content-security-policy"]
    assert seen and seen[-1].startswith("Bearer ")  # the officer's own token
    line_photo = await officer.get(f"/cases/{CASE}/attachments/1")
    assert line_photo.status_code == 200 and line_photo.headers["content-type"] == "image/png"
    assert from_intake == [f"/v1/cases/{CASE}/media/9"]
    for n, media_type in ((3, "video/mp4"), (4, "audio/mp4"), (5, "application/pdf")):
        played = await officer.get(f"/cases/{CASE}/attachments/{n}")
        assert played.status_code == 200 and played.headers["content-type"] == media_type
        assert "sandbox" in played.headers["content-security-policy"]
    assert played.headers["content-disposition"].startswith("attachment")  # the PDF
    assert (await officer.get(f"/cases/{CASE}/attachments/6")).status_code == 404  # a page
    assert (await officer.get(f"/cases/{CASE}/attachments/7")).status_code == 404
    # A colleague of the department sees them too; an auditor reads the case without them.
    auditor = Browser(w)
    await auditor.sign_in("auditor")
    page = await auditor.get(f"/cases/{CASE}")
    assert page.status_code == 200 and "attachments/0" not in page.text
    asked = len(seen)
    assert (await auditor.get(f"/cases/{CASE}/attachments/0")).status_code == 404
    other = Browser(w)
    await other.sign_in("fin-head")
    assert (await other.get(f"/cases/{CASE}/attachments/0")).status_code == 403
    assert len(seen) == asked  # neither reached the public site


async def test_the_case_page_has_a_map_and_keeps_the_coordinates_as_text() -> None:
    w = world(tile_url="https://{s}.tiles.example.org/{z}/{x}/{y}.png")
    await w.receive(CASE, location={"village_no": 5, "lat": 15.123456, "lon": 103.054321})
    officer = Browser(w)
    await officer.sign_in("eng-anan")
    page = await officer.get(f"/cases/{CASE}")
    assert 'id="map"' in page.text and "/static/vendor/leaflet/leaflet.js" in page.text
    data = re.search(r'<script type="application/json" id="map-data">(.*?)</script>', page.text)
    assert data is not None and '"lat": 15.123456' in data.group(1)
    assert '"tiles": "https://{s}.tiles.example.org/{z}/{x}/{y}.png"' in data.group(1)
    assert 'href="geo:15.123456,103.054321"' in page.text  # usable without the map
    assert "https://*.tiles.example.org" in page.headers["content-security-policy"]
    assert (await officer.get("/static/map.js")).status_code == 200
    # Leaflet is the public site's copy (deploy/local/web_assets.py), served from where it is.
    if (VENDOR / "leaflet" / "leaflet.js").is_file():
        assert (await officer.get("/static/vendor/leaflet/leaflet.js")).status_code == 200
    # A case without a place has no map.
    await w.receive("SPT-2569-000002", location={"village_no": 5})
    page = await officer.get("/cases/SPT-2569-000002")
    assert 'id="map"' not in page.text and "leaflet.js" not in page.text


async def test_a_letters_scan_is_kept_cleaned_and_referenced_from_the_case() -> None:
    w = world()
    intake = _intake(w)
    w.ports.apps[8001] = httpx.ASGITransport(app=intake.asgi)
    desk = Browser(w)
    await desk.sign_in("desk")
    form = await desk.get("/intake/letter")
    assert 'enctype="multipart/form-data"' in form.text and 'name="scan"' in form.text
    fields = {
        **hidden(form.text),
        "registration_no": "สพท 124/2569",
        "received_date": "2026-04-28",
        "text": "ขอให้ซ่อมถนนหมู่ 4 ที่ชำรุด",
    }
    refused = await desk.post(
        "/intake/letter", fields, files={"scan": ("letter.docx", b"PK\x03\x04 word", "x/y")}
    )
    assert refused.status_code == 422
    assert "ไฟล์สแกนต้องเป็นรูปภาพ (JPEG หรือ PNG) หรือไฟล์ PDF" in refused.text
    assert "สพท 124/2569" in refused.text  # what was typed is kept
    scan = _jpeg_with_gps()
    done = await desk.post("/intake/letter", fields, files={"scan": ("l.jpg", scan, "image/jpeg")})
    assert done.status_code == 200 and str(done.url).count("case=") == 1
    case_id = str(done.url).split("case=")[1]
    ((scan_id, (kept, of)),) = list(w.photos.kept.items())
    assert of == case_id and b"Malee" not in kept and kept.startswith(b"\xff\xd8")
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    form = await desk.get("/intake/letter")
    fields = {**fields, **hidden(form.text), "registration_no": "สพท 125/2569"}
    done = await desk.post(
        "/intake/letter", fields, files={"scan": ("l.pdf", pdf, "application/pdf")}
    )
    assert done.status_code == 200
    assert [w.photos.media[k] for k in w.photos.kept] == ["image/jpeg", "application/pdf"]
    too_big = b"%PDF-" + b"0" * 10_000_001
    form = await desk.get("/intake/letter")
    r = await desk.post(
        "/intake/letter",
        {**fields, **hidden(form.text)},
        files={"scan": ("b.pdf", too_big, "application/pdf")},
    )
    assert r.status_code == 413 and "ไฟล์สแกนใหญ่เกินไป" in r.text
    # On the case (routing has it from case.received), the scan is a link for its readers.
    await w.receive(
        case_id,
        channel="letter",
        location={"village_no": 5},
        attachments=[{"kind": "document", "ref": f"console-scan:{scan_id}"}],
    )
    officer = Browser(w)
    await officer.sign_in("eng-anan")
    page = await officer.get(f"/cases/{case_id}")
    assert f'href="/cases/{case_id}/attachments/0">ไฟล์สแกนหนังสือ ลำดับที่ 1' in page.text
    shown = await officer.get(f"/cases/{case_id}/attachments/0")
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
    # The same reference named by another case (a forged submission) shows nothing.
    await w.receive(
        "SPT-2569-000077",
        location={"village_no": 5},
        attachments=[{"kind": "document", "ref": f"console-scan:{scan_id}"}],
    )
    assert (await officer.get("/cases/SPT-2569-000077/attachments/0")).status_code == 404


async def test_resolve_names_a_cause_from_the_categorys_list() -> None:
    w = world()
    await w.receive(CASE, location={"village_no": 5})  # street lights: lighting
    officer = Browser(w)
    await officer.sign_in("eng-anan")
    page = await officer.get(f"/cases/{CASE}")
    assert '<select id="resolve-cause" name="cause">' in page.text
    assert '<option value="lamp_failure">' in page.text
    assert '<option value="worn_surface">' not in page.text  # a road's cause
    csrf = hidden(page.text)["csrf"]
    wrong = {"csrf": csrf, "action": "resolve", "resolution": "ซ่อมแล้ว", "cause": "worn_surface"}
    r = await officer.post(f"/cases/{CASE}/actions", wrong)
    assert r.status_code == 422 and "ไม่อยู่ในรายการ" in r.text
    body = {
        "csrf": csrf,
        "action": "resolve",
        "resolution": "เปลี่ยนหลอดไฟแล้ว",
        "cause": "lamp_failure",
        "cause_note": "หลอดเดิมใช้งานมา 6 ปี",
    }
    r = await officer.post(f"/cases/{CASE}/actions", body)
    assert r.status_code == 200 and "บันทึกแล้ว: แจ้งผลการแก้ไข" in r.text
    assert 'สาเหตุของปัญหา: <strong id="cause">หลอดหรืออุปกรณ์ไฟฟ้าเสื่อมตามอายุ</strong>' in r.text
    assert "หลอดเดิมใช้งานมา 6 ปี" in r.text
    stored = await w.repo.get(CASE)
    assert stored is not None and (stored.cause, stored.cause_note) == (
        "lamp_failure",
        "หลอดเดิมใช้งานมา 6 ปี",
    )
