"""The one place Kafka topic names are written.

Consumers import their topic from here, so renaming a topic is a one-line change and a
typo is an ImportError rather than a silent new topic. Producers do not name topics:
each event class declares its own and its key field (`Envelope.topic`, `keyed_by`), the
one event-to-topic map, and `shared.outbox.Emission.of` takes both from the event.
Case topics are keyed by case id so that every event of one case lands on one
partition and is seen in order by each consumer group.
"""

from __future__ import annotations

import functools
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
    # one anonymous fact per survey answer: its fiscal year, department and scores (never
    # a comment, a case or a token), keyed by a digest of the response id
    PUBLIC_SATISFACTION = "public.satisfaction"
    # the public website (services/portal/), which reads only the public.* topics
    PORTAL_DLQ = "portal.dlq"
    # the analysis of the work and its results (services/insight/, measure 3)
    INSIGHT_DLQ = "insight.dlq"


@dataclass(frozen=True)
class TopicSpec:
    partitions: int
    # Compacted topics hold the latest projection per key (public views).
    compacted: bool = False


DEFAULT_PARTITIONS = 3

SPECS: dict[Topic, TopicSpec] = {
    topic: TopicSpec(
        partitions=DEFAULT_PARTITIONS,
        compacted=topic in (Topic.PUBLIC_CASES, Topic.PUBLIC_PROJECTS, Topic.PUBLIC_SATISFACTION),
    )
    for topic in Topic
}


# Who writes and who reads each topic: the one table the broker's ACLs are made from
# (shared/bus.py), each service connecting as its own principal. A writer produces the
# topic's events; a reader consumes it in its own consumer groups. Replaying a dead letter
# writes back to the topic it came from, which shared/bus.py grants each reader of a topic
# on its own; it is not listed here. Readers outside Ruam (notifiers, an archive)
# get principals of their own from the cluster's operator.
INTAKE, ROUTING, SURVEY, COMPLIANCE = "intake", "routing", "survey", "compliance"
# The public website: it reads the public projections only, so no personal data reaches it.
PORTAL = "portal"
# The analysis (measure 3): reads the case and survey topics, publishes through its API.
INSIGHT = "insight"
SERVICES = (INTAKE, ROUTING, SURVEY, COMPLIANCE, PORTAL, INSIGHT)
# The officers' console: on Kafka only to put who opened a citizen's file on the audit trail.
CONSOLE = "console"
# The planning and finance systems that feed project.events: a producer, not a service.
PLANNING = "planning"

WRITERS: dict[Topic, frozenset[str]] = {
    # Survey's improvement actions, intake's LINE bodies kept through a fault; gateways too.
    Topic.INTAKE_RAW: frozenset({SURVEY, INTAKE}),
    Topic.INTAKE_DLQ: frozenset({INTAKE}),
    Topic.NOTIFICATION_REQUESTED: frozenset({INTAKE, ROUTING}),
    Topic.CASE_RECEIVED: frozenset({INTAKE}),
    Topic.CASE_ASSIGNED: frozenset({ROUTING}),
    Topic.CASE_STATUS_CHANGED: frozenset({ROUTING}),
    Topic.CASE_RESOLVED: frozenset({ROUTING}),
    Topic.CASE_ESCALATED: frozenset({ROUTING}),
    Topic.CASE_CLOSED: frozenset({ROUTING}),
    Topic.CASE_COMMANDS: frozenset({SURVEY}),  # reopen after a "not fixed" answer
    Topic.CASE_AMENDED: frozenset({INTAKE}),
    Topic.ROUTING_DLQ: frozenset({ROUTING}),
    Topic.SURVEY_REQUESTED: frozenset({SURVEY}),
    Topic.SURVEY_RESPONDED: frozenset({SURVEY}),
    Topic.SATISFACTION_ALERT: frozenset({SURVEY}),
    Topic.SURVEY_DLQ: frozenset({SURVEY}),
    Topic.PROJECT_EVENTS: frozenset({PLANNING}),
    Topic.COMPLIANCE_REQUIREMENT_RAISED: frozenset({COMPLIANCE}),
    Topic.COMPLIANCE_REQUIREMENT_MET: frozenset({COMPLIANCE}),
    Topic.COMPLIANCE_VIOLATION: frozenset({COMPLIANCE}),
    Topic.COMPLIANCE_WARNING: frozenset({COMPLIANCE}),
    Topic.COMPLIANCE_DLQ: frozenset({COMPLIANCE}),
    # Every service audits its own privileged acts (dead-letter reads and replays at least).
    Topic.AUDIT_TRAIL: frozenset({*SERVICES, CONSOLE}),
    Topic.PUBLIC_CASES: frozenset({INTAKE}),
    Topic.PUBLIC_PROJECTS: frozenset({COMPLIANCE}),
    Topic.PUBLIC_SATISFACTION: frozenset({SURVEY}),
    Topic.PORTAL_DLQ: frozenset({PORTAL}),
    Topic.INSIGHT_DLQ: frozenset({INSIGHT}),
}

READERS: dict[Topic, frozenset[str]] = {
    Topic.INTAKE_RAW: frozenset({INTAKE}),
    Topic.INTAKE_DLQ: frozenset({INTAKE}),
    # Intake, LINE's adapter, answers the citizens who wrote there (services/intake/line_push.py).
    Topic.NOTIFICATION_REQUESTED: frozenset({INTAKE}),
    # Intake copies the photos citizens sent on LINE (services/intake/line_content.py).
    Topic.CASE_RECEIVED: frozenset({ROUTING, SURVEY, INSIGHT, INTAKE}),
    # Routing reads its own assignments and escalations to tell officers on LINE.
    Topic.CASE_ASSIGNED: frozenset({INTAKE, SURVEY, INSIGHT, ROUTING}),
    Topic.CASE_STATUS_CHANGED: frozenset({INTAKE, SURVEY, INSIGHT}),
    Topic.CASE_RESOLVED: frozenset({INTAKE, SURVEY, INSIGHT}),
    Topic.CASE_ESCALATED: frozenset({ROUTING, INSIGHT}),
    Topic.CASE_CLOSED: frozenset({INTAKE, SURVEY, INSIGHT}),
    Topic.CASE_COMMANDS: frozenset({ROUTING}),
    Topic.CASE_AMENDED: frozenset({ROUTING, INTAKE}),
    Topic.ROUTING_DLQ: frozenset({ROUTING}),
    Topic.SURVEY_REQUESTED: frozenset({INTAKE}),
    Topic.SURVEY_RESPONDED: frozenset({SURVEY, INSIGHT}),
    Topic.SATISFACTION_ALERT: frozenset({INSIGHT}),
    Topic.SURVEY_DLQ: frozenset({SURVEY}),
    Topic.PROJECT_EVENTS: frozenset({COMPLIANCE}),
    Topic.COMPLIANCE_REQUIREMENT_RAISED: frozenset(),
    Topic.COMPLIANCE_REQUIREMENT_MET: frozenset(),
    Topic.COMPLIANCE_VIOLATION: frozenset(),
    Topic.COMPLIANCE_WARNING: frozenset(),
    Topic.COMPLIANCE_DLQ: frozenset({COMPLIANCE}),
    Topic.AUDIT_TRAIL: frozenset({COMPLIANCE}),
    Topic.PUBLIC_CASES: frozenset({PORTAL}),
    Topic.PUBLIC_PROJECTS: frozenset({PORTAL}),
    Topic.PUBLIC_SATISFACTION: frozenset({PORTAL}),
    Topic.PORTAL_DLQ: frozenset({PORTAL}),
    Topic.INSIGHT_DLQ: frozenset({INSIGHT}),
}


@functools.lru_cache(maxsize=4096)
def of_name(full: str) -> Topic | None:
    """The topic a full name stands for, whatever prefix a run gave it; None if not ours.
    (The longest match wins: no topic's name may pass for the end of another's.)
    Kept per name: every consumed message asks, and the answer never changes."""
    found = [t for t in Topic if full.endswith(t.value)]
    return max(found, key=lambda t: len(t.value)) if found else None


def name(topic: Topic, prefix: str = "") -> str:
    """The broker-side name; a prefix isolates test runs on a shared broker."""
    return f"{prefix}{topic.value}"
