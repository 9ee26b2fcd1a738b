"""The one place Kafka topic names are written.

Consumers import their topic from here, so renaming a topic is a one-line change and a
typo is an ImportError rather than a silent new topic. Producers do not name topics:
each event class declares its own and its key field (`Envelope.topic`, `keyed_by`), the
one event-to-topic map, and `shared.outbox.Emission.of` takes both from the event.
Case topics are keyed by case id so that every event of one case lands on one
partition and is seen in order by each consumer group.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Topic(StrEnum):
    # intake
    INTAKE_RAW = "intake.raw"
    INTAKE_DLQ = "intake.dlq"
    NOTIFICATION_REQUESTED = "notification.requested"
    # case lifecycle (keyed by case id)
    CASE_RECEIVED = "case.received"
    CASE_ASSIGNED = "case.assigned"
    CASE_STATUS_CHANGED = "case.status-changed"
    CASE_RESOLVED = "case.resolved"
    CASE_ESCALATED = "case.escalated"
    CASE_CLOSED = "case.closed"
    CASE_COMMANDS = "case.commands"
    CASE_AMENDED = "case.amended"  # the citizen added to an open matter (follow-up, reply)
    ROUTING_DLQ = "routing.dlq"
    # survey (measure 4)
    SURVEY_REQUESTED = "survey.requested"
    SURVEY_RESPONDED = "survey.responded"
    SATISFACTION_ALERT = "satisfaction.alert"
    SURVEY_DLQ = "survey.dlq"
    # compliance (measure 5), keyed by project id
    PROJECT_EVENTS = "project.events"
    COMPLIANCE_REQUIREMENT_RAISED = "compliance.requirement-raised"
    COMPLIANCE_REQUIREMENT_MET = "compliance.requirement-met"
    COMPLIANCE_VIOLATION = "compliance.violation"
    COMPLIANCE_WARNING = "compliance.warning"
    COMPLIANCE_DLQ = "compliance.dlq"
    # the audit trail: who did what (officer actions, reads of personal data, replays,
    # waivers, role changes), keyed by what was acted on; compliance keeps it
    AUDIT_TRAIL = "audit.trail"
    # publication (measure 1): redacted projections, no personal data
    PUBLIC_CASES = "public.cases"
    PUBLIC_PROJECTS = "public.projects"


@dataclass(frozen=True)
class TopicSpec:
    partitions: int
    # Compacted topics hold the latest projection per key (public views).
    compacted: bool = False


DEFAULT_PARTITIONS = 3

SPECS: dict[Topic, TopicSpec] = {
    topic: TopicSpec(
        partitions=DEFAULT_PARTITIONS,
        compacted=topic in (Topic.PUBLIC_CASES, Topic.PUBLIC_PROJECTS),
    )
    for topic in Topic
}


def name(topic: Topic, prefix: str = "") -> str:
    """The broker-side name; a prefix isolates test runs on a shared broker."""
    return f"{prefix}{topic.value}"
