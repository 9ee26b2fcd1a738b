"""The participation rule, fulfilment and violations, on the pure domain."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.compliance.domain import rules
from services.compliance.domain.errors import ChangeRefused
from services.compliance.domain.model import (
    Change,
    ChangeBudget,
    ChangeStage,
    Command,
    Flag,
    Project,
    RecordParticipation,
    Register,
    Source,
    Waive,
)
from services.compliance.domain.policy import Policy
from shared.events.compliance import Stage
from tests.compliance.builders import NOW, T0, policies

POLICY: Policy = policies().for_org("sraphonthong")
KINDS = ["public_hearing", "inspection_committee_participation", "public_report_back"]


class Story:
    """A project and the changes applied to it, version after version."""

    def __init__(self, satang: int = 500_000_000, **flags: bool) -> None:
        self.project = Project(project_id="P-1", org_id="sraphonthong", source=Source.KAFKA)
        self.version = 0
        self.facts: list[rules.Fact] = []
        self.do(
            Register(
                name="ถนน คสล. หมู่ที่ 4",
                fiscal_year=2569,
                budget_satang=satang,
                funding_source="เงินอุดหนุน",
                key_policy=flags.get("key_policy", False),
                key_mission=flags.get("key_mission", False),
                stage=Stage.PLANNING,
                planned_procurement_date=date(2026, 2, 1),
            )
        )

    def do(self, command: Command) -> list[rules.Fact]:
        self.version += 1
        change = Change(
            f"e{self.version}",
            T0 + timedelta(days=self.version),
            Source.KAFKA,
            command,
            self.version,
        )
        facts = rules.apply(self.project, change, POLICY)
        self.facts += facts
        return facts

    def stage(self, stage: Stage) -> list[rules.Fact]:
        return self.do(ChangeStage(stage, None))

    def hearing(self, kind: str = "public_hearing", record_id: str = "h1") -> list[rules.Fact]:
        return self.do(
            RecordParticipation(
                record_id,
                kind,
                date(2025, 11, 20),
                {"citizens": 40},
                "minutes.pdf",
                ("ถนนน้ำท่วม",),
                "เห็นชอบ",
                "เพิ่มท่อ",
                "officer-7",
            )
        )

    def statuses(self) -> dict[str, str]:
        return {r.kind: r.status.value for r in self.project.requirements}


def test_exactly_ten_million_baht_raises_nothing() -> None:
    story = Story(satang=1_000_000_000)
    assert story.facts == [] and not story.project.requires_participation


def test_one_satang_more_than_ten_million_raises_every_requirement() -> None:
    story = Story(satang=1_000_000_001)
    raised = [f.requirement for f in story.facts if isinstance(f, rules.Raised)]
    assert [r.kind for r in raised] == KINDS
    assert [(r.due, r.due_stage) for r in raised] == [
        ("before", Stage.PROCUREMENT),
        ("before", Stage.INSPECTION),
        ("after", Stage.COMPLETED),
    ]
    assert "budget 10,000,000.01 > 10,000,000.00" in raised[0].reasons


@pytest.mark.parametrize("flag", ["key_policy", "key_mission"])
def test_a_small_key_project_raises_them(flag: str) -> None:
    story = Story(satang=5_000_000, **{flag: True})
    assert story.statuses() == dict.fromkeys(KINDS, "open")
    assert story.project.requirements[0].reasons == [flag]


def test_an_amendment_across_the_threshold_raises_them_and_a_cut_keeps_them() -> None:
    story = Story(satang=900_000_000)
    assert story.facts == []
    raised = story.do(ChangeBudget(1_200_000_000, "ข้อบัญญัติเพิ่มเติม"))
    assert len([f for f in raised if isinstance(f, rules.Raised)]) == 3
    assert story.do(ChangeBudget(800_000_000, "ตัดงบ")) == []
    assert story.statuses() == dict.fromkeys(KINDS, "open")
    assert not rules.triggers(story.project, POLICY) and story.project.requires_participation


def test_turning_a_flag_on_raises_them_and_off_keeps_them() -> None:
    story = Story()
    story.do(Flag(key_policy=True, key_mission=None))
    story.do(Flag(key_policy=False, key_mission=None))
    assert story.statuses() == dict.fromkeys(KINDS, "open")


def test_only_an_explicit_waiver_with_a_reason_waives_and_it_stays_visible() -> None:
    story = Story(key_policy=True)
    story.do(Waive("public_report_back", "รายงานรวมในรายงานประจำปี", "นายก อบต."))
    req = story.project.requirement("public_report_back")
    assert req is not None and req.status.value == "waived"
    assert req.waiver_reason == "รายงานรวมในรายงานประจำปี"
    with pytest.raises(ChangeRefused):
        story.do(Waive("no_such_requirement", "เหตุผล", None))


def test_procurement_before_a_hearing_is_a_high_severity_violation_once() -> None:
    story = Story(satang=1_250_000_000)
    facts = story.stage(Stage.PROCUREMENT)
    violations = [f.violation for f in facts if isinstance(f, rules.Violated)]
    assert [(v.requirement, v.severity, v.stage) for v in violations] == [
        ("public_hearing", "high", Stage.PROCUREMENT)
    ]
    assert story.stage(Stage.CONTRACTED) == []  # still owed, but flagged once


def test_skipping_to_inspection_flags_both_stage_requirements() -> None:
    story = Story(key_mission=True)
    facts = story.stage(Stage.INSPECTION)
    assert sorted(f.violation.requirement for f in facts if isinstance(f, rules.Violated)) == [
        "inspection_committee_participation",
        "public_hearing",
    ]
    assert {v.severity for v in story.project.violations} == {"high", "medium"}


def test_a_recorded_hearing_meets_its_requirement_and_no_violation_follows() -> None:
    story = Story(satang=1_250_000_000)
    met = story.hearing(kind="community_forum")
    assert [
        (f.requirement.kind, f.participation.record_id) for f in met if isinstance(f, rules.Met)
    ] == [("public_hearing", "h1")]
    assert story.stage(Stage.PROCUREMENT) == []
    assert story.statuses()["public_hearing"] == "met"


def test_a_hearing_held_before_the_rule_applied_counts_once_it_does() -> None:
    story = Story(satang=900_000_000)
    story.hearing()
    facts = story.do(ChangeBudget(1_200_000_000, None))
    assert [type(f).__name__ for f in facts] == ["Raised", "Raised", "Raised", "Met"]


def test_a_requirement_raised_after_its_stage_passed_is_a_violation_at_once() -> None:
    story = Story(satang=900_000_000)
    story.stage(Stage.CONTRACTED)
    facts = story.do(ChangeBudget(1_200_000_000, None))
    assert [f.violation.code for f in facts if isinstance(f, rules.Violated)] == [
        "procurement_without_public_hearing"
    ]


def test_a_cancelled_project_owes_nothing_more_and_stays_cancelled() -> None:
    story = Story(satang=1_250_000_000)
    assert story.stage(Stage.CANCELLED) == []
    with pytest.raises(ChangeRefused):
        story.stage(Stage.PROCUREMENT)


def test_warning_comes_once_within_the_configured_days_of_planned_procurement() -> None:
    story = Story(satang=1_250_000_000)  # planned procurement 1 Feb 2026
    early = rules.check_timers(story.project, NOW - timedelta(days=30), POLICY)
    assert early == []
    warned = rules.check_timers(story.project, NOW, POLICY)  # 15 Jan: 17 days before
    assert [
        (f.warning.code, f.warning.requirement) for f in warned if isinstance(f, rules.Warned)
    ] == [("procurement_soon", "public_hearing")]
    assert rules.check_timers(story.project, NOW + timedelta(days=1), POLICY) == []


def test_report_back_is_overdue_only_after_the_grace_period_from_completion() -> None:
    story = Story(satang=1_250_000_000)
    story.hearing()
    story.hearing(kind="inspection_committee", record_id="ic1")
    story.stage(Stage.COMPLETED)
    completed = story.project.completed_at
    assert completed is not None
    assert rules.check_timers(story.project, completed + timedelta(days=29), POLICY) == []
    late = rules.check_timers(story.project, completed + timedelta(days=31), POLICY)
    assert [
        (f.violation.code, f.violation.severity) for f in late if isinstance(f, rules.Violated)
    ] == [("public_report_back_overdue", "low")]
    assert rules.check_timers(story.project, completed + timedelta(days=60), POLICY) == []


def test_versions_are_applied_once_and_in_order() -> None:
    project = Project(project_id="P", org_id="o", source=Source.KAFKA)
    assert rules.disposition(project, 1) is rules.Disposition.APPLY
    assert rules.disposition(project, 3) is rules.Disposition.PARK
    project.applied_version = 2
    assert rules.disposition(project, 2) is rules.Disposition.DUPLICATE
    assert rules.disposition(project, 3) is rules.Disposition.APPLY


def test_a_change_to_an_unregistered_project_is_refused() -> None:
    project = Project(project_id="P", org_id="o", source=Source.KAFKA)
    change = Change("e", T0, Source.KAFKA, ChangeStage(Stage.APPROVED, None), 1)
    with pytest.raises(ChangeRefused):
        rules.apply(project, change, POLICY)
    assert project.timeline == []
