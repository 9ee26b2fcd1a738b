"""Who may read a case's personal data (its contact, the citizen's own words) and see or
hear what was sent on LINE, from intake. Pure.

The same rules as routing's (services/routing/domain/access.py `sees_personal_data`,
`sees_attachments`), on what intake knows of the case from `case.assigned`: its department
and its officer.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.intake.domain.record import SubmissionRecord
from shared.roles import Role


@dataclass(frozen=True)
class Reader:
    """Who asks, as these rules need it (from a verified token)."""

    roles: frozenset[Role]
    department: str | None = None
    officer_id: str | None = None


def refusal_to_read_personal(who: Reader, record: SubmissionRecord) -> str | None:
    """Why `who` may not read the case's personal data; None when they may."""
    # 1. executives (ปลัด, นายก) read it for every case
    if Role.EXECUTIVE in who.roles:
        return None
    # 2. a corruption report protects whoever made it: nobody else, whatever their role
    if record.is_corruption:
        return "only the executives read who made a corruption report and what they wrote"
    progress = record.progress
    # 3. the head of the department the case is assigned to
    if (
        Role.HEAD in who.roles
        and who.department is not None
        and who.department == progress.department
    ):
        return None
    # 4. the officer it is assigned to
    if (
        (Role.OFFICER in who.roles or Role.HEAD in who.roles)
        and who.officer_id is not None
        and who.officer_id == progress.officer_id
    ):
        return None
    if progress.department is None:
        return f"{record.case_id} is not assigned yet: only the executives read it"
    return (
        f"only the officer {record.case_id} is assigned to, the head of "
        f"{progress.department} and the executives read its personal data"
    )


def refusal_to_see_photos(who: Reader, record: SubmissionRecord) -> str | None:
    """Why `who` may not see the photos (or hear the voice messages, see the videos and
    files) the citizen sent; None when they may: the staff of the case's department and the
    executives (not auditors: no redaction reaches into a photo of a face, a house or a
    number plate, nor into a voice)."""
    # 1. executives see every case's
    if Role.EXECUTIVE in who.roles:
        return None
    # 2. a corruption report's only they
    if record.is_corruption:
        return "only the executives see what came with a corruption report"
    # 3. the officers and the head of the case's department
    department = record.progress.department
    if (
        (Role.OFFICER in who.roles or Role.HEAD in who.roles)
        and department is not None
        and who.department == department
    ):
        return None
    return "only the staff of the case's department and the executives see its photos"
