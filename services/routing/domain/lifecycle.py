"""What happens to a case: receipt, officer actions, deadlines and their timers. Pure.

Every function here changes the case in memory and returns the facts it produced; the
handler saves the case with those facts (as events in its outbox) in one write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.routing.domain.calendar import WorkCalendar, respond_due
from services.routing.domain.directory import Directory, OfficerStatus
from services.routing.domain.errors import InvalidCommand, InvalidTransition
from services.routing.domain.model import (
    AssignmentRecord,
    Attachment,
    Case,
    CategoryScore,
    EscalationRecord,
    Status,
    Timer,
)
from services.routing.domain.rules import (
    GENERIC_SERVICE_CODES,
    Assignment,
    RoutingInput,
    decide_assignment,
    is_corruption,
    village_from_text,
)
from shared.clock import to_millis
from shared.taxonomy import by_code, causes_for

# Enough to recognise any redelivery of a recent command; older ones are long committed.
MAX_REMEMBERED_COMMANDS = 200

# --- facts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Assigned:
    assignment_no: int
    status_seq: int | None = None  # the timeline entry that made the status "assigned"


@dataclass(frozen=True)
class StatusChanged:
    from_status: str
    to_status: str
    action: str
    officer_id: str | None
    note: str | None
    seq: int
    in_assignment: bool = False  # announced by the Assigned beside it as well


@dataclass(frozen=True)
class Resolved:
    seq: int


@dataclass(frozen=True)
class Closed:
    seq: int
    reason: str | None


@dataclass(frozen=True)
class Escalated:
    level: int
    to_role: str
    to_officer_id: str | None
    reason: str
    due_at: datetime
    key: str


@dataclass(frozen=True)
class Reminded:
    """A deadline reminder to people (owner, head): a notification, not a state change."""

    template: str  # deadline_warning | acknowledge_overdue
    officer_ids: tuple[str, ...]
    due_at: datetime
    key: str


Fact = Assigned | StatusChanged | Resolved | Closed | Escalated | Reminded


@dataclass(frozen=True)
class Command:
    action: str
    officer_id: str | None
    params: Mapping[str, str] = field(default_factory=dict)
    command_id: str = ""


# --- receipt ---------------------------------------------------------------------------


def categorize(case: Case, ranking: Sequence[CategoryScore]) -> list[str]:
    """The citizen's chosen category is taken as given; the classifier fills in otherwise."""
    case.ranking = list(ranking)
    notes: list[str] = []
    code = (case.service_code or "").strip()
    chosen = None
    if code and code not in GENERIC_SERVICE_CODES:
        try:
            chosen = by_code(code)
        except KeyError:
            notes.append(f"unknown service_code {code!r} ignored; classifier decides")
    if chosen is not None:
        first = CategoryScore(
            chosen.code,
            chosen.label_th,
            chosen.label_en,
            1.0,
            (f"citizen's choice (service_code {chosen.code})",),
        )
        case.categories = [first, *(c for c in ranking if c.code != chosen.code)]
        case.category_source = "citizen"
        notes.append(f"category {chosen.code} ({chosen.label_th}) chosen by the citizen")
    else:
        case.categories = list(ranking)
        case.category_source = "classifier"
        if ranking:
            top = ranking[0]
            why = ", ".join(top.evidence[:3]) or "prior"
            notes.append(
                f"category {top.code} ({top.label_th}) by the classifier"
                f" (score {top.score:.2f}; {why})"
            )
    return notes


def receive(
    case: Case,
    ranking: Sequence[CategoryScore],
    directory: Directory,
    loads: Mapping[str, int],
    now: datetime,
) -> list[Fact]:
    """A new case: categorize, assign, set its legal deadlines, fire what is already due."""
    case.record(case.received_at if case.received_at < now else now, "receive")
    notes = categorize(case, ranking)
    if case.village_no is None:
        case.village_no = village_from_text(f"{case.text}\n{case.address or ''}")
    decision = decide_assignment(routing_input(case), directory, loads)
    facts: list[Fact] = []
    facts += _assign(case, decision, now, "receive", notes)
    set_deadlines(case, directory)
    arm_timers(case, directory)
    facts += fire_due(case, now, directory)
    return facts


def routing_input(case: Case, transfer_to: str | None = None) -> RoutingInput:
    return RoutingInput(
        kind=case.kind,
        text=case.text,
        category=case.category,
        village_no=case.village_no,
        department_hint=case.department_hint,
        links=case.links,
        transfer_to=transfer_to,
    )


def _assign(
    case: Case, decision: Assignment, now: datetime, cause: str, notes: Sequence[str] = ()
) -> list[Fact]:
    before = case.status
    case.department = decision.department
    case.officer_id = decision.officer_id
    case.accused_department = decision.accused_department or case.accused_department
    case.reasons = [*notes, *decision.reasons]
    case.assignment_no += 1
    case.assignments.append(
        AssignmentRecord(
            case.assignment_no,
            now,
            decision.department,
            decision.officer_id,
            tuple(case.reasons),
            cause,
        )
    )
    case.status = Status.ASSIGNED
    case.assigned_at = now
    entry = case.record(now, "assign", decision.officer_id, "; ".join(case.reasons))
    return [
        Assigned(case.assignment_no, entry.seq),
        StatusChanged(
            before.value,
            case.status.value,
            "assign",
            decision.officer_id,
            None,
            entry.seq,
            in_assignment=True,
        ),
    ]


# --- deadlines and timers -------------------------------------------------------------


def calendar_of(directory: Directory) -> WorkCalendar:
    return WorkCalendar.of(directory.holiday_dates(), directory.deadlines.office_closes_at)


def set_deadlines(case: Case, directory: Directory, start: datetime | None = None) -> None:
    """Acknowledge in working days, respond in calendar days, from receipt (or a restart)."""
    policy = directory.deadlines.for_category(case.category)
    origin = start or case.received_at
    case.acknowledge_due_at = to_millis(
        calendar_of(directory).acknowledge_due(origin, policy.acknowledge_working_days)
    )
    case.respond_due_at = to_millis(respond_due(origin, policy.respond_days))


ROLE_OF_LEVEL = {1: "head_of_division", 2: "palad", 3: "mayor"}


def escalation_target(case: Case, level: int, directory: Directory) -> str | None:
    if level == 1:
        dept = directory.department(case.department)
        return dept.head if dept else None
    if level == 2:
        return directory.executives.palad
    return directory.executives.mayor


def escalation_levels(case: Case, directory: Directory) -> list[int]:
    """The chain above the owner: head of division -> ปลัด -> นายก, skipping the owner's
    own rank and below, and the division for a corruption report (it may be the accused)."""
    owner = case.officer_id
    rank = 0
    if owner == directory.executives.mayor:
        rank = 3
    elif owner == directory.executives.palad:
        rank = 2
    elif owner is not None and owner == escalation_target(case, 1, directory):
        rank = 1
    if is_corruption(case.kind, case.category):
        rank = max(rank, 1)
    return [lvl for lvl in (1, 2, 3) if lvl > rank]


def arm_timers(case: Case, directory: Directory) -> None:
    """Compute the due moments still ahead of the case from its state (idempotent)."""
    case.timers = []
    if not case.is_open or case.paused_since is not None or case.respond_due_at is None:
        return
    policy = directory.deadlines.for_category(case.category)
    epoch = case.deadline_epoch
    wanted: list[Timer] = []
    if case.acknowledged_at is None and case.acknowledge_due_at is not None:
        wanted.append(Timer(f"ack:{epoch}", "acknowledge", case.acknowledge_due_at))
    if policy.warn_before_days:
        wanted.append(
            Timer(
                f"warn:{epoch}",
                "warning",
                case.respond_due_at - timedelta(days=policy.warn_before_days),
            )
        )
    step = timedelta(days=policy.escalate_every_days)
    for n, level in enumerate(escalation_levels(case, directory)):
        if level > case.escalation_level:
            wanted.append(
                Timer(f"esc:{epoch}:{level}", "escalation", case.respond_due_at + n * step, level)
            )
    fired = set(case.fired_timers)
    case.timers = sorted((t for t in wanted if t.key not in fired), key=lambda t: t.due_at)


def fire_due(case: Case, now: datetime, directory: Directory) -> list[Fact]:
    """Fire every timer that is due, oldest first; each key fires once in a case's life."""
    due = [t for t in case.timers if t.due_at <= now]
    if not due:
        return []
    facts: list[Fact] = []
    breached = case.respond_due_at is not None and now >= case.respond_due_at
    for timer in due:
        case.fired_timers.append(timer.key)
        if timer.kind == "escalation":
            facts.append(_escalate(case, timer, now, directory))
        elif breached:
            # A reminder about a deadline that has already passed helps no one: the
            # escalation that follows says it louder.
            continue
        elif timer.kind == "warning" and case.officer_id:
            case.record(
                now,
                "deadline_warning",
                case.officer_id,
                f"reply due {case.respond_due_at.isoformat() if case.respond_due_at else ''}",
            )
            facts.append(
                Reminded(
                    "deadline_warning",
                    (case.officer_id,),
                    case.respond_due_at or timer.due_at,
                    timer.key,
                )
            )
        elif timer.kind == "acknowledge" and case.officer_id:
            head = escalation_target(case, 1, directory)
            to = tuple(dict.fromkeys(x for x in (case.officer_id, head) if x))
            case.record(now, "acknowledge_overdue", case.officer_id, "not acknowledged in time")
            facts.append(Reminded("acknowledge_overdue", to, timer.due_at, timer.key))
    case.timers = [t for t in case.timers if t.due_at > now]
    return facts


def _escalate(case: Case, timer: Timer, now: datetime, directory: Directory) -> Escalated:
    level = timer.level
    to = escalation_target(case, level, directory)
    role = ROLE_OF_LEVEL[level]
    late = now - case.respond_due_at if case.respond_due_at else timedelta(0)
    reason = (
        f"reply deadline {case.respond_due_at.isoformat() if case.respond_due_at else '?'}"
        f" missed by {late.days} day(s): escalated to level {level} ({role})"
    )
    case.escalation_level = max(case.escalation_level, level)
    case.escalations.append(EscalationRecord(level, now, role, to, reason))
    case.record(now, "escalate", to, reason)
    return Escalated(level, role, to, reason, timer.due_at, timer.key)


def _pause(case: Case, now: datetime) -> None:
    case.paused_since = now


def _resume(case: Case, now: datetime) -> None:
    """Leaving pending_citizen: the time spent waiting for the citizen does not count."""
    if case.paused_since is None:
        return
    waited = max(now - case.paused_since, timedelta(0))
    if case.respond_due_at is not None:
        case.respond_due_at = to_millis(case.respond_due_at + waited)
    if case.acknowledge_due_at is not None and case.acknowledged_at is None:
        case.acknowledge_due_at = to_millis(case.acknowledge_due_at + waited)
    case.paused_since = None


# --- officer actions --------------------------------------------------------------------

ACTIVE = {
    Status.ASSIGNED,
    Status.ACKNOWLEDGED,
    Status.IN_PROGRESS,
    Status.REOPENED,
    Status.PENDING_CITIZEN,
}

# action -> (states it may start from, state it leads to; None = stays / decided later)
TRANSITIONS: dict[str, tuple[frozenset[Status], Status | None]] = {
    "acknowledge": (frozenset({Status.ASSIGNED, Status.REOPENED}), Status.ACKNOWLEDGED),
    "start": (
        frozenset({Status.ASSIGNED, Status.ACKNOWLEDGED, Status.REOPENED, Status.PENDING_CITIZEN}),
        Status.IN_PROGRESS,
    ),
    "request_info": (
        frozenset({Status.ASSIGNED, Status.ACKNOWLEDGED, Status.IN_PROGRESS, Status.REOPENED}),
        Status.PENDING_CITIZEN,
    ),
    "resolve": (frozenset(ACTIVE), Status.RESOLVED),
    "close": (
        frozenset({Status.RESOLVED, Status.DUPLICATE, Status.NOT_OUR_RESPONSIBILITY}),
        Status.CLOSED,
    ),
    "reopen": (frozenset({Status.RESOLVED, Status.CLOSED}), Status.REOPENED),
    "transfer": (frozenset(ACTIVE), Status.TRANSFERRED),
    # Another officer of the same department (a head's decision): assigned again.
    "reassign": (frozenset(ACTIVE), None),
    "recategorize": (frozenset(ACTIVE), None),
    "mark_duplicate": (frozenset(ACTIVE), Status.DUPLICATE),
    "not_responsible": (frozenset(ACTIVE), Status.NOT_OUR_RESPONSIBILITY),
    "note": (frozenset(Status), None),
}
ACTIONS = tuple(TRANSITIONS)
# Bounds that keep a case document far below the 16 MB a document may hold, whatever is
# sent: 100 notes of 2,000 Thai characters are about 0.6 MB.
MAX_PARAMS = 10
MAX_PARAM_CHARS = 2000
MAX_NOTES = 100


def _param(cmd: Command, name: str, *, required: bool = True) -> str | None:
    value = (cmd.params.get(name) or "").strip()
    if not value and required:
        raise InvalidCommand(f"params.{name}", f"required for {cmd.action}")
    return value or None


def _cause(case: Case, code: str | None) -> str | None:
    """A root cause from the case's category's list (shared.taxonomy), or none."""
    if code is None:
        return None
    allowed = causes_for(case.category)
    if code not in {c.code for c in allowed}:
        raise InvalidCommand(
            "params.cause",
            f"สาเหตุ {code!r} ไม่อยู่ในรายการของประเภทเรื่องนี้ เลือกจาก: "
            + ", ".join(f"{c.code} ({c.label_th})" for c in allowed),
        )
    return code


def check_bounds(case: Case, cmd: Command) -> None:
    """A case document must never grow past what the store can write: every parameter
    is bounded, and so are the notes one case can collect."""
    if len(cmd.params) > MAX_PARAMS:
        raise InvalidCommand("params", f"at most {MAX_PARAMS} parameters")
    for name, value in cmd.params.items():
        if len(value) > MAX_PARAM_CHARS:
            raise InvalidCommand(f"params.{name}", f"at most {MAX_PARAM_CHARS} characters")
    if cmd.action == "note" and sum(t.action == "note" for t in case.timeline) >= MAX_NOTES:
        raise InvalidTransition(
            f"this case already has {MAX_NOTES} notes: add the rest to the case file"
        )


def apply_command(
    case: Case, cmd: Command, now: datetime, directory: Directory, loads: Mapping[str, int]
) -> list[Fact]:
    """Apply one officer action (or a service's command); refuse what the state forbids."""
    if cmd.action not in TRANSITIONS:
        raise InvalidCommand(
            "action", f"unknown action {cmd.action!r}; one of {', '.join(ACTIONS)}"
        )
    check_bounds(case, cmd)
    sources, target = TRANSITIONS[cmd.action]
    if case.status not in sources:
        allowed = ", ".join(sorted(s.value for s in sources))
        raise InvalidTransition(
            f"cannot {cmd.action} a case that is {case.status.value} (allowed from: {allowed})"
        )
    facts = _apply(case, cmd, target, now, directory, loads)
    if cmd.command_id:
        case.applied_commands = [*case.applied_commands, cmd.command_id][-MAX_REMEMBERED_COMMANDS:]
    arm_timers(case, directory)
    facts += fire_due(case, now, directory)
    return facts


def _apply(
    case: Case,
    cmd: Command,
    target: Status | None,
    now: datetime,
    directory: Directory,
    loads: Mapping[str, int],
) -> list[Fact]:
    action, officer = cmd.action, cmd.officer_id
    note = (cmd.params.get("note") or cmd.params.get("reason") or "").strip() or None

    if action == "note":
        if note is None:
            raise InvalidCommand("params.note", "required for note")
        return [_change(case, case.status, now, action, officer, note)]

    if action == "transfer":
        dept = _param(cmd, "department")
        if directory.department(dept) is None:
            raise InvalidCommand("params.department", f"unknown department {dept!r}")
        if dept == case.department:
            raise InvalidTransition(f"the case is already owned by {dept}")
        if is_corruption(case.kind, case.category):
            raise InvalidTransition(
                "a corruption report stays with the executives: it never"
                " goes to a division, which may be the one it accuses"
            )
        _resume(case, now)
        facts: list[Fact] = [
            _change(case, Status.TRANSFERRED, now, action, officer, note or f"to {dept}")
        ]
        decision = decide_assignment(routing_input(case, transfer_to=dept), directory, loads)
        return facts + _assign(case, decision, now, "transfer")

    if action == "reassign":
        to = _param(cmd, "to_officer") or ""
        colleague = directory.officer(to)
        if (
            colleague is None
            or colleague.department != case.department
            or colleague.status is OfficerStatus.INACTIVE
        ):
            raise InvalidCommand(
                "params.to_officer", f"{to!r} is not an active officer of {case.department}"
            )
        if to == case.officer_id:
            raise InvalidTransition(f"the case is already {to}'s")
        _resume(case, now)
        why = f"reassigned to {to} by {officer or '?'}" + (f": {note}" if note else "")
        facts = [_change(case, case.status, now, action, officer, note or f"to {to}")]
        decision = Assignment(case.department or "", to, (why,), case.accused_department)
        return facts + _assign(case, decision, now, "reassign")

    if action == "recategorize":
        code = _param(cmd, "category") or ""
        try:
            cat = by_code(code)
        except KeyError:
            raise InvalidCommand("params.category", f"unknown category {code!r}") from None
        if cat.code == case.category:
            raise InvalidTransition(f"the case is already in category {code}")
        if is_corruption(case.kind, case.category) or case.accused_department:
            # A new category would route it like any matter, possibly to the division
            # it accuses: the whistle-blower's protection holds on every path.
            raise InvalidTransition(
                "a corruption report keeps its category and stays with the executives"
            )
        _resume(case, now)
        case.categories = [
            CategoryScore(
                cat.code, cat.label_th, cat.label_en, 1.0, (f"set by officer {officer or '?'}",)
            ),
            *(c for c in case.categories if c.code != cat.code),
        ]
        case.category_source = "officer"
        facts = [_change(case, case.status, now, action, officer, note or f"category {code}")]
        decision = decide_assignment(routing_input(case), directory, loads)
        return facts + _assign(
            case,
            decision,
            now,
            "recategorize",
            (f"category {code} ({cat.label_th}) set by an officer",),
        )

    assert target is not None
    if action == "acknowledge":
        case.acknowledged_at = now
    elif action == "request_info":
        entry = _change(
            case, target, now, action, officer, note or _param(cmd, "question", required=False)
        )
        _pause(case, now)
        return [entry]
    elif action == "resolve":
        case.resolution = _param(cmd, "resolution")
        case.after_photo_ref = _param(cmd, "after_photo_ref", required=False)
        case.cause = _cause(case, _param(cmd, "cause", required=False))
        case.cause_note = _param(cmd, "cause_note", required=False)
        _resume(case, now)
        case.resolved_at = now
        change = _change(case, target, now, action, officer, case.resolution)
        return [change, Resolved(change.seq)]
    elif action == "close":
        case.closed_at = now
        change = _change(case, target, now, action, officer, note)
        return [change, Closed(change.seq, note)]
    elif action == "reopen":
        # The citizen says it is not fixed: the matter is owed an answer again, on a new
        # clock, by the same owner.
        case.deadline_epoch += 1
        case.escalation_level = 0
        case.acknowledged_at = None
        case.resolved_at = None
        case.closed_at = None
        set_deadlines(case, directory, start=now)
    elif action == "mark_duplicate":
        original = _param(cmd, "duplicate_of")
        if original == case.case_id:
            raise InvalidCommand("params.duplicate_of", "a case cannot duplicate itself")
        case.duplicate_of = original
        note = note or f"duplicate of {original}"
    elif action == "not_responsible":
        case.forwarded_to = _param(cmd, "forwarded_to")
        note = note or f"forwarded to {case.forwarded_to}"
    _resume(case, now)
    return [_change(case, target, now, action, officer, note)]


def amend(
    case: Case,
    amendment_id: str,
    summary: str,
    now: datetime,
    directory: Directory,
    attachments: Sequence[Attachment] = (),
    *,
    withdrawn: bool = False,
) -> list[Fact]:
    """The citizen added to the matter: on the timeline (with what they sent, on the case),
    to the officer, and a case that waited for the citizen's answer goes on (its clock runs
    again). `withdrawn`: they took a message back instead (LINE's unsend), which is no
    answer: on the timeline and to the officer only."""
    key = f"amend:{amendment_id}"
    if key in case.applied_commands:
        return []
    case.applied_commands = [*case.applied_commands, key][-MAX_REMEMBERED_COMMANDS:]
    case.attach(list(attachments))
    note = summary[:MAX_PARAM_CHARS]
    if sum(t.action in CITIZEN_ACTIONS for t in case.timeline) >= MAX_NOTES:
        return []  # kept by intake with the case; the timeline stays bounded
    facts: list[Fact] = []
    if withdrawn:
        case.record(now, "citizen_withdrew", None, note)
    elif case.status is Status.PENDING_CITIZEN:
        _resume(case, now)
        facts.append(_change(case, Status.IN_PROGRESS, now, "citizen_reply", None, note))
        arm_timers(case, directory)
    else:
        case.record(now, "citizen_followup", None, note)
    if case.officer_id:
        facts.append(
            Reminded(
                "citizen_withdrew" if withdrawn else "citizen_followup",
                (case.officer_id,),
                case.respond_due_at or now,
                key,
            )
        )
    return facts


CITIZEN_ACTIONS = frozenset({"citizen_reply", "citizen_followup", "citizen_withdrew"})


def _change(
    case: Case, to: Status, now: datetime, action: str, officer: str | None, note: str | None
) -> StatusChanged:
    before = case.status
    case.status = to
    entry = case.record(now, action, officer, note)
    return StatusChanged(before.value, to.value, action, officer, note, entry.seq)
