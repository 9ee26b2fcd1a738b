"""The alert rules, evaluated by Prometheus' own promtool (built with Go and cached by
deploy/local/prometheus.py; `make test` builds it first): `promtool test rules` over
deploy/prometheus/tests/, `promtool check rules` and `promtool check config` of the
deployment's and the local stack's configuration, and a runbook entry for every alert."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.local import prometheus, stack

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = sorted((REPO / "deploy" / "prometheus" / "tests").glob("*.yml"))
CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"
RUNBOOK = REPO / "docs" / "runbook.md"


@pytest.fixture(scope="session")
def promtool() -> Path:
    return prometheus.build(["promtool"], quiet=True)["promtool"]


def run(promtool: Path, *args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(promtool), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_every_rule_passes_its_promtool_tests(promtool: Path) -> None:
    result = run(promtool, "test", "rules", *RULE_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_fails_a_wrong_expectation(promtool: Path, tmp_path: Path) -> None:
    """The runner above would notice a rule that does not behave as its test says: here a
    service that was never down is expected to page."""
    wrong = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": 'up{job="ruam", service="intake"}', "values": "1x10"}],
                "alert_rule_test": [
                    {
                        "eval_time": "5m",
                        "alertname": "RuamServiceDown",
                        "exp_alerts": [{"exp_labels": {"severity": "page"}}],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "wrong.yml"
    path.write_text(yaml.safe_dump(wrong))
    result = run(promtool, "test", "rules", path)
    assert result.returncode != 0
    assert "RuamServiceDown" in result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    """Each alert has an evaluation where it fires and one where some series do not fire it
    (an empty expectation, or input series beyond those expected to fire)."""
    fires: set[str] = set()
    spares: set[str] = set()
    for path in RULE_TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            inputs = len(test["input_series"])
            for case in test.get("alert_rule_test", []):
                expected = case.get("exp_alerts") or []
                if expected:
                    fires.add(case["alertname"])
                if len(expected) < inputs:
                    spares.add(case["alertname"])
    names = {rule["alert"] for rule in alerts()}
    assert names - fires == set(), "alerts never shown firing"
    assert names - spares == set(), "alerts never shown quiet"


def test_the_rules_and_the_deployments_config_check(promtool: Path, tmp_path: Path) -> None:
    rules = run(promtool, "check", "rules", RULES)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    # The container reads its rules at /etc/prometheus; here they are where the repo has them.
    config = yaml.safe_load(CONFIG.read_text())
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    config["rule_files"] = [str(RULES)]
    copy = tmp_path / "prometheus.yml"
    copy.write_text(yaml.safe_dump(config))
    checked = run(promtool, "check", "config", copy)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 1 rule files found" in checked.stdout + checked.stderr


def test_the_local_stacks_config_checks(promtool: Path, tmp_path: Path) -> None:
    """What `make up MONITORING=1` runs: one target per service, each with its service
    label, the repo's rules."""
    profile = stack.get_profile("test")
    text = prometheus.render_config(prometheus.scraped(profile))
    path = tmp_path / "prometheus.yml"
    path.write_text(text)
    checked = run(promtool, "check", "config", path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 1 rule files found" in checked.stdout + checked.stderr
    targets = yaml.safe_load(text)["scrape_configs"][0]["static_configs"]
    assert {t["labels"]["service"]: t["targets"] for t in targets} == {
        name: [f"127.0.0.1:{profile.service_ports[name]}"] for name in stack.SERVICES
    }


def test_a_broken_config_is_refused(promtool: Path, tmp_path: Path) -> None:
    path = tmp_path / "prometheus.yml"
    path.write_text(prometheus.render_config({"intake": 8001}).replace("15s", "fifteen"))
    assert run(promtool, "check", "config", path).returncode != 0


def test_every_alert_has_a_runbook_entry() -> None:
    text = RUNBOOK.read_text()
    sections = dict(re.findall(r"^## (\S+)\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S))
    for rule in alerts():
        link = rule["annotations"]["runbook"]
        assert link.startswith("docs/runbook.md#"), rule["alert"]
        anchor = link.split("#", 1)[1]
        heading = next((h for h in sections if h.lower() == anchor), None)
        assert heading is not None, f"{rule['alert']}: no section for #{anchor}"
        body = sections[heading]
        # The entry is the alert's own, or names it (an alert sharing its sibling's entry).
        assert heading == rule["alert"] or f"**{rule['alert']}**" in body, rule["alert"]
        if "**Check and do.**" not in body:
            for part in ("**Means.**", "**Check.**", "**Do.**"):
                assert part in body, f"{heading}: {part} missing"


def test_the_cached_build_is_reused(promtool: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once built, the binary is found by its version and build mark: no Go is run."""
    assert "branch: ruam-local" in run(promtool, "--version").stdout
    monkeypatch.setenv("PATH", "/nonexistent")
    assert prometheus.build(["promtool"], quiet=True) == {"promtool": promtool}
