"""The participation rule of one organisation, read from its configuration.

Measure 5: a project whose budget is more than 10 million baht, or that is a key
policy or key mission, must have the public or the private sector take part. What
counts as "more", which flags trigger, which requirements follow, and which kind of
participation meets which requirement differ between organisations, so they are
data (services/compliance/config/<org>.yaml), not code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from services.compliance.domain.errors import PolicyError
from services.compliance.domain.money import parse_baht
from shared.events.compliance import ParticipationKind, Stage

Due = Literal["before", "after"]


@dataclass(frozen=True)
class RequirementSpec:
    kind: str
    due_stage: Stage
    due: Due
    severity: str
    label_th: str
    # For "after" requirements: days after reaching due_stage before it is overdue.
    grace_days: int = 0


@dataclass(frozen=True)
class Policy:
    org_id: str
    threshold_satang: int
    key_policy_triggers: bool
    key_mission_triggers: bool
    requirements: tuple[RequirementSpec, ...]
    meets: Mapping[str, frozenset[str]]  # participation kind -> requirement kinds
    warning_days_before_procurement: int = 30
    severity_labels: Mapping[str, str] = field(default_factory=dict)

    def spec(self, kind: str) -> RequirementSpec | None:
        return next((s for s in self.requirements if s.kind == kind), None)

    @classmethod
    def from_mapping(cls, org_id: str, data: Mapping[str, Any]) -> Policy:
        try:
            threshold = parse_baht(data["threshold_baht"])
            specs = tuple(
                RequirementSpec(
                    kind=str(r["kind"]),
                    due_stage=Stage(r["due_stage"]),
                    due=_due(r.get("due", "before")),
                    severity=str(r["severity"]),
                    label_th=str(r.get("label_th", r["kind"])),
                    grace_days=int(r.get("grace_days", 0)),
                )
                for r in data["requirements"]
            )
            kinds = {s.kind for s in specs}
            meets: dict[str, frozenset[str]] = {}
            for participation, reqs in (data.get("meets") or {}).items():
                ParticipationKind(participation)
                unknown = set(reqs) - kinds
                if unknown:
                    raise PolicyError(f"{participation} meets unknown requirements {unknown}")
                meets[str(participation)] = frozenset(str(r) for r in reqs)
            return cls(
                org_id=org_id,
                threshold_satang=threshold,
                key_policy_triggers=bool(data.get("key_policy_triggers", True)),
                key_mission_triggers=bool(data.get("key_mission_triggers", True)),
                requirements=specs,
                meets=meets,
                warning_days_before_procurement=int(
                    data.get("warning_days_before_procurement", 30)
                ),
                severity_labels=dict(data.get("severity_labels") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PolicyError(f"bad compliance policy for {org_id}: {exc}") from exc


def _due(value: object) -> Due:
    if value == "before":
        return "before"
    if value == "after":
        return "after"
    raise PolicyError(f"due must be 'before' or 'after', not {value!r}")


class Policies:
    """Each organisation's policy, the default one for organisations without a file."""

    def __init__(self, default: Policy, by_org: Mapping[str, Policy] | None = None) -> None:
        self._default = default
        self._by_org = dict(by_org or {})

    def for_org(self, org_id: str) -> Policy:
        return self._by_org.get(org_id, self._default)
