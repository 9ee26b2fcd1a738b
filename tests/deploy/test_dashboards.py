"""The Grafana dashboards (deploy/grafana/dashboards/) and the alert rules ask only for
metrics the services export, with labels those metrics carry.

The names come from a real scrape: every service of the local stack is started in-process
on the real test stack (its own topic prefix and database, tests/conftest.py) and its
`GET /metrics` is read. A metric family is known from its `# TYPE` line even before it has
a sample; its labels only once it has one, so labels are checked for families that have.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import subprocess
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from deploy.local import prometheus, stack
from shared.settings import ServiceSettings
from tests.conftest import running

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((REPO / "deploy" / "grafana" / "dashboards").glob("*.json"))
RULES = REPO / "deploy" / "prometheus" / "alerts.yml"

# Series Prometheus makes itself, and the labels it adds to every scraped series (the
# target's `service` label: deploy/prometheus/prometheus.yml, deploy/local/prometheus.py).
PROMETHEUS_OWN = {
    "up": {"job", "instance", "service"},
    "ALERTS": {"alertname", "alertstate", "severity", "service"},
}
TARGET_LABELS = {"job", "instance", "service"}
# The services Prometheus scrapes: those of the local stack with metrics of their own.
EXPORTERS = [name for name in stack.SERVICES if (REPO / "services" / name / "metrics.py").exists()]

KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "offset", "bool", "inf", "nan", "atan2",
}  # fmt: skip
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
MATCHERS = re.compile(r"\{([^}]*)\}")
IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


# --------------------------------------------------------------------------- PromQL, enough


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """(metric name, labels matched on it) of every selector in a PromQL expression."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = GROUPING.sub(" ", text)
    found: list[tuple[str, set[str]]] = []
    pos = 0
    while True:
        match = IDENT.search(text, pos)
        if match is None:
            return found
        name, pos = match.group(), match.end()
        rest = text[pos:].lstrip()
        before = text[: match.start()].rstrip()
        if (
            name.lower() in KEYWORDS
            or rest.startswith("(")  # a function or an aggregation
            or re.fullmatch(r"\d+[smhdwy]?", name)
            or (before[-1:].isdigit() if before else False)  # the unit of a duration
        ):
            continue
        labels: set[str] = set()
        if rest.startswith("{"):
            block = MATCHERS.match(rest)
            assert block is not None, expr
            labels = {m.split("=")[0].rstrip("!~ ").strip() for m in block.group(1).split(",")}
            labels.discard("")
            pos = text.index(block.group(0), pos) + len(block.group(0))
        found.append((name, labels))


def grouping_labels(expr: str) -> set[str]:
    return {
        label.strip()
        for _, labels in GROUPING.findall(expr)
        for label in labels.split(",")
        if label.strip()
    }


def test_the_parser_finds_names_and_labels() -> None:
    expr = (
        'sum by (service, status) (rate(fs_processed_total{status=~"error|x"}[10m]))'
        " / ignoring(status) sum by (service) (rate(fs_processed_total[10m])) > 0.05"
        ' and on (service) up{job="ruam"} == 0 or vector(0) and histogram_quantile(0.95, x_bucket)'
        " and ruam_build_info offset 5m and delta(ruam_consumer_lag[5m:1m]) > 2 * 86400"
    )
    assert selectors(expr) == [
        ("fs_processed_total", {"status"}),
        ("fs_processed_total", set()),
        ("up", {"job"}),
        ("x_bucket", set()),
        ("ruam_build_info", set()),
        ("ruam_consumer_lag", set()),
    ]
    assert grouping_labels(expr) == {"service", "status"}


# --------------------------------------------------------------------------- what is asked


def dashboard_queries() -> Iterator[tuple[str, str]]:
    """(where, expression) of every panel target and every templating query."""
    for path in DASHBOARDS:
        board = json.loads(path.read_text())

        def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
            for item in items:
                yield item
                yield from panels(item.get("panels", []))

        for panel in panels(board["panels"]):
            for target in panel.get("targets", []):
                yield f"{path.name}: {panel['title']}", target["expr"]
        for var in board.get("templating", {}).get("list", []):
            query = var.get("query")
            query = query.get("query") if isinstance(query, dict) else query
            found = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query or "")
            if found:
                yield f"{path.name}: ${var['name']}", f"{found[1]}{{{found[2]}!=''}}"


def alert_queries() -> Iterator[tuple[str, str]]:
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            yield f"alerts.yml: {rule.get('alert') or rule.get('record')}", rule["expr"]


def test_the_dashboards_are_provisioned_json() -> None:
    uids = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        uids.append(board["uid"])
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), path.name
        for panel in board["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}
            assert panel["targets"], panel["title"]
        # Grafana moves overlapping panels about: each has its own place on the 24-wide grid.
        cells: dict[tuple[int, int], str] = {}
        for panel in board["panels"]:
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24, panel["title"]
            for x in range(pos["x"], pos["x"] + pos["w"]):
                for y in range(pos["y"], pos["y"] + pos["h"]):
                    assert (x, y) not in cells, f"{panel['title']} over {cells[(x, y)]}"
                    cells[(x, y)] = panel["title"]
    assert sorted(uids) == ["ruam-management", "ruam-operations"]
    datasources = yaml.safe_load(
        (REPO / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    assert datasources["datasources"][0]["uid"] == "prometheus"


def test_every_query_names_some_metric() -> None:
    """A query whose names the parser missed would pass the comparison below unseen."""
    queries = [*dashboard_queries(), *alert_queries()]
    assert len(queries) > 40
    for where, expr in queries:
        assert selectors(expr), f"{where}: no metric found in {expr!r}"


def test_every_query_parses_as_promql() -> None:
    """Prometheus' own parser (promtool, deploy/local/prometheus.py) on every query, with
    the dashboards' variables given a value, as Grafana does before it asks."""
    promtool = prometheus.build(["promtool"], quiet=True)["promtool"]
    for where, expr in [*dashboard_queries(), *alert_queries()]:
        query = expr.replace("$fiscal_year", "2569")
        checked = subprocess.run(
            [str(promtool), "--experimental", "promql", "format", query],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert checked.returncode == 0, f"{where}: {checked.stderr or checked.stdout}"
    broken = subprocess.run(
        [str(promtool), "--experimental", "promql", "format", "sum by (a (x)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert broken.returncode != 0  # the parser does refuse


# --------------------------------------------------------------------------- what is exported


def service_settings(name: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"services.{name}.settings")
    classes = [
        cls
        for cls in vars(module).values()
        if inspect.isclass(cls)
        and issubclass(cls, ServiceSettings)
        and cls is not ServiceSettings
        and cls.__module__ == module.__name__
    ]
    assert len(classes) == 1, classes
    return classes[0]


def exported(text: str, into: dict[str, set[str] | None]) -> None:
    """Sample names of a /metrics text -> their labels (None: no sample yet to tell)."""
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("_sum", "_count", "_created"),
        "gauge": ("",),
        "info": ("_info",),
    }
    for family in text_string_to_metric_families(text):
        for suffix in suffixes.get(family.type, ("",)):
            into.setdefault(family.name + suffix, None)
        for sample in family.samples:
            labels = into.get(sample.name) or set()
            into[sample.name] = labels | set(sample.labels)


@pytest.mark.e2e
async def test_dashboards_and_alerts_ask_only_for_what_the_services_export(
    real_settings: Any,
) -> None:
    metrics: dict[str, set[str] | None] = {}
    async with AsyncExitStack() as services:
        for name in EXPORTERS:
            bootstrap = importlib.import_module(f"services.{name}.bootstrap")
            service = bootstrap.create_service(real_settings(service_settings(name)))
            client = await services.enter_async_context(running(service))
            response = await client.get("/metrics")
            assert response.status_code == 200, name
            exported(response.text, metrics)
    assert "ruam_dead_lettered_total" in metrics  # the scrape was read

    missing: list[str] = []
    for where, expr in [*dashboard_queries(), *alert_queries()]:
        used: set[str] = set()
        all_told = True
        for metric, labels in selectors(expr):
            if metric not in metrics and metric not in PROMETHEUS_OWN:
                missing.append(f"{where}: {metric} is not exported")
                all_told = False
                continue
            known = PROMETHEUS_OWN.get(metric) or metrics[metric]
            if known is None:
                all_told = False  # no sample yet: its labels cannot be told
                continue
            used |= known
            if labels - known - TARGET_LABELS:
                missing.append(f"{where}: {metric} has no label {labels - known}")
        unknown = grouping_labels(expr) - used - TARGET_LABELS
        if all_told and unknown:
            missing.append(f"{where}: grouped by {unknown}, which none of its metrics carry")
    assert not missing, "\n".join(missing)
