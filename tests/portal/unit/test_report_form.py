"""The web complaint form: what reaches intake, the photo's EXIF (position read, the rest
stripped), the human check and the rate limit."""

from __future__ import annotations

import io
import re
from fractions import Fraction

import httpx
from PIL import Image

from services.portal.adapters.images import GPS_IFD, clean
from services.portal.domain import human
from services.portal.ports import Reply
from tests.portal.fakes import NOW, SECRET, FakeUpstream, portal

ACCEPTED = Reply(202, {"case_id": "SPT-2570-000042", "status": "received"})


def jpeg_with_exif(lat: float | None = 15.6543, lon: float | None = 103.6021) -> bytes:
    """A camera's photo: GPS, the owner's name and the camera's serial in its EXIF."""
    image = Image.new("RGB", (64, 48), (200, 40, 40))
    exif = Image.Exif()
    exif[0x013B] = "Somchai Jaidee"  # Artist
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0xA431] = "SERIAL-0042"  # BodySerialNumber (written into IFD0 here; still EXIF)
    if lat is not None and lon is not None:

        def dms(value: float) -> tuple[Fraction, Fraction, Fraction]:
            d = int(value)
            m = int((value - d) * 60)
            s = Fraction(round(((value - d) * 60 - m) * 60 * 1000), 1000)
            return Fraction(d), Fraction(m), s

        exif[GPS_IFD] = {1: "N", 2: dms(lat), 3: "E", 4: dms(lon)}
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def test_the_photos_position_is_read_and_every_other_tag_goes() -> None:
    raw = jpeg_with_exif()
    assert b"Somchai Jaidee" in raw and b"SERIAL-0042" in raw
    cleaned = clean(raw)
    assert cleaned.lat is not None and cleaned.lon is not None
    assert abs(cleaned.lat - 15.6543) < 1e-3 and abs(cleaned.lon - 103.6021) < 1e-3
    assert b"Somchai Jaidee" not in cleaned.jpeg and b"SERIAL-0042" not in cleaned.jpeg
    with Image.open(io.BytesIO(cleaned.jpeg)) as again:
        assert not again.getexif(), "no EXIF at all, position included"
        assert "exif" not in again.info and again.size == (64, 48)


def test_the_human_check_takes_thai_or_arabic_digits_and_only_its_own_signature() -> None:
    now = int(NOW.timestamp())
    asked = human.challenge(SECRET.encode(), now)
    total = str(asked.a + asked.b)
    thai = total.translate(str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙"))
    assert human.passes(SECRET.encode(), asked.token, total, now + 5, 3600)
    assert human.passes(SECRET.encode(), asked.token, thai, now + 5, 3600)
    assert not human.passes(SECRET.encode(), asked.token, str(asked.a + asked.b + 1), now, 3600)
    assert not human.passes(b"another key", asked.token, total, now, 3600)
    assert not human.passes(SECRET.encode(), asked.token, total, now + 3601, 3600), "too old"
    # Another question under the same signature (never the one asked, whatever was drawn).
    forged = asked.token.replace(f"{asked.a}.{asked.b}.", f"{asked.a + 1}.{asked.b}.", 1)
    assert not human.passes(SECRET.encode(), forged, str(asked.a + 1 + asked.b), now, 3600)
    assert "บวก" in asked.question_th() and not any(
        ch.isascii() and ch.isdigit() for ch in asked.question_th()
    )


async def form_fields(c: httpx.AsyncClient) -> tuple[str, str]:
    """The human check of a freshly shown form: its token and the right answer."""
    page = await c.get("/report")
    token = re.search(r'name="human_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    a, b = (int(x) for x in token.split(".")[:2])
    return token, str(a + b)


async def test_a_report_reaches_intake_on_the_web_channel_and_returns_a_tracking_link() -> None:
    upstream = FakeUpstream()
    upstream.answer("intake", "POST", "/v1/submissions", ACCEPTED)
    service = portal(upstream)
    transport = httpx.ASGITransport(app=service.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://portal") as c:
        page = await c.get("/report")
        assert '<label for="human_answer">' in page.text and "บวก" in page.text
        token, answer = await form_fields(c)
        r = await c.post(
            "/report",
            data={
                "text": "ไฟถนนดับทั้งซอย",
                "category": "lighting",
                "village": "4",
                "lat": "",
                "lon": "",
                "contact_name": "สมชาย ใจดี",
                "contact_phone": "0812345678",
                "consent": "yes",
                "human_token": token,
                "human_answer": answer,
            },
            files={"photo": ("lamp.jpg", jpeg_with_exif(), "image/jpeg")},
        )
    assert r.status_code == 202
    assert "SPT-2570-000042" in r.text and 'href="/track/SPT-2570-000042"' in r.text
    assert "พิกัดในรูปภาพ" in r.text
    sent = upstream.calls[-1]
    body = sent["json"]
    assert sent["path"] == "/v1/submissions" and body["channel"] == "web"
    assert body["text"] == "ไฟถนนดับทั้งซอย" and body["service_code"] == "lighting"
    assert body["location"]["village_no"] == 4
    assert abs(body["location"]["lat"] - 15.6543) < 1e-3, "the position came from the photo"
    assert body["contact"] == {"name": "สมชาย ใจดี", "phone": "0812345678"}
    assert body["wants_contact"] is True
    [attachment] = body["attachments"]
    assert attachment["kind"] == "image" and attachment["ref"].startswith("portal-photo:")
    kept = service.handlers.photos.kept[attachment["ref"].removeprefix("portal-photo:")]  # type: ignore[attr-defined]
    assert b"Somchai Jaidee" not in kept and b"SERIAL-0042" not in kept
    assert sent["headers"]["Idempotency-Key"], "a double click is the same case"


async def test_a_typed_location_wins_over_the_photos() -> None:
    upstream = FakeUpstream()
    upstream.answer("intake", "POST", "/v1/submissions", ACCEPTED)
    transport = httpx.ASGITransport(app=portal(upstream).asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://portal") as c:
        token, answer = await form_fields(c)
        r = await c.post(
            "/report",
            data={"text": "ท่อแตก", "lat": "๑๕.๖", "lon": "103.5", "human_token": token,
                  "human_answer": answer},
            files={"photo": ("p.jpg", jpeg_with_exif(), "image/jpeg")},
        )  # fmt: skip
    assert r.status_code == 202
    assert upstream.calls[-1]["json"]["location"] == {"lat": 15.6, "lon": 103.5}
    assert "contact" not in upstream.calls[-1]["json"]


async def test_refusals_are_shown_on_the_form_and_nothing_is_sent() -> None:
    upstream = FakeUpstream()
    transport = httpx.ASGITransport(app=portal(upstream).asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://portal") as c:
        token, answer = await form_fields(c)
        wrong = await c.post(
            "/report", data={"text": "ถนนพัง", "human_token": token, "human_answer": "99"}
        )
        assert wrong.status_code == 422 and 'id="err-human_answer"' in wrong.text
        assert "ถนนพัง" in wrong.text, "what was typed stays"
        no_consent = await c.post(
            "/report",
            data={"text": "ถนนพัง", "contact_phone": "0812345678", "human_token": token,
                  "human_answer": answer},
        )  # fmt: skip
        assert no_consent.status_code == 422 and 'id="err-consent"' in no_consent.text
        not_image = await c.post(
            "/report",
            data={"text": "ถนนพัง", "human_token": token, "human_answer": answer},
            files={"photo": ("x.jpg", b"not an image at all", "image/jpeg")},
        )
        assert not_image.status_code == 422 and 'id="err-photo"' in not_image.text
        empty = await c.post(
            "/report", data={"text": " ", "human_token": token, "human_answer": answer}
        )
        assert empty.status_code == 422 and 'id="err-text"' in empty.text
        both = await c.post("/report", data={"text": "", "human_token": token, "human_answer": "0"})
        assert 'id="err-text"' in both.text and 'id="err-human_answer"' in both.text
    assert upstream.calls == []


async def test_a_photo_over_the_limit_is_refused() -> None:
    transport = httpx.ASGITransport(app=portal(max_photo_bytes=1_000).asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://portal") as c:
        token, answer = await form_fields(c)
        r = await c.post(
            "/report",
            data={"text": "ถนนพัง", "human_token": token, "human_answer": answer},
            files={"photo": ("big.jpg", b"\xff" * 5_000, "image/jpeg")},
        )
    assert r.status_code == 422 and "ไม่เกิน" in r.text


async def test_intake_down_is_a_plain_message_and_the_form_is_kept() -> None:
    upstream = FakeUpstream()
    upstream.answer("intake", "POST", "/v1/submissions", Reply(503))
    transport = httpx.ASGITransport(app=portal(upstream).asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://portal") as c:
        token, answer = await form_fields(c)
        r = await c.post(
            "/report", data={"text": "ถนนพัง", "human_token": token, "human_answer": answer}
        )
    assert r.status_code == 503 and "ลองใหม่อีกครั้งในภายหลัง" in r.text and "ถนนพัง" in r.text
    assert int(r.headers["retry-after"]) >= 1


async def test_reports_are_rate_limited_per_address() -> None:
    upstream = FakeUpstream()
    upstream.answer("intake", "POST", "/v1/submissions", ACCEPTED)
    transport = httpx.ASGITransport(app=portal(upstream, report_burst=2).asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://portal") as c:
        token, answer = await form_fields(c)
        data = {"text": "ถนนพัง", "human_token": token, "human_answer": answer}
        assert (await c.post("/report", data=data)).status_code == 202
        assert (await c.post("/report", data=data)).status_code == 202
        third = await c.post("/report", data=data)
    assert third.status_code == 429
    assert int(third.headers["retry-after"]) >= 1
    assert "ส่งเรื่องถี่เกินไป" in third.text
    assert len(upstream.calls) == 2
