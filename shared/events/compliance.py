"""Facts about the agency's projects (measure 5). Keyed by project id on Kafka.

Input, on `project.events`: what the planning and finance systems (or an officer) say
happened to a project. Each carries the producer's per-project `version` (1 for the
registration, then 2, 3, ...): the compliance service applies them strictly in that
order, whatever order Kafka delivers them in, and each version once.

Money on the wire is what people write: a decimal string of baht ("12,500,000.00",
commas and Thai digits allowed) or a whole number of baht. JSON numbers with a
fraction are refused here, because a binary float is not an exact amount; the amount
itself (sign, decimals, grouping) is checked by the compliance domain's one money
parser, so HTTP and Kafka refuse exactly the same things.

Output: requirements raised and met, violations, warnings, and the public projection.
"""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import AwareDatetime, BeforeValidator, Field, TypeAdapter

from shared.dates import BeDate
from shared.events.envelope import Contract, Envelope, new_event_id
from shared.topics import Topic


class Stage(StrEnum):
    PLANNING = "planning"
    APPROVED = "approved"
    PROCUREMENT = "procurement"
    CONTRACTED = "contracted"
    IN_PROGRESS = "in_progress"
    INSPECTION = "inspection"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class ParticipationKind(StrEnum):
    PUBLIC_HEARING = "public_hearing"  # การรับฟังความคิดเห็น
    COMMUNITY_FORUM = "community_forum"  # ประชาคมหมู่บ้าน/ตำบล
    INSPECTION_COMMITTEE = "inspection_committee"  # ผู้แทนประชาชนในคณะกรรมการตรวจรับ
    PUBLIC_REPORT_BACK = "public_report_back"  # รายงานผลต่อสาธารณะ
    OTHER = "other"


class ParticipantGroup(StrEnum):
    CITIZENS = "citizens"
    COMMUNITY_LEADERS = "community_leaders"
    PRIVATE_SECTOR = "private_sector"
    CIVIL_SOCIETY = "civil_society"


def _exact_money_only(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(
            'money must be a decimal string of baht such as "10,000,000.00" or a whole'
            " number of baht; a JSON number with a fraction is not an exact amount"
        )
    return value


# The amount as written; compliance's domain parses it to integer satang.
MoneyText = Annotated[int | str, BeforeValidator(_exact_money_only)]
# One segment of a URL path (/v1/projects/{project_id}): a "/" would make the project
# one nobody can read or change again.
ProjectId = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][\w\-:]*$")]
Text = Annotated[str, Field(min_length=1, max_length=2000)]


class ProjectFact(Contract):
    project_id: ProjectId
    version: int = Field(ge=1)


class ProjectRegisteredPayload(ProjectFact):
    name: Annotated[str, Field(min_length=1, max_length=500)]
    fiscal_year: int = Field(ge=2500, le=2700)  # Buddhist Era
    budget: MoneyText
    funding_source: Annotated[str, Field(min_length=1, max_length=200)]
    key_policy: bool = False
    key_mission: bool = False
    stage: Stage = Stage.PLANNING
    planned_procurement_date: BeDate | None = None


class ProjectRegistered(Envelope[ProjectRegisteredPayload]):
    topic: ClassVar[Topic] = Topic.PROJECT_EVENTS
    keyed_by: ClassVar[str | None] = "project_id"
    type: Literal["ProjectRegistered"] = "ProjectRegistered"


class ProjectBudgetChangedPayload(ProjectFact):
    budget: MoneyText
    reason: str | None = Field(default=None, max_length=2000)  # e.g. ข้อบัญญัติงบประมาณเพิ่มเติม


class ProjectBudgetChanged(Envelope[ProjectBudgetChangedPayload]):
    topic: ClassVar[Topic] = Topic.PROJECT_EVENTS
    keyed_by: ClassVar[str | None] = "project_id"
    type: Literal["ProjectBudgetChanged"] = "ProjectBudgetChanged"


class ProjectStageChangedPayload(ProjectFact):
    stage: Stage
    note: str | None = Field(default=None, max_length=2000)


class ProjectStageChanged(Envelope[ProjectStageChangedPayload]):
    topic: ClassVar[Topic] = Topic.PROJECT_EVENTS
    keyed_by: ClassVar[str | None] = "project_id"
    type: Literal["ProjectStageChanged"] = "ProjectStageChanged"


class ProjectFlaggedPayload(ProjectFact):
    """Key policy / key mission switched on or off; a field left out is unchanged."""

    key_policy: bool | None = None
    key_mission: bool | None = None


class ProjectFlagged(Envelope[ProjectFlaggedPayload]):
    topic: ClassVar[Topic] = Topic.PROJECT_EVENTS
    keyed_by: ClassVar[str | None] = "project_id"
    type: Literal["ProjectFlagged"] = "ProjectFlagged"


class ProjectRequirementWaivedPayload(ProjectFact):
    requirement: Annotated[str, Field(min_length=1, max_length=64)]
    reason: Text
    authority: str | None = Field(default=None, max_length=200)  # a role, not a person


class ProjectRequirementWaived(Envelope[ProjectRequirementWaivedPayload]):
    topic: ClassVar[Topic] = Topic.PROJECT_EVENTS
    keyed_by: ClassVar[str | None] = "project_id"
    type: Literal["ProjectRequirementWaived"] = "ProjectRequirementWaived"


class ParticipationRecordedPayload(ProjectFact):
    """The four things the ITA asks for: the issue, who took part, the results, their use."""

    record_id: Annotated[str, Field(min_length=1, max_length=100)]
    kind: ParticipationKind
    held_on: BeDate
    participants: dict[ParticipantGroup, Annotated[int, Field(ge=0, le=1_000_000)]] = Field(
        min_length=1
    )
    evidence_ref: Annotated[str, Field(min_length=1, max_length=500)]  # minutes, photos
    issues: tuple[Text, ...] = Field(min_length=1, max_length=100)
    results: Text
    changes: Text  # how the results changed the project
    recorded_by: str | None = Field(default=None, max_length=100)  # officer id; never published


class ParticipationRecorded(Envelope[ParticipationRecordedPayload]):
    topic: ClassVar[Topic] = Topic.PROJECT_EVENTS
    keyed_by: ClassVar[str | None] = "project_id"
    type: Literal["ParticipationRecorded"] = "ParticipationRecorded"


ProjectEvent = Annotated[
    ProjectRegistered
    | ProjectBudgetChanged
    | ProjectStageChanged
    | ProjectFlagged
    | ProjectRequirementWaived
    | ParticipationRecorded,
    Field(discriminator="type"),
]
PROJECT_EVENT: TypeAdapter[ProjectEvent] = TypeAdapter(ProjectEvent)


# --------------------------------------------------------------------------- output


class RequirementRaisedPayload(Contract):
    project_id: str
    project_name: str
    fiscal_year: int
    requirement: str
    due_stage: Stage
    due: Literal["before", "after"]
    severity: str
    reasons: tuple[str, ...]
    budget_satang: int
    raised_at: AwareDatetime


class RequirementRaised(Envelope[RequirementRaisedPayload]):
    topic: ClassVar[Topic] = Topic.COMPLIANCE_REQUIREMENT_RAISED
    keyed_by: ClassVar[str | None] = "project_id"
    type: Literal["RequirementRaised"] = "RequirementRaised"


class RequirementMetPayload(Contract):
    project_id: str
    requirement: str
    record_id: str
    participation_kind: ParticipationKind
    held_on: date
    met_at: AwareDatetime


class RequirementMet(Envelope[RequirementMetPayload]):
    topic: ClassVar[Topic] = Topic.COMPLIANCE_REQUIREMENT_MET
    keyed_by: ClassVar[str | None] = "project_id"
    type: Literal["RequirementMet"] = "RequirementMet"


class ComplianceViolationPayload(Contract):
    project_id: str
    project_name: str
    code: str
    requirement: str
    severity: str
    stage: Stage
    message: str
    at: AwareDatetime


class ComplianceViolationRaised(Envelope[ComplianceViolationPayload]):
    topic: ClassVar[Topic] = Topic.COMPLIANCE_VIOLATION
    keyed_by: ClassVar[str | None] = "project_id"
    type: Literal["ComplianceViolationRaised"] = "ComplianceViolationRaised"


class ComplianceWarningPayload(Contract):
    project_id: str
    project_name: str
    code: str
    requirement: str
    message: str
    planned_procurement_date: date | None = None
    at: AwareDatetime


class ComplianceWarningRaised(Envelope[ComplianceWarningPayload]):
    topic: ClassVar[Topic] = Topic.COMPLIANCE_WARNING
    keyed_by: ClassVar[str | None] = "project_id"
    type: Literal["ComplianceWarningRaised"] = "ComplianceWarningRaised"


class PublicRequirement(Contract):
    kind: str
    due_stage: Stage
    status: Literal["open", "met", "waived"]
    waiver_reason: str | None = None


class PublicParticipation(Contract):
    record_id: str
    kind: ParticipationKind
    held_on: date
    participants: dict[ParticipantGroup, int]
    evidence_ref: str
    issues: tuple[str, ...]
    results: str
    changes: str


class PublicViolation(Contract):
    code: str
    requirement: str
    severity: str
    stage: Stage


class PublicProjectPayload(Contract):
    """Redacted projection for publication (measure 1): no officer ids or names."""

    project_id: str
    name: str
    fiscal_year: int
    budget_satang: int
    funding_source: str
    key_policy: bool
    key_mission: bool
    stage: Stage
    requires_participation: bool
    # A hearing due before procurement must be held before this date (the plan's).
    planned_procurement_date: date | None = None
    requirements: tuple[PublicRequirement, ...]
    participation: tuple[PublicParticipation, ...]
    violations: tuple[PublicViolation, ...]
    revision: int  # grows with every applied change: the newest projection wins
    updated_at: AwareDatetime


class PublicProjectUpdated(Envelope[PublicProjectPayload]):
    topic: ClassVar[Topic] = Topic.PUBLIC_PROJECTS
    keyed_by: ClassVar[str | None] = "project_id"
    type: Literal["PublicProjectUpdated"] = "PublicProjectUpdated"


def project_event_id(project_id: str, version: int) -> uuid.UUID:
    """The id a producer without ids of its own can give version N of a project."""
    return new_event_id("project", project_id, str(version))
