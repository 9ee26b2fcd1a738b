"""Opening a citizen's file in the console is on the audit trail (PDPA): a letter's scan or
an after-photo is recorded before it is served, with who, which case and which file (never
the file), and a trail that cannot be written means the file is not shown."""

from __future__ import annotations

import pytest

from services.console.audit import BusPublisher
from services.console.photos import JPEG
from services.console.settings import ConsoleSettings
from shared.audit import AuditTrail
from shared.auth import Principal
from shared.clock import FixedClock
from shared.http import ApiError
from shared.roles import Role
from tests.console.unit.test_pages import _jpeg_with_gps
from tests.console.world import Browser, World, world
from tests.routing.unit.test_handlers import NOW

CASE = "SPT-2569-000001"


async def _with_scan() -> tuple[World, str]:
    w = world()
    scan_ref = await w.photos.keep_scan(_jpeg_with_gps())
    await w.photos.link(scan_ref, CASE)
    await w.receive(
        CASE,
        channel="letter",
        location={"village_no": 5},
        attachments=[{"kind": "document", "ref": scan_ref}],
    )
    return w, scan_ref


async def test_opening_a_scan_is_recorded_first_with_who_which_case_and_which_file() -> None:
    w, scan_ref = await _with_scan()
    officer = Browser(w)
    await officer.sign_in("eng-anan")
    await officer.get(f"/cases/{CASE}")
    assert w.trail.records == []  # the case page shows a link, not the file
    shown = await officer.get(f"/cases/{CASE}/attachments/0")
    assert shown.status_code == 200 and shown.headers["content-type"] == JPEG
    (record,) = w.trail.records
    assert record["service"] == "console" and record["action"] == "file.read"
    assert record["target"] == f"case:{CASE}" and record["officer_id"] == "eng-anan"
    assert record["detail"] == f"attachment 1 (scan) {scan_ref}"
    # the record names the file; it carries nothing of it
    assert len(str(record)) < 1000 and "\\xff\\xd8" not in str(record)
    # a look refused (another department) is no look: nothing recorded
    other = Browser(w)
    await other.sign_in("fin-head")
    assert (await other.get(f"/cases/{CASE}/attachments/0")).status_code == 403
    assert len(w.trail.records) == 1


async def test_an_after_photo_by_its_own_address_is_recorded_too() -> None:
    w = world()
    await w.receive(CASE, location={"village_no": 5})
    ref = await w.photos.keep(CASE, _jpeg_with_gps())
    officer = Browser(w)
    await officer.sign_in("eng-anan")
    shown = await officer.get(f"/photos/{ref.split(':', 1)[1]}")
    assert shown.status_code == 200
    (record,) = w.trail.records
    assert record["target"] == f"case:{CASE}" and record["detail"].startswith("photo ")


async def test_no_trail_no_file() -> None:
    w, _ = await _with_scan()
    w.trail.down = True
    officer = Browser(w)
    await officer.sign_in("eng-anan")
    r = await officer.get(f"/cases/{CASE}/attachments/0")
    assert r.status_code == 503 and r.headers["content-type"].startswith("text/html")
    assert "ระบบบันทึกการเข้าดูข้อมูลส่วนบุคคลไม่ว่างชั่วคราว" in r.text
    assert b"\xff\xd8" not in r.content


async def test_a_broker_out_of_reach_is_a_refused_record_not_a_hang() -> None:
    settings = ConsoleSettings(env="dev", kafka_bootstrap_servers="127.0.0.1:9")
    trail = AuditTrail(BusPublisher(settings, timeout_seconds=2), "console", FixedClock(NOW))
    who = Principal(subject="s", org_id="sraphonthong", roles=frozenset({Role.OFFICER}))
    with pytest.raises(ApiError) as refused:
        await trail.record(who, None, "file.read", f"case:{CASE}", detail="attachment 1")
    assert refused.value.status == 503
