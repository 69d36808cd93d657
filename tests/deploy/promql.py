"""PromQL expressions of the alerts and dashboards, read with promql-parser, and the metric
names the services define."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULE = ROOT / "deploy" / "k8s" / "components" / "monitoring" / "prometheusrule.yaml"
DASHBOARDS = ROOT / "deploy" / "k8s" / "components" / "monitoring" / "dashboards"
OPERATIONS = ROOT / "docs" / "operations.md"
#: Grafana's interval variable; Prometheus itself needs a duration.
RATE_INTERVAL = "$__rate_interval"


def alert_rules() -> list[dict[str, Any]]:
    """Every alerting rule of the PrometheusRule."""
    spec = yaml.safe_load(RULE.read_text())["spec"]
    return [r for group in spec["groups"] for r in group["rules"] if "alert" in r]


def dashboard_panels() -> list[tuple[str, dict[str, Any]]]:
    """(dashboard title, panel) for every panel of every generated dashboard."""
    found = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text())
        found += [(board["title"], p) for p in board["panels"] if p.get("type") != "row"]
    return found


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(dashboard, panel title, PromQL) for every panel query."""
    return [
        (board, panel["title"], target["expr"])
        for board, panel in dashboard_panels()
        for target in panel.get("targets", [])
    ]


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (histogram suffixes kept)."""
    import promql_parser

    names: set[str] = set()

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)
        return True

    promql_parser.walk(promql_parser.parse(expr.replace(RATE_INTERVAL, "1m")), visit)
    return names


def without_threshold(expr: str) -> list[str]:
    """The parts of an alert expression that must return data: the left side of each
    top-level comparison (``a > 3`` → ``a``), for each side of a top-level ``and``/``or``."""
    import promql_parser

    comparisons = {"==", "!=", ">", "<", ">=", "<="}

    def strip(node: Any) -> list[str]:
        if isinstance(node, promql_parser.BinaryExpr):
            op = str(node.op)
            if op in ("and", "or", "unless"):
                return strip(node.lhs) + strip(node.rhs)
            if op in comparisons:
                return [str(node.lhs)]
        return [str(node)]

    return strip(promql_parser.parse(expr))


def runbook_anchors() -> set[str]:
    """The heading anchors of docs/operations.md, as GitHub renders them."""
    anchors = set()
    for line in OPERATIONS.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^a-z0-9 -]", "", title).replace(" ", "-"))
    return anchors


def write_rules_file(out: Path) -> Path:
    """Write the alerts as a plain rule file in ``out`` the way an operator does: by running
    ``deploy/monitoring/rules_file.py`` (a script, not a package: no ``sys.path`` edits)."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "deploy" / "monitoring" / "rules_file.py"
    subprocess.run([sys.executable, str(script), str(out)], check=True, timeout=60)
    (written,) = out.glob("*.rules.yaml")
    return written
