"""Category taxonomy shared by all Ruam services.

Pure Python, no I/O.  The first block mirrors the citizen-facing categories of
Traffy Fondue (``label_th`` is the *exact* Thai label that appears in the Traffy
``type`` column, so imported reports map one-to-one); the second block adds the
categories a rural Subdistrict Administrative Organization (อบต.) handles that
Traffy (Bangkok) has no notion of.  ``general`` is the catch-all.

Codes are stable lowercase ASCII identifiers: never rename one, add a new one.
``group`` is the coarse Open311 group.  ``field_work`` marks physical
infrastructure/site categories an area officer goes out to inspect.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = [
    "CASE_STATUSES",
    "CATEGORIES",
    "CAUSES",
    "GENERAL_CAUSES",
    "GENERAL_CODE",
    "GROUPS",
    "TRAFFY_CATEGORIES",
    "Category",
    "Cause",
    "by_code",
    "by_label_th",
    "causes_for",
    "codes",
]


class Category(BaseModel):
    """One complaint/service category."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    label_th: str
    label_en: str
    group: str
    description_th: str
    keywords: tuple[str, ...] = ()
    field_work: bool = False
    traffy: bool = False


GENERAL_CODE = "general"

GROUPS: tuple[str, ...] = (
    "infrastructure",
    "environment",
    "public_safety",
    "social",
    "economy",
    "governance",
    "general",
)


def _c(
    code: str,
    label_th: str,
    label_en: str,
    group: str,
    description_th: str,
    keywords: tuple[str, ...],
    *,
    field_work: bool,
    traffy: bool,
) -> Category:
    return Category(
        code=code,
        label_th=label_th,
        label_en=label_en,
        group=group,
        description_th=description_th,
        keywords=keywords,
        field_work=field_work,
        traffy=traffy,
    )


CATEGORIES: tuple[Category, ...] = (
    # ---- Traffy Fondue categories (exact labels) -------------------------
    _c(
        "road",
        "ถนน",
        "Road",
        "infrastructure",
        "ถนนชำรุด หลุมบ่อ ผิวถนนทรุด ถนนลูกรัง",
        ("ถนน", "หลุม", "บ่อ", "ทรุด", "ผิวถนน", "ลาดยาง", "ลูกรัง"),
        field_work=True,
        traffy=True,
    ),
    _c(
        "footpath",
        "ทางเท้า",
        "Footpath",
        "infrastructure",
        "ทางเท้า ฟุตบาท ชำรุด หรือถูกใช้ผิดวัตถุประสงค์",
        ("ทางเท้า", "ฟุตบาท", "บล็อก", "อิฐตัวหนอน", "ขอบทาง"),
        field_work=True,
        traffy=True,
    ),
    _c(
        "cleanliness",
        "ความสะอาด",
        "Cleanliness / waste",
        "environment",
        "ขยะตกค้าง การเก็บขยะ ความสกปรก กลิ่นเหม็น",
        ("ขยะ", "เก็บขยะ", "สกปรก", "กลิ่นเหม็น", "ทิ้งขยะ"),
        field_work=True,
        traffy=True,
    ),
    _c(
        "complaint",
        "ร้องเรียน",
        "Complaint",
        "governance",
        "เรื่องร้องเรียนทั่วไปเกี่ยวกับการให้บริการหรือการกระทำของผู้อื่น",
        ("ร้องเรียน", "ไม่พอใจ", "เจ้าหน้าที่", "บริการ"),
        field_work=False,
        traffy=True,
    ),
    _c(
        "safety",
        "ความปลอดภัย",
        "Public safety",
        "public_safety",
        "จุดเสี่ยง อันตราย มิจฉาชีพ ความไม่ปลอดภัยในพื้นที่สาธารณะ",
        ("อันตราย", "เสี่ยง", "ปลอดภัย", "อุบัติเหตุ", "มิจฉาชีพ"),
        field_work=True,
        traffy=True,
    ),
    _c(
        "lighting",
        "แสงสว่าง",
        "Street lighting",
        "infrastructure",
        "ไฟฟ้าส่องสว่าง ไฟถนนดับ ไฟทาง ความมืด",
        ("ไฟดับ", "ไฟถนน", "ไฟทาง", "มืด", "หลอดไฟ", "เสาไฟ"),
        field_work=True,
        traffy=True,
    ),
    _c(
        "drainage",
        "ท่อระบายน้ำ",
        "Drainage",
        "infrastructure",
        "ท่อระบายน้ำอุดตัน ฝาท่อชำรุด น้ำขังระบายไม่ทัน",
        ("ท่อระบายน้ำ", "ฝาท่อ", "อุดตัน", "น้ำขัง", "รางระบายน้ำ"),
        field_work=True,
        traffy=True,
    ),
    _c(
        "obstruction",
        "กีดขวาง",
        "Obstruction",
        "public_safety",
        "สิ่งของ แผงลอย หรือรถกีดขวางทางสาธารณะ",
        ("กีดขวาง", "วางของ", "แผงลอย", "จอดรถ", "ขวางทาง"),
        field_work=True,
        traffy=True,
    ),
    _c(
        "sign",
        "ป้าย",
        "Signboard",
        "infrastructure",
        "ป้ายโฆษณา ป้ายหาเสียง ป้ายชำรุดหรือติดตั้งผิดที่",
        ("ป้าย", "ป้ายโฆษณา", "ป้ายหาเสียง", "ติดป้าย"),
        field_work=True,
        traffy=True,
    ),
    _c(
        "bridge",
        "สะพาน",
        "Bridge",
        "infrastructure",
        "สะพาน สะพานลอย สะพานข้ามคลองชำรุด",
        ("สะพาน", "สะพานลอย", "ราวสะพาน"),
        field_work=True,
        traffy=True,
    ),
    _c(
        "traffic",
        "จราจร",
        "Traffic",
        "public_safety",
        "การจราจร สัญญาณไฟจราจร รถติด การขับขี่",
        ("จราจร", "รถติด", "ไฟจราจร", "ไฟแดง", "ย้อนศร"),
        field_work=True,
        traffy=True,
    ),
    _c(
        "canal",
        "คลอง",
        "Canal / waterway",
        "environment",
        "คลอง ลำราง แหล่งน้ำ น้ำเน่าเสีย ผักตบชวา",
        ("คลอง", "ลำราง", "ผักตบชวา", "น้ำเน่า", "ขุดลอก"),
        field_work=True,
        traffy=True,
    ),
    _c(
        "tree",
        "ต้นไม้",
        "Trees",
        "environment",
        "ต้นไม้ กิ่งไม้ ตัดแต่งกิ่ง ต้นไม้ล้ม",
        ("ต้นไม้", "กิ่งไม้", "ตัดกิ่ง", "ตัดแต่ง", "หญ้า"),
        field_work=True,
        traffy=True,
    ),
    _c(
        "noise",
        "เสียงรบกวน",
        "Noise",
        "environment",
        "เสียงดังรบกวน ก่อสร้าง สถานบันเทิง",
        ("เสียงดัง", "รบกวน", "เสียง", "ก่อสร้าง"),
        field_work=False,
        traffy=True,
    ),
    _c(
        "power_line",
        "สายไฟ",
        "Overhead cables",
        "infrastructure",
        "สายไฟ สายสื่อสาร สายสัญญาณรก หย่อน ขาด",
        ("สายไฟ", "สายสื่อสาร", "สายสัญญาณ", "สายหย่อน", "เสาไฟฟ้า"),
        field_work=True,
        traffy=True,
    ),
    _c(
        "flooding",
        "น้ำท่วม",
        "Flooding",
        "environment",
        "น้ำท่วมขัง น้ำท่วมถนนหรือบ้านเรือน",
        ("น้ำท่วม", "ท่วมขัง", "ท่วม"),
        field_work=True,
        traffy=True,
    ),
    _c(
        "stray_animal",
        "สัตว์จรจัด",
        "Stray animals",
        "environment",
        "สุนัขจรจัด แมวจรจัด สัตว์ดุร้าย",
        ("สุนัข", "หมา", "แมว", "จรจัด", "สัตว์"),
        field_work=False,
        traffy=True,
    ),
    _c(
        "pm25",
        "PM2.5",
        "Air pollution (PM2.5)",
        "environment",
        "ฝุ่นละออง PM2.5 ควัน การเผา",
        ("ฝุ่น", "pm2.5", "ควัน", "เผา", "มลพิษ"),
        field_work=False,
        traffy=True,
    ),
    _c(
        "question",
        "สอบถาม",
        "Enquiry",
        "governance",
        "สอบถามข้อมูลหรือขั้นตอนการให้บริการ",
        ("สอบถาม", "อยากทราบ", "ขอทราบ", "ติดต่อ"),
        field_work=False,
        traffy=True,
    ),
    _c(
        "homeless",
        "คนจรจัด",
        "Homeless people",
        "social",
        "คนไร้บ้าน คนจรจัด ผู้ป่วยจิตเวชเร่ร่อน",
        ("คนจรจัด", "คนไร้บ้าน", "เร่ร่อน", "ขอทาน"),
        field_work=False,
        traffy=True,
    ),
    _c(
        "transport",
        "การเดินทาง",
        "Public transport",
        "public_safety",
        "รถโดยสาร ป้ายรถเมล์ เรือ การเดินทางสาธารณะ",
        ("รถเมล์", "รถโดยสาร", "ป้ายรถเมล์", "วินมอเตอร์ไซค์", "เรือ"),
        field_work=False,
        traffy=True,
    ),
    _c(
        "suggestion",
        "เสนอแนะ",
        "Suggestion",
        "governance",
        "ข้อเสนอแนะเพื่อปรับปรุงการบริการ",
        ("เสนอแนะ", "ข้อเสนอ", "อยากให้", "ควรจะ"),
        field_work=False,
        traffy=True,
    ),
    _c(
        "traffic_sign",
        "ป้ายจราจร",
        "Traffic sign",
        "infrastructure",
        "ป้ายจราจร ป้ายบอกทาง ชำรุดหรือมองไม่เห็น",
        ("ป้ายจราจร", "ป้ายบอกทาง", "ป้ายเตือน"),
        field_work=True,
        traffy=True,
    ),
    _c(
        "toilet",
        "ห้องน้ำ",
        "Public toilet",
        "infrastructure",
        "ห้องน้ำสาธารณะ สกปรก ชำรุด",
        ("ห้องน้ำ", "สุขา", "ห้องส้วม"),
        field_work=True,
        traffy=True,
    ),
    # ---- Rural SAO (อบต.) categories ---------------------------------------
    _c(
        "water_supply",
        "ประปาหมู่บ้าน",
        "Village water supply",
        "infrastructure",
        "ระบบประปาหมู่บ้าน น้ำประปาไม่ไหล ไหลอ่อน น้ำขุ่น ท่อประปาแตก",
        ("ประปา", "น้ำไม่ไหล", "น้ำขุ่น", "ท่อแตก", "หอถังสูง", "มิเตอร์น้ำ"),
        field_work=True,
        traffy=False,
    ),
    _c(
        "welfare",
        "เบี้ยยังชีพ",
        "Welfare allowances (elderly / disabled)",
        "social",
        "เบี้ยยังชีพผู้สูงอายุ คนพิการ ผู้ป่วยเอดส์ และสวัสดิการสังคม",
        ("เบี้ยยังชีพ", "ผู้สูงอายุ", "คนพิการ", "ผู้พิการ", "สวัสดิการ"),
        field_work=False,
        traffy=False,
    ),
    _c(
        "child_development",
        "ศูนย์พัฒนาเด็กเล็กและโรงเรียน",
        "Child development centres and schools",
        "social",
        "ศูนย์พัฒนาเด็กเล็ก โรงเรียน อาหารกลางวัน นมโรงเรียน",
        ("ศูนย์พัฒนาเด็กเล็ก", "ศพด", "โรงเรียน", "นมโรงเรียน", "อาหารกลางวัน", "ครูพี่เลี้ยง"),
        field_work=False,
        traffy=False,
    ),
    _c(
        "public_health",
        "สาธารณสุข",
        "Public health",
        "social",
        "ไข้เลือดออก ยุงลาย โรคติดต่อ พ่นหมอกควัน อสม.",
        ("ไข้เลือดออก", "ยุงลาย", "พ่นยุง", "โรคระบาด", "อสม", "พิษสุนัขบ้า"),
        field_work=False,
        traffy=False,
    ),
    _c(
        "disaster_relief",
        "บรรเทาสาธารณภัย",
        "Disaster relief (drought, flood)",
        "public_safety",
        "ภัยแล้ง อุทกภัย วาตภัย อัคคีภัย ขอรับความช่วยเหลือ ขอน้ำอุปโภคบริโภค",
        ("ภัยแล้ง", "อุทกภัย", "วาตภัย", "อัคคีภัย", "ไฟไหม้", "ช่วยเหลือผู้ประสบภัย", "แจกน้ำ"),
        field_work=True,
        traffy=False,
    ),
    _c(
        "agriculture",
        "การเกษตร",
        "Agriculture",
        "economy",
        "การเกษตร ศัตรูพืช โรคพืช ปศุสัตว์ น้ำเพื่อการเกษตร",
        ("เกษตร", "นาข้าว", "ศัตรูพืช", "ปุ๋ย", "ปศุสัตว์", "โรคพืช"),
        field_work=True,
        traffy=False,
    ),
    _c(
        "tax_fee",
        "ภาษีและค่าธรรมเนียม",
        "Local taxes and fees",
        "governance",
        "ภาษีที่ดินและสิ่งปลูกสร้าง ภาษีป้าย ค่าธรรมเนียมเก็บขยะ ใบอนุญาต",
        ("ภาษี", "ภาษีที่ดิน", "ค่าธรรมเนียม", "ชำระภาษี", "ใบอนุญาต"),
        field_work=False,
        traffy=False,
    ),
    _c(
        "corruption",
        "ทุจริต",
        "Corruption / misconduct",
        "governance",
        "การทุจริต ประพฤติมิชอบ เรียกรับเงิน ติดสินบน",
        ("ทุจริต", "คอร์รัปชัน", "เรียกรับเงิน", "สินบน", "ใต้โต๊ะ", "ฮั้ว"),
        field_work=False,
        traffy=False,
    ),
    # ---- catch-all --------------------------------------------------------
    _c(
        GENERAL_CODE,
        "อื่นๆ",
        "General",
        "general",
        "เรื่องทั่วไปที่ไม่เข้าหมวดใด",
        (),
        field_work=False,
        traffy=False,
    ),
)

_BY_CODE: dict[str, Category] = {c.code: c for c in CATEGORIES}
_BY_LABEL_TH: dict[str, Category] = {c.label_th: c for c in CATEGORIES}

if len(_BY_CODE) != len(CATEGORIES) or len(_BY_LABEL_TH) != len(CATEGORIES):  # pragma: no cover
    raise RuntimeError("duplicate category code or Thai label in taxonomy")

TRAFFY_CATEGORIES: tuple[Category, ...] = tuple(c for c in CATEGORIES if c.traffy)


def codes() -> tuple[str, ...]:
    """All category codes, in taxonomy order."""
    return tuple(_BY_CODE)


def by_code(code: str) -> Category:
    """Return the category with this code; ``KeyError`` if unknown."""
    try:
        return _BY_CODE[code]
    except KeyError:
        raise KeyError(f"unknown category code: {code!r}") from None


def by_label_th(label: str) -> Category:
    """Return the category whose Thai label is ``label`` (surrounding blanks ignored).

    ``KeyError`` if unknown.
    """
    try:
        return _BY_LABEL_TH[label.strip()]
    except KeyError:
        raise KeyError(f"unknown Thai category label: {label!r}") from None


# ---- root causes (measure 3) --------------------------------------------------
# The owner's reading of why a matter happened, chosen at resolve: a short list per
# category, so that a year's resolved cases can be counted by cause and the recurring ones
# fixed at the source. Codes are stable like category codes: never rename one.


class Cause(BaseModel):
    """One root cause an owner may name when resolving a case."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    label_th: str
    label_en: str


def _cause(code: str, label_th: str, label_en: str) -> Cause:
    return Cause(code=code, label_th=label_th, label_en=label_en)


CAUSES: tuple[Cause, ...] = (
    _cause("worn_surface", "ผิวทางชำรุดตามอายุการใช้งาน", "Worn surface"),
    _cause("heavy_vehicles", "รถบรรทุกน้ำหนักเกินหรือใช้งานหนัก", "Heavy vehicles"),
    _cause("contractor_defect", "งานจ้างเหมาไม่ได้มาตรฐานหรือชำรุดในระยะประกัน", "Contractor defect"),
    _cause("blocked_drain", "ท่อหรือรางระบายน้ำอุดตัน", "Blocked drain"),
    _cause("undersized_drain", "ทางระบายน้ำเล็กหรือไม่พอรับน้ำ", "Undersized drainage"),
    _cause("waste_in_waterway", "มีการทิ้งขยะลงทางน้ำ", "Waste dumped in the waterway"),
    _cause("lamp_failure", "หลอดหรืออุปกรณ์ไฟฟ้าเสื่อมตามอายุ", "Lamp or fitting worn out"),
    _cause("cable_theft", "สายไฟหรืออุปกรณ์ถูกลักขโมย", "Cable or equipment theft"),
    _cause("missed_collection", "รถเก็บขยะไม่มาตามรอบ", "Missed collection"),
    _cause("illegal_dumping", "ลักลอบทิ้งขยะ", "Illegal dumping"),
    _cause("not_enough_bins", "ถังขยะหรือจุดทิ้งไม่เพียงพอ", "Not enough bins"),
    _cause("pipe_leak", "ท่อประปารั่วหรือแตก", "Leaking or burst pipe"),
    _cause("pump_failure", "เครื่องสูบน้ำหรือระบบผลิตน้ำขัดข้อง", "Pump or plant failure"),
    _cause("staff_conduct", "การปฏิบัติงานของเจ้าหน้าที่", "Staff conduct"),
    _cause("unclear_procedure", "ขั้นตอนหรือการแจ้งข้อมูลไม่ชัดเจน", "Unclear procedure or information"),
    _cause("no_maintenance", "ขาดการบำรุงรักษาตามรอบ", "Maintenance not done"),
    _cause("weather", "สภาพอากาศหรือภัยธรรมชาติ", "Weather or natural hazard"),
    _cause("private_party", "เกิดจากการกระทำของบุคคลหรือเอกชน", "Caused by a person or business"),
    _cause("outside_authority", "อยู่นอกอำนาจหน้าที่ของ อบต.", "Outside our authority"),
    _cause("other", "อื่น ๆ (ระบุในบันทึก)", "Other (see the note)"),
)

# Every category's list ends with these; a category without its own list has these alone.
GENERAL_CAUSES: tuple[str, ...] = (
    "no_maintenance",
    "weather",
    "private_party",
    "outside_authority",
    "other",
)

_ROADS = ("worn_surface", "heavy_vehicles", "contractor_defect", "blocked_drain")
_WATER = ("blocked_drain", "undersized_drain", "waste_in_waterway", "contractor_defect")
_LIGHTS = ("lamp_failure", "cable_theft", "contractor_defect")
_CAUSES_BY_CATEGORY: dict[str, tuple[str, ...]] = {
    "road": _ROADS,
    "footpath": _ROADS,
    "bridge": _ROADS,
    "drainage": _WATER,
    "flooding": _WATER,
    "canal": _WATER,
    "lighting": _LIGHTS,
    "power_line": _LIGHTS,
    "cleanliness": ("missed_collection", "illegal_dumping", "not_enough_bins"),
    "water_supply": ("pipe_leak", "pump_failure", "contractor_defect"),
    "complaint": ("staff_conduct", "unclear_procedure"),
    "question": ("unclear_procedure",),
}

_CAUSE_BY_CODE: dict[str, Cause] = {c.code: c for c in CAUSES}

if len(_CAUSE_BY_CODE) != len(CAUSES) or any(  # pragma: no cover
    code not in _CAUSE_BY_CODE
    for codes_ in (*_CAUSES_BY_CATEGORY.values(), GENERAL_CAUSES)
    for code in codes_
):
    raise RuntimeError("duplicate or unknown cause code in taxonomy")


def causes_for(category: str | None) -> tuple[Cause, ...]:
    """The causes an owner may name for a case of this category, its own first, then the
    general ones; the general list alone for a category without its own (or none)."""
    own = _CAUSES_BY_CATEGORY.get(category or "", ())
    return tuple(_CAUSE_BY_CODE[c] for c in (*own, *GENERAL_CAUSES))


# The public names of a case's statuses, Thai and English: what the public website and a
# citizen's LINE chat call them (officers' screens word them for officers).
CASE_STATUSES: dict[str, tuple[str, str]] = {
    "received": ("รับเรื่องแล้ว", "Received"),
    "assigned": ("มอบหมายผู้รับผิดชอบแล้ว", "Assigned"),
    "acknowledged": ("เจ้าหน้าที่รับทราบแล้ว", "Acknowledged"),
    "in_progress": ("กำลังดำเนินการ", "In progress"),
    "pending_citizen": ("รอข้อมูลเพิ่มเติมจากผู้แจ้ง", "Waiting for the citizen"),
    "resolved": ("ดำเนินการแล้วเสร็จ", "Resolved"),
    "closed": ("ปิดเรื่อง", "Closed"),
    "reopened": ("เปิดเรื่องใหม่", "Reopened"),
    "transferred": ("โอนเรื่อง", "Transferred"),
    "duplicate": ("เรื่องซ้ำ", "Duplicate"),
    "not_our_responsibility": ("ไม่อยู่ในอำนาจหน้าที่ (แจ้งหน่วยงานที่เกี่ยวข้อง)", "Not ours"),
}
