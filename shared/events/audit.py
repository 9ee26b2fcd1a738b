"""The audit trail's one event: a privileged act, by whom, on what, with what change."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from shared.events.envelope import Contract, Envelope
from shared.topics import Topic


class AuditPayload(Contract):
    record_id: str = Field(max_length=200)  # the act's own id: a replayed act is one record
    at: AwareDatetime
    service: str = Field(max_length=40)
    # What was done, from a fixed vocabulary (`case.resolve`, `contact.read`, `dlq.replay`,
    # `dlq.read`, `project.waive`, `satisfaction.rebuild`, ...).
    action: str = Field(max_length=80)
    target: str = Field(max_length=200)  # `case:SPT-2569-000123`, `letter:routing.dlq/0/17`
    subject: str = Field(max_length=200)  # the token's `sub`
    officer_id: str | None = Field(default=None, max_length=200)
    roles: tuple[str, ...] = ()
    source: str | None = Field(default=None, max_length=100)  # the client's address
    before: dict[str, str] = Field(default_factory=dict)
    after: dict[str, str] = Field(default_factory=dict)
    detail: str | None = Field(default=None, max_length=2000)


class AuditRecorded(Envelope[AuditPayload]):
    topic: ClassVar[Topic] = Topic.AUDIT_TRAIL
    keyed_by: ClassVar[str | None] = "target"
    type: Literal["AuditRecorded"] = "AuditRecorded"
