"""The portal in a real headless Chromium, against the six services on the real test stack.

One set of service processes and one browser serve the whole session (starting five
services takes a while on two cores); each session has its own topic prefix and database.
`scenario` puts known data in through the APIs, personal data included, so that the pages
have something to show and the PII scan something to look for.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from deploy.local import stack
from shared.thai import fiscal_year_be, to_bangkok
from tests.portal.e2e.browser import Browser, chromium
from tests.portal.e2e.services import Services, started
from tools.pii_scan import Name, Needles, needles_from

# Personal data of the input, written to be found: a name with its title, phones, an
# e-mail and a national ID number with a valid check digit (tools/pii_scan.py).
REPORTER = Name("นางสาว", "พิมพ์ลดา", "ทองประเสริฐ")
REPORTER_PHONE = "086-123-4578"
REPORTER_EMAIL = "pimlada.thong@example.com"
NAMED_IN_TEXT = Name("นาย", "วีระพงษ์", "แก้วมณีรัตน์")
PHONE_IN_TEXT = "089-765-4321"
NATIONAL_ID = "3100100123451"
CALLER = Name("นาง", "บุญเรือน", "ศรีสุขสวัสดิ์")
CALLER_PHONE = "0918765432"

WEB_TEXT = (
    f"ไฟส่องสว่างหน้าบ้าน{NAMED_IN_TEXT} ดับมาสามคืนแล้ว ติดต่อ {PHONE_IN_TEXT} เลขบัตร {NATIONAL_ID} หมู่ที่ 3"
)
PHONE_TEXT = f"ถนนหน้าบ้าน{CALLER}เป็นหลุมลึก รถจักรยานยนต์ล้ม หมู่ที่ 5 โทร {CALLER_PHONE}"
RESOLVED_TEXT = "ท่อระบายน้ำอุดตัน น้ำท่วมขังหน้าศาลาประชาคม หมู่ที่ 2"
BIG_BUDGET = "25,000,000.00"


def needles() -> Needles:
    """What must never show on a public page or download."""
    return needles_from(
        [WEB_TEXT, PHONE_TEXT, str(REPORTER), str(CALLER)],
        phones=[REPORTER_PHONE, PHONE_IN_TEXT, CALLER_PHONE],
        emails=[REPORTER_EMAIL],
        names=[REPORTER, NAMED_IN_TEXT, CALLER],
    )


@dataclass(frozen=True)
class Scenario:
    """What the APIs were given before any page is opened."""

    web_case: str  # a web report with personal data in its words and its contact
    phone_case: str  # a telephone call typed in by the desk, the caller named
    survey_case: str  # resolved: its survey is answered in the browser
    visited_case: str  # resolved: its survey page is only looked at
    survey_token: str
    visited_token: str
    project_id: str  # over 10,000,000 baht: it owes public participation
    fiscal_year: int
    campaign_id: str  # the general satisfaction campaign open today


@pytest.fixture(scope="session")
def services(
    real_stack: stack.Profile, tmp_path_factory: pytest.TempPathFactory, axe_script: Path
) -> Iterator[Services]:
    with started(Services, real_stack, tmp_path_factory, "portal") as running:
        yield running


@pytest.fixture(scope="session")
def browser(services: Services, axe_script: Path) -> Iterator[Browser]:
    with chromium(services.portal, axe_script) as b:
        yield b


@pytest.fixture(scope="session")
def scenario(services: Services) -> Scenario:
    return seed(services)


def seed(services: Services) -> Scenario:
    """Cases, resolutions, survey invitations and a big project, through the APIs."""
    web_case = services.submit(
        {
            "channel": "web",
            "kind": "complaint",
            "text": WEB_TEXT,
            "location": {"lat": 15.1532, "lon": 103.0421, "village_no": 3},
            "contact": {"name": str(REPORTER), "phone": REPORTER_PHONE, "email": REPORTER_EMAIL},
            "channel_message_id": f"e2e-web-{uuid.uuid4().hex[:8]}",
        }
    )
    desk = "desk"
    phone_case = services.submit(
        {
            "channel": "phone",
            "kind": "complaint",
            "text": PHONE_TEXT,
            "contact": {"name": str(CALLER), "phone": CALLER_PHONE},
            "channel_message_id": f"e2e-call-{uuid.uuid4().hex[:8]}",
        },
        as_=desk,
    )
    resolved = [
        services.submit(
            {
                "channel": "phone",
                "kind": "complaint",
                "text": f"{RESOLVED_TEXT} (เรื่องที่ {n})",
                "location": {"village_no": 2},
                "channel_message_id": f"e2e-resolved-{n}-{uuid.uuid4().hex[:8]}",
            },
            as_=desk,
        )
        for n in (1, 2)
    ]
    for case_id in resolved:
        services.resolve(case_id, "ลอกท่อระบายน้ำและเก็บขยะที่อุดตันเรียบร้อยแล้ว")
    fiscal_year = fiscal_year_be(datetime.now(UTC))
    project_id = f"SPT-P{fiscal_year}-E{uuid.uuid4().hex[:6].upper()}"
    services.call(
        "POST",
        "compliance",
        "/v1/projects",
        as_="planner",
        json={
            "project_id": project_id,
            "org_id": "sraphonthong",
            "name": "ก่อสร้างถนนคอนกรีตเสริมเหล็กสายบ้านสระโพน-บ้านหนองทอง หมู่ที่ 2",
            "fiscal_year": fiscal_year,
            "budget": BIG_BUDGET,
            "funding_source": "เงินอุดหนุนเฉพาะกิจ",
        },
    )
    return Scenario(
        web_case=web_case,
        phone_case=phone_case,
        survey_case=resolved[0],
        visited_case=resolved[1],
        survey_token=services.survey_token(resolved[0]),
        visited_token=services.survey_token(resolved[1]),
        project_id=project_id,
        fiscal_year=fiscal_year,
        campaign_id=open_campaign(services),
    )


def open_campaign(services: Services) -> str:
    """The survey service's general campaign open today (Bangkok), else its newest."""
    items = services.call("GET", "survey", "/v1/campaigns").json()["items"]
    assert items, "the survey service has no campaign"
    today = to_bangkok(datetime.now(UTC)).date().isoformat()
    current = [c for c in items if str(c["opens"]) <= today <= str(c["closes"])]
    return str((current or sorted(items, key=lambda c: str(c["opens"])))[-1]["id"])
