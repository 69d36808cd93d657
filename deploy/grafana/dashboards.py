"""Grafana dashboards for PicUpscaler, generated from code with grafana-foundation-sdk.

    python deploy/grafana/dashboards.py           # (re)write the JSON files
    python deploy/grafana/dashboards.py --check   # exit 1 if a committed file is stale

The JSON lands in ``deploy/k8s/components/monitoring/dashboards/`` (committed), where the
monitoring component turns each file into a ConfigMap that Grafana's dashboard sidecar loads
(label ``grafana_dashboard: "1"``). ``tests/deploy/test_dashboards.py`` regenerates and
compares, and the live Prometheus test runs every query. Each panel links to its runbook in
docs/operations.md. The metric names are those of gateway/metrics.py, worker/metrics.py,
janitor/metrics.py, shared/ops_metrics.py, shared/audit/startup.py and shared/manifest.py.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from grafana_foundation_sdk.builders import stat, timeseries
from grafana_foundation_sdk.builders.dashboard import (
    ConstantVariable,
    Dashboard,
    DashboardLink,
    DatasourceVariable,
    Row,
)
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DashboardLinkType, DataSourceRef

OUT = Path(__file__).resolve().parents[1] / "k8s" / "components" / "monitoring" / "dashboards"
#: Where the runbooks live; a dashboard variable, so one edit in Grafana repoints every link.
RUNBOOK_BASE = "https://github.com/picupscaler/picupscaler/blob/main/docs/operations.md"
PROMETHEUS = DataSourceRef(type_val="prometheus", uid="${datasource}")


@dataclass(frozen=True)
class Query:
    """One PromQL query of a panel and its legend."""

    expr: str
    legend: str = ""


@dataclass(frozen=True)
class PanelSpec:
    """A panel: kind ``timeseries`` or ``stat``, its queries, unit and runbook anchor."""

    title: str
    description: str
    queries: tuple[Query, ...]
    runbook: str
    unit: str = "short"
    kind: str = "timeseries"
    width: int = 12


def panel(spec: PanelSpec) -> timeseries.Panel | stat.Panel:
    """Build one panel with its runbook link."""
    builder: timeseries.Panel | stat.Panel = (
        timeseries.Panel() if spec.kind == "timeseries" else stat.Panel()
    )
    builder.title(spec.title).description(spec.description).unit(spec.unit)
    builder.datasource(PROMETHEUS).span(spec.width).height(8)
    for i, query in enumerate(spec.queries):
        target = Dataquery().expr(query.expr).ref_id(chr(ord("A") + i))
        if query.legend:
            target.legend_format(query.legend)
        builder.with_target(target)
    builder.links(
        [
            DashboardLink("Runbook")
            .type(DashboardLinkType.LINK)
            .url(f"${{runbook_base}}#{spec.runbook}")
            .target_blank(True)
        ]
    )
    return builder


def rate(metric: str, by: str = "", selector: str = "") -> str:
    """``sum by (…) (rate(metric{selector}[$__rate_interval]))``."""
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (rate({metric}{selector}[$__rate_interval]))"


def quantile(q: float, metric: str, by: str) -> str:
    """The q-quantile of a histogram per ``by`` over the rate interval."""
    return f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket[$__rate_interval])))"


SERVICE = (
    "Service: uploads, refusals, gateway",
    "picupscaler-service",
    [
        PanelSpec(
            "Jobs accepted by model",
            "Uploads answered 202, per second.",
            (Query(rate("picupscaler_jobs_accepted_total", "model"), "{{model}}"),),
            "backlog-growing",
            "reqps",
        ),
        PanelSpec(
            "Refusals by reason",
            "Requests declined (413/415/422/429/503), by error code.",
            (Query(rate("picupscaler_refusals_total", "reason, status"), "{{status}} {{reason}}"),),
            "gateway-5xx",
            "reqps",
        ),
        PanelSpec(
            "Gateway answers by status",
            "Every HTTP answer of the gateways, by status code.",
            (
                Query(
                    rate("picupscaler_http_request_duration_seconds_count", "status"), "{{status}}"
                ),
            ),
            "gateway-5xx",
            "reqps",
        ),
        PanelSpec(
            "Gateway 5xx ratio",
            "Share of answers that are 5xx; the alert fires above 2 % for 10 minutes.",
            (
                Query(
                    "("
                    + rate("picupscaler_http_request_duration_seconds_count", "", '{status=~"5.."}')
                    + " or vector(0)) / "
                    + rate("picupscaler_http_request_duration_seconds_count"),
                    "5xx",
                ),
            ),
            "gateway-5xx",
            "percentunit",
        ),
        PanelSpec(
            "Gateway latency p95 by route",
            "95th percentile of the request duration.",
            (
                Query(
                    quantile(0.95, "picupscaler_http_request_duration_seconds", "route"),
                    "{{route}}",
                ),
            ),
            "gateway-5xx",
            "s",
        ),
        PanelSpec(
            "Storage or broker unavailable",
            "Requests answered 503 because a dependency was down.",
            (
                Query(
                    rate("picupscaler_dependency_unavailable_total", "dependency"),
                    "{{dependency}}",
                ),
            ),
            "broker-lost",
            "reqps",
        ),
    ],
)

WORKERS = (
    "Queue and workers",
    "picupscaler-workers",
    [
        PanelSpec(
            "Messages waiting",
            "Ready messages per queue: work, delay (retries), dead letters.",
            (Query("max by (role) (picupscaler_queue_messages)", "{{role}}"),),
            "backlog-growing",
        ),
        PanelSpec(
            "Oldest waiting message",
            "Age of the head message; the worker autoscaler adds a worker per minute of age.",
            (Query("max by (role) (picupscaler_queue_oldest_message_age_seconds)", "{{role}}"),),
            "backlog-growing",
            "s",
        ),
        PanelSpec(
            "Workers consuming",
            "Consumers on the work queue (one per worker process).",
            (Query('max(picupscaler_queue_consumers{role="work"})', "consumers"),),
            "no-workers",
            kind="stat",
            width=6,
        ),
        PanelSpec(
            "Dead letters",
            "Messages in the dead-letter queue (kept 1 h); should be 0.",
            (Query('max(picupscaler_queue_messages{role="dead_letter"})', "dead letters"),),
            "dead-letters",
            kind="stat",
            width=6,
        ),
        PanelSpec(
            "Job wait p95 by model",
            "From acceptance (202) to the start of processing.",
            (Query(quantile(0.95, "picupscaler_job_wait_seconds", "model"), "{{model}}"),),
            "backlog-growing",
            "s",
        ),
        PanelSpec(
            "Job run time p95 by model",
            "From the start of processing to the stored result.",
            (Query(quantile(0.95, "picupscaler_job_processing_seconds", "model"), "{{model}}"),),
            "worker-failures",
            "s",
        ),
        PanelSpec(
            "Jobs finished by status",
            "Succeeded and failed jobs per second.",
            (Query(rate("picupscaler_jobs_finished_total", "status"), "{{status}}"),),
            "worker-failures",
            "reqps",
        ),
        PanelSpec(
            "GPU memory by worker",
            "Allocated and reserved by torch, and the card's total (GPU workers only).",
            (
                Query(
                    "max by (instance, device, kind) "
                    '(picupscaler_worker_gpu_memory_bytes{kind=~"allocated|reserved|total"})',
                    "{{instance}} {{device}} {{kind}}",
                ),
            ),
            "worker-failures",
            "bytes",
        ),
        PanelSpec(
            "Queue probe",
            "1 when the queue exporter read RabbitMQ on its last try.",
            (Query("min(picupscaler_queue_probe_success)", "probe"),),
            "broker-lost",
            kind="stat",
            width=6,
        ),
    ],
)

RETENTION = (
    "Retention and audit",
    "picupscaler-retention",
    [
        PanelSpec(
            "Oldest stored object",
            "Age of the oldest job object; the promise is 24 h, the alert fires at 23 h.",
            (Query("max(picupscaler_oldest_object_age_seconds)", "oldest"),),
            "oldest-object-too-old",
            "s",
        ),
        PanelSpec(
            "Since the last sweep",
            "Seconds since the janitor last finished a sweep (every 5 minutes; late at 15).",
            (Query("time() - max(picupscaler_janitor_last_sweep_timestamp_seconds)", "age"),),
            "janitor-sweep-late",
            "s",
        ),
        PanelSpec(
            "Deletions",
            "Jobs and objects the janitor deleted, and user deletions, per second.",
            (
                Query(rate("picupscaler_janitor_jobs_deleted_total"), "jobs (expiry)"),
                Query(rate("picupscaler_janitor_objects_deleted_total"), "objects (expiry)"),
                Query(rate("picupscaler_jobs_deleted_by_user_total"), "jobs (user)"),
            ),
            "oldest-object-too-old",
            "reqps",
        ),
        PanelSpec(
            "Objects left after a delete",
            "Delete failures in the last hour; each is retried at the next sweep.",
            (Query("sum(increase(picupscaler_janitor_delete_failures_total[1h]))", "failures"),),
            "janitor-sweep-late",
            kind="stat",
            width=6,
        ),
        PanelSpec(
            "Audit chain verified",
            "1 when the last verification of the deletion audit log passed.",
            (Query("min(picupscaler_audit_chain_verified)", "verified"),),
            "audit-chain-broken",
            kind="stat",
            width=6,
        ),
        PanelSpec(
            "Audit problems",
            "Problems found by the last verification; should be 0.",
            (Query("max(picupscaler_audit_chain_problems)", "problems"),),
            "audit-chain-broken",
            kind="stat",
            width=6,
        ),
        PanelSpec(
            "Since the last audit verification",
            "Seconds since the janitor last verified the audit log (every 10 minutes; the "
            "alert fires after 30).",
            (
                Query(
                    "time() - max(picupscaler_audit_last_verify_timestamp_seconds)",
                    "age",
                ),
            ),
            "audit-verification-stale",
            "s",
            kind="stat",
            width=6,
        ),
        PanelSpec(
            "Audit anchors protected",
            "1 when every service found the anchors' bucket under Object Lock at start-up.",
            (Query("min(picupscaler_audit_anchor_protected)", "protected"),),
            "audit-anchor-unprotected",
            kind="stat",
            width=6,
        ),
        PanelSpec(
            "Tampered manifests",
            "Job manifests whose seal did not hold, by the service that found them (since "
            "each process started); should be 0.",
            (
                Query(
                    "sum by (service) (picupscaler_manifest_tampering_total) or vector(0)",
                    "{{service}}",
                ),
            ),
            "manifest-tampering",
            kind="stat",
            width=6,
        ),
        PanelSpec(
            "Stale uploads aborted",
            "Incomplete multipart uploads the janitor aborted, per second.",
            (Query(rate("picupscaler_janitor_incomplete_uploads_aborted_total"), "aborted"),),
            "janitor-sweep-late",
            "reqps",
            width=6,
        ),
    ],
)

DASHBOARDS = [SERVICE, WORKERS, RETENTION]


def build(title: str, uid: str, panels: list[PanelSpec]) -> Dashboard:
    """One dashboard: a datasource picker, the runbook base, a row and its panels."""
    dashboard = (
        Dashboard(f"PicUpscaler / {title}")
        .uid(uid)
        .tags(["picupscaler", "generated"])
        .editable()
        .refresh("30s")
        .time("now-3h", "now")
        .timezone("utc")
        .with_variable(DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
        .with_variable(ConstantVariable("runbook_base").value(RUNBOOK_BASE))
        .link(
            DashboardLink("Runbooks")
            .type(DashboardLinkType.LINK)
            .url("${runbook_base}")
            .target_blank(True)
        )
        .with_row(Row(title))
    )
    for spec in panels:
        dashboard.with_panel(panel(spec))
    return dashboard


def render() -> dict[str, str]:
    """File name → JSON text of every dashboard."""
    encoder = JSONEncoder(sort_keys=True, indent=2)
    return {
        f"{uid}.json": encoder.encode(build(title, uid, panels).build()) + "\n"
        for title, uid, panels in DASHBOARDS
    }


def main(argv: list[str] | None = None) -> int:
    """Write the files, or with --check report stale ones."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = OUT / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(path)
    if stale:
        print(f"stale: {', '.join(stale)} (run python deploy/grafana/dashboards.py)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
