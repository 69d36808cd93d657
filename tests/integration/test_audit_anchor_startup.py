"""The janitor checks its audit anchor at start-up: it refuses to run (or, when allowed, says
so loudly) where the anchor store would let the bucket's writers rewrite checkpoints."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

from minio import Minio

from tests.support.env import REPO
from tests.support.processes import Service

KEY = "janitor-startup:" + base64.b64encode(b"\x11" * 32).decode()


def run_janitor(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "janitor", "run"],
        cwd=REPO,
        env={**os.environ, **env, "AUDIT_SIGNING_KEYS": KEY, "JANITOR_LIFECYCLE_BACKSTOP": "0"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def client(env: dict[str, str]) -> Minio:
    return Minio(
        env["STORAGE_ENDPOINT"],
        access_key="testing",
        secret_key="testing",
        secure=False,
        region="us-east-1",
    )


def test_an_anchor_bucket_without_object_lock_stops_the_janitor(s3_env: dict[str, str]) -> None:
    anchors = f"{s3_env['STORAGE_AUDIT_BUCKET']}-anchors"
    client(s3_env).make_bucket(anchors)  # made by hand, without Object Lock
    done = run_janitor(s3_env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "refusing to start" in done.stderr and "Object Lock" in done.stderr


def test_running_without_object_lock_when_allowed_is_loud(
    s3_env: dict[str, str], tmp_path: Path
) -> None:
    anchors = f"{s3_env['STORAGE_AUDIT_BUCKET']}-anchors"
    client(s3_env).make_bucket(anchors)
    env = {
        **s3_env,
        "AUDIT_SIGNING_KEYS": KEY,
        "AUDIT_REQUIRE_ANCHOR_LOCK": "false",
        "JANITOR_LIFECYCLE_BACKSTOP": "0",
    }
    janitor = Service("janitor", ["-m", "janitor", "run"], env, tmp_path)
    try:
        log = janitor.wait_for_log("sweep_finished", 60)
        assert "audit_anchor_unprotected" in log and anchors in log
    finally:
        janitor.stop()


def test_the_janitor_makes_its_anchor_bucket_with_object_lock(
    s3_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**s3_env, "AUDIT_SIGNING_KEYS": KEY, "JANITOR_LIFECYCLE_BACKSTOP": "0"}
    janitor = Service("janitor", ["-m", "janitor", "run"], env, tmp_path)
    try:
        log = janitor.wait_for_log("audit_maintenance_finished", 60)
        assert "audit_anchor_checked" in log
    finally:
        janitor.stop()
    anchors = f"{s3_env['STORAGE_AUDIT_BUCKET']}-anchors"
    client(s3_env).get_object_lock_config(anchors)  # raises when the bucket has no lock


def test_an_anchor_file_inside_the_storage_root_stops_the_janitor(tmp_path: Path) -> None:
    env = {
        "STORAGE_BACKEND": "local",
        "STORAGE_LOCAL_DIR": str(tmp_path / "storage"),
        "AUDIT_ANCHOR_FILE": str(tmp_path / "storage" / "picupscaler-audit" / "anchors.jsonl"),
    }
    done = run_janitor(env)
    assert done.returncode == 2 and "inside the storage root" in done.stderr, done.stderr
