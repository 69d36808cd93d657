"""The MinIO policies of deploy/k8s/minio-policies against the S3 requests the services make.

The gateway, a worker and the janitor run as their own processes, with the environment the
dev overlay gives them (its ConfigMap values, pointed at moto's S3 server through a recording
proxy), each signing with its own access key, the way production gives each its MinIO user.
They go through a job's life: the start-up checks, an upload, its processing, status, result
download, privacy export, analytics and the user's ``DELETE``; a job deleted while its result is
half uploaded; a job that fails (its images deleted and recorded by the worker); an expired job
with a stale multipart upload (the janitor's sweep), the janitor's audit verification, and,
in-process with the janitor's credentials and a clock moved ahead, the roll-up of analytics,
their retention and the compaction of the audit log. Every request must be allowed by its
service's policy (translated to the test's bucket names), and every action a policy grants
must have been needed by one of them, except the few listed in ``FAILURE_PATHS`` with why.
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from minio import Minio

from shared import keys
from shared.audit.signing import SigningKeys, VerifyKeys, new_signing_key_line, parse_key_lines
from shared.broker import build_broker, enqueue_job
from shared.crypto import KeyRing
from shared.settings import BrokerSettings, CryptoSettings, JobSettings
from tests.deploy.k8s_render import K8S, container_env, render
from tests.deploy.s3_recorder import Policy, RecordingProxy, S3Request, needed
from tests.deploy.test_k8s_settings import LIBRARY_VARIABLES
from tests.support.env import MODEL_CACHE, UNLIMITED_ADMISSION_ENV
from tests.support.failpoints import Failpoints
from tests.support.net import free_port, http, multipart, upload_and_wait, wait_http_ok
from tests.support.photos import photo
from tests.support.processes import Service, delete_queues
from tests.support.storage import replace_input, submitted_job

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

SERVICES = ("gateway", "worker", "janitor")
PARTIAL = "storage.partial.result"
#: Grants no request of this run needed, and the code path that needs them.
FAILURE_PATHS = {
    # minio-py aborts a multipart upload whose part failed; the worker's cancellation aborts
    # its own unfinished result upload (here the user's DELETE aborted it first).
    ("worker", "AbortMultipartUpload"),
}


def signing_key(service: str) -> str:
    return new_signing_key_line(f"test-{service}")


def public_line(line: str) -> str:
    signer = SigningKeys(parse_key_lines(line, what="key"))
    return ",".join(VerifyKeys(signer.public_keys()).lines())


@pytest.fixture
def deployment(
    kubectl: str, s3_endpoint: str, rabbitmq_url: str, tmp_path: Path
) -> Iterator[dict[str, object]]:
    """Buckets as an admin makes them, the recording proxy, and each service's environment."""
    suffix = uuid.uuid4().hex[:8]
    buckets = {
        "picupscaler-jobs": f"jobs-{suffix}",
        "picupscaler-audit": f"audit-{suffix}",
        "picupscaler-audit-anchors": f"audit-{suffix}-anchors",
    }
    admin = Minio(s3_endpoint, "admin", "admin-secret", secure=False, region="us-east-1")
    admin.make_bucket(buckets["picupscaler-jobs"])
    admin.make_bucket(buckets["picupscaler-audit"])
    admin.make_bucket(buckets["picupscaler-audit-anchors"], object_lock=True)
    signing = {s: signing_key(s) for s in SERVICES}
    crypto = f"k1:{base64.b64encode(os.urandom(32)).decode()}"
    queue = f"picupscaler-test-{suffix}"
    objs = render(kubectl, "dev")
    failpoints = Failpoints(tmp_path / "failpoints")
    envs: dict[str, dict[str, str]] = {}
    with RecordingProxy(s3_endpoint).running() as proxy:
        for service in SERVICES:
            env = {
                var: value
                for var, value in container_env(objs, service).items()
                if value is not None and var not in LIBRARY_VARIABLES
            }
            env.update(
                {
                    "STORAGE_ENDPOINT": proxy.endpoint,
                    "STORAGE_ACCESS_KEY": f"picupscaler-{service}",
                    "STORAGE_SECRET_KEY": "not-checked-by-moto",
                    "STORAGE_JOBS_BUCKET": buckets["picupscaler-jobs"],
                    "STORAGE_AUDIT_BUCKET": buckets["picupscaler-audit"],
                    "AUDIT_ANCHOR_BUCKET": buckets["picupscaler-audit-anchors"],
                    "AUDIT_SIGNING_KEYS": signing[service],
                    "BROKER_URL": rabbitmq_url,
                    "BROKER_QUEUE": queue,
                    "CRYPTO_KEYS": crypto,
                    "ANALYTICS_FLUSH_SECONDS": "1",
                    **UNLIMITED_ADMISSION_ENV,
                    **failpoints.env,
                }
            )
            envs[service] = env
        envs["gateway"].update(
            {
                "GATEWAY_HOST": "127.0.0.1",
                "GATEWAY_PORT": str(free_port()),
                "GATEWAY_ANALYTICS_TOKEN": uuid.uuid4().hex,
            }
        )
        envs["worker"].update(
            {
                "WORKER_METRICS_PORT": str(free_port()),
                "WORKER_MODEL_CACHE_DIR": str(MODEL_CACHE),
                "WORKER_PRELOAD": '["realesr-animevideov3:2"]',
            }
        )
        envs["janitor"].update(
            {
                "AUDIT_VERIFY_KEYS": ",".join(public_line(signing[s]) for s in SERVICES),
                "JANITOR_METRICS_PORT": "0",
                "JANITOR_INTERVAL_SECONDS": "2",
                "JANITOR_AUDIT_INTERVAL_SECONDS": "2",
            }
        )
        try:
            yield {
                "proxy": proxy,
                "envs": envs,
                "buckets": buckets,
                "admin": admin,
                "queue": queue,
                "failpoints": failpoints,
                "crypto": crypto,
                "rabbitmq_url": rabbitmq_url,
                "s3_endpoint": s3_endpoint,
                "log_dir": tmp_path,
            }
        finally:
            delete_queues(rabbitmq_url, queue)


def noise_png() -> bytes:
    """A 16-bit noise image whose x4 result (about 5.7 MiB) goes up as a multipart upload."""
    noise = np.random.default_rng(7).integers(0, 65536, (256, 256, 3), dtype=np.uint16)
    ok, png = cv2.imencode(".png", noise)
    assert ok
    return bytes(png.tobytes())


def wait_until(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.3)
    raise AssertionError(f"not within {timeout} s: {what}")


def run_the_services(d: dict[str, object]) -> None:
    """Everything the three processes do in a job's life (see the module doc)."""
    envs: dict[str, dict[str, str]] = d["envs"]  # type: ignore[assignment]
    log_dir: Path = d["log_dir"]  # type: ignore[assignment]
    failpoints: Failpoints = d["failpoints"]  # type: ignore[assignment]
    admin: Minio = d["admin"]  # type: ignore[assignment]
    buckets: dict[str, str] = d["buckets"]  # type: ignore[assignment]
    jobs_bucket = buckets["picupscaler-jobs"]
    gateway = Service("gateway", ["-m", "gateway"], envs["gateway"], log_dir)
    worker = Service("worker", ["-m", "worker"], envs["worker"], log_dir)
    janitor: Service | None = None
    base = f"http://127.0.0.1:{envs['gateway']['GATEWAY_PORT']}"
    token = envs["gateway"]["GATEWAY_ANALYTICS_TOKEN"]
    try:
        wait_http_ok(f"{base}/readyz", 120, gateway)
        worker.wait_for_log("worker_ready", 600)

        # A user's job from upload to DELETE, with status, result, export and analytics.
        job, state = upload_and_wait(
            base, photo(128, 128), {"model": "realesr-animevideov3", "scale": "2"}
        )
        assert state["status"] == "succeeded", state
        auth = {"Authorization": f"Bearer {job['token']}"}
        assert http("GET", f"{base}/v1/jobs/{job['id']}/result", headers=auth)[0] == 200
        assert http("GET", f"{base}/v1/privacy/export", headers=auth)[0] == 200
        wait_until(
            lambda: any(
                o.object_name.startswith("analytics/")
                for o in admin.list_objects(
                    buckets["picupscaler-audit"], prefix="analytics/", recursive=True
                )
            ),
            60,
            "an analytics flush",
        )
        analytics = http(
            "GET", f"{base}/v1/analytics?hours=1", headers={"Authorization": f"Bearer {token}"}
        )
        assert analytics[0] == 200, analytics
        assert http("DELETE", f"{base}/v1/jobs/{job['id']}", headers=auth)[0] == 200

        # Deleted while the worker's result is half uploaded: the DELETE aborts the upload.
        failpoints.arm(PARTIAL)
        body, ctype = multipart({"model": "realesr-animevideov3", "scale": "4"}, noise_png())
        status, _, raw = http("POST", f"{base}/v1/jobs", body, {"Content-Type": ctype})
        assert status == 202, raw
        held = json.loads(raw)
        failpoints.wait_hit(PARTIAL, 600)
        held_auth = {"Authorization": f"Bearer {held['token']}"}
        assert http("DELETE", f"{base}/v1/jobs/{held['id']}", headers=held_auth)[0] == 200
        failpoints.release(PARTIAL)
        prefix = keys.job_key(held["id"], "")
        wait_until(
            lambda: (
                not list(admin.list_objects(jobs_bucket, prefix=prefix, recursive=True))
                and not admin._list_multipart_uploads(jobs_bucket, prefix=prefix).uploads
            ),
            300,
            "the half-uploaded job gone",
        )

        # A job that fails: undecodable input (put there behind the gateway's back).
        ring = KeyRing.from_settings(CryptoSettings(keys=d["crypto"]))  # type: ignore[arg-type]
        admin_store = _admin_store(d)
        failed = submitted_job(admin_store, ring, photo(64, 64))
        replace_input(admin_store, ring, failed.id, b"this is no image at all")
        broker = build_broker(
            BrokerSettings(backend="rabbitmq", url=d["rabbitmq_url"], queue=d["queue"]),
            JobSettings(),
        )
        enqueue_job(broker, str(d["queue"]), failed.id)
        broker.close()
        failed_auth = {"Authorization": f"Bearer {failed.token}"}
        wait_until(
            lambda: (
                json.loads(http("GET", f"{base}/v1/jobs/{failed.id}", headers=failed_auth)[2]).get(
                    "status"
                )
                == "failed"
            ),
            300,
            "the undecodable job failed",
        )
        wait_until(
            lambda: (
                [
                    o.object_name
                    for o in admin.list_objects(
                        jobs_bucket, prefix=keys.job_key(failed.id, ""), recursive=True
                    )
                ]
                == [keys.job_key(failed.id, keys.MANIFEST)]
            ),
            60,
            "the failed job's images deleted",
        )

        # Expired two days ago, with a stale multipart upload: the janitor's sweep.
        expired = submitted_job(
            admin_store, ring, photo(64, 64), created=datetime.now(UTC) - timedelta(days=2)
        )
        admin._create_multipart_upload(
            jobs_bucket, keys.job_key(expired.id, keys.RESULT), {"Content-Type": "image/png"}
        )
        janitor = Service("janitor", ["-m", "janitor"], envs["janitor"], log_dir)
        expired_prefix = keys.job_key(expired.id, "")
        wait_until(
            lambda: (
                not list(admin.list_objects(jobs_bucket, prefix=expired_prefix, recursive=True))
                and not admin._list_multipart_uploads(jobs_bucket, prefix=expired_prefix).uploads
            ),
            120,
            "the janitor swept the expired job",
        )
        wait_until(
            lambda: janitor.log_text().count("audit_maintenance_finished") >= 2,
            120,
            "two audit maintenance passes",
        )
        assert '"verified": true' in janitor.log_text() or "verified=True" in janitor.log_text()
    finally:
        for service in (gateway, worker, janitor):
            if service is not None:
                service.stop()


def _admin_store(d: dict[str, object]) -> object:
    """The jobs bucket with the admin's credentials, straight to moto (not recorded)."""
    from shared.settings import StorageSettings
    from shared.storage import open_store

    buckets: dict[str, str] = d["buckets"]  # type: ignore[assignment]
    settings = StorageSettings(
        backend="s3",
        endpoint=str(d["s3_endpoint"]),
        access_key="admin",
        secret_key="admin-secret",
        secure=False,
        region="us-east-1",
    )
    return open_store(settings, buckets["picupscaler-jobs"])


def run_janitor_maintenance_later(d: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> None:
    """The janitor's maintenance pass with its credentials, 2 hours on (the roll-up of the
    finished hour) and 100 days on (compaction, analytics retention)."""
    from janitor.service import Janitor
    from janitor.settings import JanitorSettings
    from shared.audit import writer

    # The process-wide audit configuration this sets is put back after the test.
    monkeypatch.setattr(writer, "_config", None)
    envs: dict[str, dict[str, str]] = d["envs"]  # type: ignore[assignment]
    for var in list(os.environ):
        if var.split("_")[0] in {"STORAGE", "AUDIT", "JANITOR", "ANALYTICS", "JOBS", "LOG"}:
            monkeypatch.delenv(var)
    for var, value in envs["janitor"].items():
        monkeypatch.setenv(var, value)
    janitor = Janitor(JanitorSettings())
    now = datetime.now(UTC)
    later = janitor.maintenance.run_once(now + timedelta(hours=2))
    assert later.verification.ok and later.rollup.hours_rolled_up >= 1, later
    much_later = janitor.maintenance.run_once(now + timedelta(days=100))
    assert much_later.verification.ok, much_later
    assert much_later.compaction is not None and much_later.compaction.records_summarised > 0


def test_policies_allow_every_request_and_grant_nothing_unused(
    deployment: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_the_services(deployment)
    run_janitor_maintenance_later(deployment, monkeypatch)

    proxy: RecordingProxy = deployment["proxy"]  # type: ignore[assignment]
    buckets: dict[str, str] = deployment["buckets"]  # type: ignore[assignment]
    locked = {buckets["picupscaler-audit-anchors"]}
    signers = {r.key_id for r in proxy.requests}
    assert signers == {f"picupscaler-{s}" for s in SERVICES}, signers
    denied: list[str] = []
    unused: dict[str, set[str]] = {}
    table: list[str] = []
    for service in SERVICES:
        document = json.loads((K8S / "minio-policies" / f"{service}.json").read_text())
        policy = Policy.of(document, buckets)
        used: set[int] = set()
        requests: list[S3Request] = proxy.by(f"picupscaler-{service}")
        for request in requests:
            for need in needed(request, locked):
                grants = policy.allowing(need)
                if not grants:
                    denied.append(f"{service}: {request} needs {need.action} on {need.resource}")
                used |= {id(g) for g in grants}
        unused[service] = {
            str(g)
            for g in policy.grants
            if id(g) not in used and (service, g.action) not in FAILURE_PATHS
        }
        kinds = sorted(
            {f"{r.method} {'?' + ','.join(sorted(r.query)) if r.query else ''}" for r in requests}
        )
        table.append(f"{service}: {len(requests)} requests; {kinds}")
    print("\n".join(table))
    assert not denied, "requests the policies refuse:\n" + "\n".join(sorted(set(denied)))
    assert not any(unused.values()), f"granted, never needed: {unused}"
