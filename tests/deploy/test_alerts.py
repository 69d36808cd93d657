"""The alerts (PrometheusRule) with Prometheus's own promtool: the rules load, and every alert
fires on its fixture and stays quiet on the harmless one (deploy/monitoring/alerts.test.yaml).
Every alert and dashboard reads only metrics the services define, and links a runbook that
exists."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.promql import (
    ROOT,
    alert_rules,
    dashboard_panels,
    dashboard_queries,
    metric_names,
    runbook_anchors,
    write_rules_file,
)

TESTS_FILE = ROOT / "deploy" / "monitoring" / "alerts.test.yaml"


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The PrometheusRule's spec as a plain rule file, beside a copy of the promtool tests."""
    out = tmp_path_factory.mktemp("rules")
    write_rules_file(out)
    shutil.copy(TESTS_FILE, out / TESTS_FILE.name)
    return out


def test_promtool_check_rules(promtool: str, rules_dir: Path) -> None:
    run = subprocess.run(
        [promtool, "check", "rules", str(rules_dir / "picupscaler.rules.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in run.stdout


def test_promtool_test_rules(promtool: str, rules_dir: Path) -> None:
    run = subprocess.run(
        [promtool, "test", "rules", str(rules_dir / TESTS_FILE.name)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    print(run.stdout)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


def test_every_alert_has_a_firing_and_a_quiet_fixture() -> None:
    tests = yaml.safe_load(TESTS_FILE.read_text())["tests"]
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in tests:
        for check in case.get("alert_rule_test", []):
            (fired if check["exp_alerts"] else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert fired == names, f"no firing fixture: {names - fired}"
    assert quiet == names, f"no quiet fixture: {names - quiet}"


def test_every_alert_has_severity_summary_and_an_existing_runbook() -> None:
    anchors = runbook_anchors()
    for rule in alert_rules():
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        url = rule["annotations"]["runbook_url"]
        assert url.split("#")[0].endswith("docs/operations.md"), rule["alert"]
        assert url.split("#")[1] in anchors, f"{rule['alert']}: no runbook section {url}"


def test_every_panel_links_an_existing_runbook() -> None:
    anchors = runbook_anchors()
    for board, panel in dashboard_panels():
        (link,) = panel["links"]
        assert link["url"].startswith("${runbook_base}#"), (board, panel["title"])
        assert link["url"].split("#")[1] in anchors, (board, panel["title"], link["url"])


def defined_metrics() -> set[str]:
    """Every metric family the services register (histograms with their sample suffixes)."""
    from prometheus_client import REGISTRY, CollectorRegistry

    import gateway.metrics  # noqa: F401
    import janitor.metrics  # noqa: F401
    import shared.audit.startup  # noqa: F401  (picupscaler_audit_anchor_protected)
    import shared.audit.writer  # noqa: F401
    import shared.manifest  # noqa: F401  (picupscaler_manifest_tampering_total)
    import shared.ops_metrics as ops_metrics
    import worker.metrics  # noqa: F401

    names: set[str] = set()
    gpu = CollectorRegistry()
    ops_metrics.register_gpu_memory_collector(gpu)
    for registry in (REGISTRY, gpu):
        for family in registry.collect():
            names.add(family.name)
            if family.type == "counter":
                names.add(family.name + "_total")
            if family.type == "histogram":
                names |= {family.name + s for s in ("_bucket", "_count", "_sum")}
    return names


def test_alerts_and_dashboards_read_only_defined_metrics() -> None:
    """No alert or panel reads a metric name that no service defines (a typo, a rename)."""
    defined = defined_metrics()
    used = {name for rule in alert_rules() for name in metric_names(rule["expr"])}
    used |= {name for _, _, expr in dashboard_queries() for name in metric_names(expr)}
    assert used, "no metric read at all"
    assert used <= defined, f"undefined metrics: {sorted(used - defined)}"
