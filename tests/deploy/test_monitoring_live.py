"""A real Prometheus scrapes the local distributed stack (gateway, worker, janitor and queue
exporter as separate processes, RabbitMQ, moto S3) while ``loadtest/run.py --host`` loads it
through the API; afterwards every metric the alerts and dashboards read, every dashboard query
and every alert expression (its left side, without the threshold) must have returned data.

This also runs the load harness against a URL, as an operator would against a deployment:
its own lost-job check must find nothing lost. One job's manifest is then altered in storage,
so that the tampering counter (whose series appears only at a first tampering) has data.

A metric defined but not yet exported by a service would be listed in AWAITING_WIRING (the
test asserts it is still without data, so the list must shrink as soon as it is wired); today
the list is empty, and only the GPU memory (no CUDA here) is exempt.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared import keys
from shared.storage import open_store
from tests.deploy.promql import (
    RATE_INTERVAL,
    ROOT,
    alert_rules,
    dashboard_queries,
    metric_names,
    without_threshold,
    write_rules_file,
)
from tests.support.env import skip_or_fail
from tests.support.net import free_port, http, multipart, wait_http_ok
from tests.support.photos import photo
from tests.support.processes import Service, Stack
from tests.support.storage import storage_settings

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

#: Only a CUDA worker exports GPU memory; this machine has none.
NEEDS_GPU = {"picupscaler_worker_gpu_memory_bytes"}
#: Metrics a service defines but does not yet export (none: every one is wired).
AWAITING_WIRING: set[str] = set()


def query_range(prometheus: str, expr: str, start: float, end: float) -> list[dict[str, Any]]:
    """Prometheus's answer to a range query over the run (2 s steps)."""
    params = urllib.parse.urlencode(
        {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": "2"}
    )
    status, _, raw = http("GET", f"{prometheus}/api/v1/query_range?{params}")
    body = json.loads(raw)
    assert status == 200 and body["status"] == "success", (expr, raw[:300])
    return list(body["data"]["result"])


def prometheus_config(path: Path, targets: dict[str, int], rules: Path) -> None:
    """A scrape job per service (1 s interval) and the alert rules."""
    jobs = "\n".join(
        f"  - job_name: {name}\n    static_configs:\n      - targets: ['127.0.0.1:{port}']"
        for name, port in targets.items()
    )
    path.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files:\n  - {rules}\nscrape_configs:\n{jobs}\n"
    )


def test_every_dashboard_query_and_alert_returns_data(
    rabbitmq_url: str, s3_env: dict[str, str], tmp_path: Path
) -> None:
    prometheus_bin = shutil.which("prometheus")
    if prometheus_bin is None:
        skip_or_fail("prometheus is not installed (apt-get install prometheus)")
    # Never import locust here: it monkey-patches the whole process with gevent.
    if importlib.util.find_spec("locust") is None:
        skip_or_fail("locust is not installed (pip install -e '.[load]')")

    ports = {"worker": free_port(), "janitor": free_port(), "queue-exporter": free_port()}
    model = "realesr-animevideov3"
    stack = Stack(
        rabbitmq_url,
        s3_env,
        tmp_path,
        workers=1,
        env={
            "WORKER_METRICS_PORT": str(ports["worker"]),
            "JANITOR_METRICS_PORT": str(ports["janitor"]),
            "WORKER_PRELOAD": json.dumps([f"{model}:2"]),
            "WORKER_DEVICE": "cpu",
            "LOG_FORMAT": "json",
            # Far below the load's attempts (4 users, two of them uploading every second for
            # 25 s): the load meets 429 + Retry-After, which the harness must honour.
            "ADMISSION_UPLOADS_PER_MINUTE": "10",
            "ADMISSION_MAX_IN_FLIGHT_PER_NETWORK": "1000000",
        },
    )
    services: list[Service] = []
    prom: subprocess.Popen[bytes] | None = None
    try:
        exporter = Service(
            "queue-exporter",
            ["-m", "shared.ops_metrics"],
            {
                **stack.env,
                "QUEUE_EXPORTER_PORT": str(ports["queue-exporter"]),
                "QUEUE_EXPORTER_INTERVAL_SECONDS": "1",
            },
            tmp_path,
        )
        services.append(exporter)
        targets = {"gateway": stack.port, **ports}
        config = tmp_path / "prometheus.yml"
        prometheus_config(config, targets, write_rules_file(tmp_path / "rules"))
        prom_port = free_port()
        prom_log = (tmp_path / "prometheus.log").open("wb")
        prom = subprocess.Popen(
            [
                prometheus_bin,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=prom_log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{prom_port}"
        wait_http_ok(f"{base}/-/ready", 60)
        stack.wait_ready()
        exporter.wait_for_log("queue_exporter_ready", 60)
        start = time.time()

        # Refusals a client would meet: an unsupported file, an unknown model.
        body, ctype = multipart({}, b"not an image at all")
        assert http("POST", f"{stack.base}/v1/jobs", body, {"Content-Type": ctype})[0] == 415
        body, ctype = multipart({"model": "no-such-model"}, b"\x89PNG\r\n\x1a\n")
        assert http("POST", f"{stack.base}/v1/jobs", body, {"Content-Type": ctype})[0] in (
            415,
            422,
        )

        # The load harness against the URL, as against a deployment.
        out = tmp_path / "loadtest"
        run = subprocess.run(
            [sys.executable, str(ROOT / "loadtest" / "run.py"), "--host", stack.base]
            + ["--users", "2", "--upload-only-users", "2", "--upload-rate", "1"]
            + ["--duration", "25", "--model", model, "--scale", "2"]
            + ["--drain-timeout", "90", "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        print(run.stdout[-4000:])
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        report = json.loads((out / "report.json").read_text())
        assert report["lost"] == 0 and report["accepted"] > 0
        # Refused uploads waited exactly what the gateway's Retry-After asked.
        ledger = [json.loads(line) for line in (out / "ledger.jsonl").read_text().splitlines()]
        refusals = [rec for rec in ledger if rec["e"] == "refused"]
        assert refusals and report["refused"] == len(refusals)
        for rec in refusals:
            assert rec["status"] == 429 and rec["retry_after"] is not None
            assert rec["waited"] == min(rec["retry_after"], 120.0)

        # A manifest altered in storage behind the services' back: the gateway finds the
        # seal broken, answers 404 and counts it (PicUpscalerManifestTampering).
        # From another /24 (127.0.1.1): the load above spent 127.0.0.0/24's upload budget.
        body, ctype = multipart({"model": model, "scale": "2"}, photo(64, 64))
        code, _, raw = http(
            "POST", f"{stack.base}/v1/jobs", body, {"Content-Type": ctype}, source="127.0.1.1"
        )
        assert code == 202, raw
        job = json.loads(raw)
        auth = {"Authorization": f"Bearer {job['token']}"}
        deadline = time.monotonic() + 300
        while json.loads(http("GET", f"{stack.base}/v1/jobs/{job['id']}", headers=auth)[2])[
            "status"
        ] not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, "the job to tamper with did not finish"
            time.sleep(0.5)
        store = open_store(storage_settings(s3_env), s3_env["STORAGE_JOBS_BUCKET"])
        manifest_key = keys.job_key(job["id"], keys.MANIFEST)
        manifest = json.loads(store.get(manifest_key))
        manifest["expires_at"] = (datetime.now(UTC) + timedelta(days=30)).isoformat()
        store.put(manifest_key, json.dumps(manifest).encode(), "application/json")
        assert http("GET", f"{stack.base}/v1/jobs/{job['id']}", headers=auth)[0] == 404

        # Prometheus has scraped the end state once it counts every accepted job, and the
        # tampering counter twice (increase() needs two samples of a series).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = time.time()
            seen = query_range(base, "sum(picupscaler_jobs_accepted_total)", now - 5, now)
            tampered = query_range(base, "picupscaler_manifest_tampering_total", now - 5, now)
            if (
                seen
                and float(seen[0]["values"][-1][1]) >= report["accepted"] + 1
                and tampered
                and len(tampered[0]["values"]) >= 2
            ):
                break
            time.sleep(0.5)
        end = time.time()

        results: dict[str, bool] = {}
        metrics = {n for r in alert_rules() for n in metric_names(r["expr"])}
        metrics |= {n for _, _, e in dashboard_queries() for n in metric_names(e)}
        for name in sorted(metrics):
            results[f"metric {name}"] = bool(query_range(base, name, start, end))
        for board, panel, expr in dashboard_queries():
            query = expr.replace(RATE_INTERVAL, "1m")
            results[f"panel {board} / {panel}: {expr}"] = bool(query_range(base, query, start, end))
        for rule in alert_rules():
            for part in without_threshold(rule["expr"]):
                if part.startswith("absent("):
                    continue  # data only when the metric is missing; the metric is checked
                results[f"alert {rule['alert']}: {part}"] = bool(
                    query_range(base, part, start, end)
                )
        (tmp_path / "live-results.json").write_text(json.dumps(results, indent=2))
        for key, ok in results.items():
            print(("DATA    " if ok else "NO DATA ") + key)

        exempt = NEEDS_GPU | AWAITING_WIRING

        def expected_empty(key: str) -> bool:
            return any(n.removesuffix("_bucket") in key for n in exempt)

        missing = [k for k, ok in results.items() if not ok and not expected_empty(k)]
        assert not missing, "returned no data:\n" + "\n".join(missing)
        wired = [f"metric {n}" for n in AWAITING_WIRING if results.get(f"metric {n}")]
        assert not wired, f"now wired: remove from AWAITING_WIRING: {wired}"
    finally:
        if prom is not None:
            prom.terminate()
            prom.wait(timeout=30)
        for service in services:
            service.stop()
        stack.stop()
