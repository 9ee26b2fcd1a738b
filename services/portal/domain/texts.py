"""Names of the codes the public projections carry, in Thai and English. Page wording lives
in the templates beside the markup it belongs to (`tr("ไทย", "English")`)."""

from __future__ import annotations

from shared.taxonomy import CASE_STATUSES

STATUS = CASE_STATUSES
KIND = {
    "complaint": ("เรื่องร้องเรียน/ร้องทุกข์", "Complaint"),
    "suggestion": ("ข้อเสนอแนะ", "Suggestion"),
    "opinion": ("ความคิดเห็น", "Opinion"),
    "compliment": ("คำชมเชย", "Compliment"),
    "question": ("สอบถาม", "Question"),
    "corruption_report": ("แจ้งเบาะแสการทุจริต", "Corruption report"),
    "improvement_action": ("การปรับปรุงบริการ", "Improvement action"),
}
CHANNEL = {
    "web": ("เว็บไซต์", "Website"),
    "open311": ("Open311", "Open311"),
    "line": ("LINE", "LINE"),
    "phone": ("โทรศัพท์", "Telephone"),
    "letter": ("หนังสือ", "Letter"),
    "suggestion_box": ("ตู้รับความคิดเห็น", "Suggestion box"),
    "email": ("อีเมล", "E-mail"),
    "meeting": ("เวทีประชาคม", "Public meeting"),
    "walk_in": ("ติดต่อด้วยตนเอง", "In person"),
    "traffy": ("Traffy Fondue", "Traffy Fondue"),
    "internal": ("ภายใน", "Internal"),
}
DEADLINE = {
    "acknowledge": ("รับทราบเรื่อง", "Acknowledge"),
    "respond": ("ตอบผู้ร้องภายใน 15 วัน", "Reply within 15 days"),
}
DEADLINE_STATE = {
    "met": ("ทันกำหนด", "Met"),
    "missed": ("เกินกำหนด", "Missed"),
    "pending": ("ยังไม่ถึงกำหนด", "Not yet due"),
    "overdue": ("เลยกำหนดแล้ว ยังไม่แล้วเสร็จ", "Overdue"),
}
STAGE = {
    "planning": ("วางแผน", "Planning"),
    "approved": ("อนุมัติแล้ว", "Approved"),
    "procurement": ("จัดซื้อจัดจ้าง", "Procurement"),
    "contracted": ("ลงนามสัญญาแล้ว", "Contracted"),
    "in_progress": ("กำลังดำเนินการ", "In progress"),
    "inspection": ("ตรวจรับ", "Inspection"),
    "completed": ("แล้วเสร็จ", "Completed"),
    "cancelled": ("ยกเลิก", "Cancelled"),
}
PARTICIPATION = {
    "public_hearing": ("การรับฟังความคิดเห็นของประชาชน", "Public hearing"),
    "community_forum": ("เวทีประชาคม", "Community forum"),
    "inspection_committee": ("ผู้แทนประชาชนร่วมตรวจรับ", "Citizens on the inspection committee"),
    "public_report_back": ("รายงานผลต่อสาธารณะ", "Public report-back"),
    "other": ("อื่น ๆ", "Other"),
}
# What measure 5 requires of a big project (compliance's requirement kinds; the Thai as in
# services/compliance/config/default.yaml), not the same list as the kinds of participation.
REQUIREMENT = {
    "public_hearing": ("การรับฟังความคิดเห็นหรือประชาคม", "Public hearing or community forum"),
    "inspection_committee_participation": (
        "ผู้แทนภาคประชาชนหรือภาคเอกชนในคณะกรรมการตรวจรับ",
        "Citizens or the private sector on the inspection committee",
    ),
    "public_report_back": ("การรายงานผลการดำเนินงานต่อสาธารณะ", "Public report-back"),
}
SEVERITY = {  # as compliance's severity_labels
    "high": ("ร้ายแรง", "serious"),
    "medium": ("ปานกลาง", "moderate"),
    "low": ("เล็กน้อย", "minor"),
}
REQUIREMENT_STATUS = {
    "open": ("ยังไม่ดำเนินการ", "Open"),
    "met": ("ดำเนินการแล้ว", "Met"),
    "waived": ("ได้รับการยกเว้น", "Waived"),
}
GROUP = {
    "citizens": ("ประชาชน", "Citizens"),
    "community_leaders": ("ผู้นำชุมชน", "Community leaders"),
    "private_sector": ("ภาคเอกชน", "Private sector"),
    "civil_society": ("ภาคประชาสังคม", "Civil society"),
}
QUESTION = {
    "process": ("ด้านกระบวนการ/ขั้นตอน", "Process"),
    "channels": ("ด้านช่องทางการให้บริการ", "Channels"),
    "staff": ("ด้านเจ้าหน้าที่", "Staff"),
    "facilities": ("ด้านสิ่งอำนวยความสะดวก", "Facilities"),
    "quality": ("ด้านคุณภาพการให้บริการ", "Quality"),
    "overall": ("ความพึงพอใจโดยรวม", "Overall"),
}

TABLES = {
    "status": STATUS,
    "kind": KIND,
    "channel": CHANNEL,
    "deadline": DEADLINE,
    "deadline_state": DEADLINE_STATE,
    "stage": STAGE,
    "participation": PARTICIPATION,
    "requirement": REQUIREMENT,
    "severity": SEVERITY,
    "requirement_status": REQUIREMENT_STATUS,
    "group": GROUP,
    "question": QUESTION,
}


def label(table: str, code: str | None, lang: str = "th") -> str:
    """The name of `code` in `table`, or the code itself when it has none."""
    if code is None:
        return "–"
    names = TABLES[table].get(code)
    if names is None:
        return code
    return names[0] if lang == "th" else names[1]
