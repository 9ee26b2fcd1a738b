"""Reading the Traffy Fondue export (in place: it is not ours to copy)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from tools.demo.context import Report

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CSV = REPO.parent / "shared" / "data" / "traffy-fondue-2023-05-16.csv"


def default_path() -> Path:
    return Path(os.environ.get("RUAM_TRAFFY_CSV") or DEFAULT_CSV)


def _coords(raw: str) -> tuple[float | None, float | None]:
    # The export writes "['100.55650', '13.74179']": longitude first.
    parts = [p.strip(" '\"[]") for p in raw.split(",")]
    try:
        lon, lat = float(parts[0]), float(parts[1])
    except (IndexError, ValueError):
        return None, None
    return lat, lon


def load(path: Path) -> list[Report]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    reports = []
    for n, row in enumerate(rows, start=1):
        lat, lon = _coords(row.get("coords", ""))
        types = tuple(t.strip() for t in row.get("type", "").strip("{}").split(",") if t.strip())
        reports.append(
            Report(
                ticket_id=(row.get("ticket_id") or f"row-{n}").strip(),
                text=row.get("description") or row.get("comment") or "",
                types=types,
                lat=lat,
                lon=lon,
                address=row.get("address", ""),
                timestamp=row.get("timestamp", ""),
                state=row.get("state", ""),
                star=row.get("star", ""),
            )
        )
    return reports


def sample() -> list[Report]:
    """A small sample written by the project itself, for when no CSV is at hand."""
    texts = [
        ("S-0001", "ไฟถนนดับทั้งซอย หมู่ที่ 3 กลางคืนมืดมาก", ("แสงสว่าง",)),
        ("S-0002", "ถนนลูกรังเป็นหลุมเป็นบ่อ หมู่ที่ 5 รถจักรยานยนต์ล้มบ่อย", ("ถนน",)),
        ("S-0003", "ท่อระบายน้ำอุดตัน น้ำขังหน้าบ้าน ส่งกลิ่นเหม็น", ("ท่อระบายน้ำ",)),
        ("S-0004", "ขยะไม่มีคนมาเก็บสามวันแล้ว หน้าตลาด", ("ความสะอาด",)),
        ("S-0005", "", ("ถนน",)),
        ("S-0006", "สุนัขจรจัดไล่กัดเด็กนักเรียน หน้าโรงเรียน", ("สัตว์จรจัด",)),
        ("S-0007", "กิ่งไม้ใหญ่พาดสายไฟ กลัวจะหักลงมา", ("ต้นไม้",)),
        ("S-0008", "ร้านคาราโอเกะเปิดเพลงเสียงดังถึงตีสอง", ("เสียงรบกวน",)),
    ]
    return [
        Report(t, text, types, 15.72, 103.51, "ต.สระโพนทอง", "2026-11-20 09:00:00+07", "", "")
        for t, text, types in texts
    ]
