"""Taxonomy invariants (pure; the Traffy check reads the shared CSV in place if present)."""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import pytest

from shared import taxonomy
from shared.taxonomy import CATEGORIES, GENERAL_CODE, by_code, by_label_th

REPO = Path(__file__).resolve().parents[3]
CSV_PATH = Path(
    os.environ.get(
        "RUAM_TRAFFY_CSV", REPO.parent / "shared" / "data" / "traffy-fondue-2023-05-16.csv"
    )
)

EXPECTED_TRAFFY = {
    "ถนน": "road",
    "ทางเท้า": "footpath",
    "ความสะอาด": "cleanliness",
    "ร้องเรียน": "complaint",
    "ความปลอดภัย": "safety",
    "แสงสว่าง": "lighting",
    "ท่อระบายน้ำ": "drainage",
    "กีดขวาง": "obstruction",
    "ป้าย": "sign",
    "สะพาน": "bridge",
    "จราจร": "traffic",
    "คลอง": "canal",
    "ต้นไม้": "tree",
    "เสียงรบกวน": "noise",
    "สายไฟ": "power_line",
    "น้ำท่วม": "flooding",
    "สัตว์จรจัด": "stray_animal",
    "PM2.5": "pm25",
    "สอบถาม": "question",
    "คนจรจัด": "homeless",
    "การเดินทาง": "transport",
    "เสนอแนะ": "suggestion",
    "ป้ายจราจร": "traffic_sign",
    "ห้องน้ำ": "toilet",
}


def test_codes_and_labels_unique_and_well_formed() -> None:
    codes = [c.code for c in CATEGORIES]
    assert len(codes) == len(set(codes))
    assert len({c.label_th for c in CATEGORIES}) == len(CATEGORIES)
    for c in CATEGORIES:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", c.code), c.code
        assert c.label_th and c.label_en and c.description_th
        assert c.group in taxonomy.GROUPS
        assert isinstance(c.keywords, tuple)


def test_expected_traffy_labels_map_to_codes() -> None:
    for label, code in EXPECTED_TRAFFY.items():
        cat = by_label_th(label)
        assert cat.code == code and cat.traffy
        assert by_code(code) is cat
    assert {c.label_th for c in taxonomy.TRAFFY_CATEGORIES} == set(EXPECTED_TRAFFY)


def test_rural_and_general_categories_exist() -> None:
    for code in (
        "water_supply",
        "welfare",
        "child_development",
        "public_health",
        "disaster_relief",
        "agriculture",
        "tax_fee",
        "corruption",
    ):
        assert not by_code(code).traffy
    assert by_code("water_supply").label_th == "ประปาหมู่บ้าน"
    assert by_code("welfare").label_th == "เบี้ยยังชีพ"
    assert by_code("corruption").label_th == "ทุจริต"
    assert by_code(GENERAL_CODE).label_en == "General"
    assert by_code("road").field_work and not by_code("corruption").field_work


def test_categories_are_immutable_and_lookups_fail_loudly() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        by_code("road").code = "x"  # type: ignore[misc]
    with pytest.raises(KeyError):
        by_code("nope")
    with pytest.raises(KeyError):
        by_label_th("ไม่มีหมวดนี้")
    assert by_label_th(" ถนน ").code == "road"


@pytest.mark.skipif(not CSV_PATH.exists(), reason="Traffy CSV not available")
def test_every_traffy_type_in_csv_is_in_taxonomy_with_exact_label() -> None:
    seen: set[str] = set()
    with CSV_PATH.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            for label in (row.get("type") or "").strip().strip("{}").split(","):
                if label.strip():
                    seen.add(label.strip())
    assert seen, "no categories read from the CSV"
    for label in seen:
        assert by_label_th(label).label_th == label
    assert seen <= set(EXPECTED_TRAFFY)
