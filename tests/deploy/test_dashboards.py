"""Grafana dashboards: generated from code (deploy/grafana/dashboards.py), committed as JSON,
and shipped unchanged in the monitoring component's ConfigMap."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.deploy.k8s_render import PROD_OVERLAYS, of_kind, render
from tests.deploy.promql import DASHBOARDS, RATE_INTERVAL, ROOT, dashboard_queries

GENERATOR = ROOT / "deploy" / "grafana" / "dashboards.py"


def test_committed_dashboards_are_what_the_generator_writes() -> None:
    run = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_query_parses() -> None:
    import promql_parser

    queries = dashboard_queries()
    assert len(queries) >= 20
    for board, panel, expr in queries:
        promql_parser.parse(expr.replace(RATE_INTERVAL, "1m")), (board, panel)


def test_dashboards_ship_in_the_monitoring_configmap(kubectl: str) -> None:
    files = {p.name: p.read_text() for p in DASHBOARDS.glob("*.json")}
    assert len(files) == 3
    for overlay in PROD_OVERLAYS:
        configmap = of_kind(render(kubectl, overlay), "ConfigMap")["picupscaler-dashboards"]
        assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert configmap["data"] == files
        for text in files.values():
            board = json.loads(text)
            assert board["uid"].startswith("picupscaler-") and board["panels"]
