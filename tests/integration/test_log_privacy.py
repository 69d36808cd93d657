"""Technical data dies with the job: no log line of any service joins a job id with a client
network, an address or a user agent (the access log names the network, never the job).

The distributed stack as separate processes, JSON logs; uploads, status reads, a stream, a
result, a deletion and a refusal from two client networks; then every line of every log."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.env import UNLIMITED_ADMISSION_ENV
from tests.support.net import http, multipart
from tests.support.photos import photo
from tests.support.processes import Stack

pytestmark = pytest.mark.rabbitmq

JOB_ID = re.compile(r"\b01[0-9a-f]{30}\b")
ADDRESS = re.compile(r"\b127\.0\.[01]\.1\b|\b127\.0\.[01]\.0/24\b")
USER_AGENT = "PrivacyProbe/7.3 (log test)"


def test_no_log_line_joins_a_job_with_a_network(
    rabbitmq_url: str, s3_env: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **UNLIMITED_ADMISSION_ENV,
        "LOG_FORMAT": "json",
        "WORKER_PRELOAD": '["realesr-animevideov3:2"]',
        "WORKER_WARMUP": "false",
        "JANITOR_INTERVAL_SECONDS": "1",
    }
    stack = Stack(rabbitmq_url, s3_env, tmp_path, workers=1, janitor=True, env=env)
    jobs = []
    try:
        stack.wait_ready()
        for source in ("127.0.0.1", "127.0.1.1"):
            body, ctype = multipart({"model": "realesr-animevideov3", "scale": "2"}, photo(32, 32))
            headers = {"Content-Type": ctype, "User-Agent": USER_AGENT}
            code, _, raw = http("POST", f"{stack.base}/v1/jobs", body, headers, source=source)
            assert code == 202
            jobs.append(json.loads(raw))
        refused, _, _ = http("POST", f"{stack.base}/v1/jobs", b"x", {"Content-Type": ctype})
        assert refused >= 400
        for job in jobs:
            auth = {"Authorization": f"Bearer {job['token']}", "User-Agent": USER_AGENT}
            for _ in range(240):
                state = json.loads(
                    http("GET", f"{stack.base}{job['links']['self']}", headers=auth)[2]
                )
                if state["status"] in ("succeeded", "failed"):
                    break
                stack.workers[0].wait_for_log("job_finished", 60)
            assert http("GET", f"{stack.base}{job['links']['result']}", headers=auth)[0] == 200
            assert http("GET", f"{stack.base}{job['links']['events']}", headers=auth)[0] == 200
        auth = {"Authorization": f"Bearer {jobs[0]['token']}"}
        assert http("DELETE", f"{stack.base}/v1/jobs/{jobs[0]['id']}", headers=auth)[0] == 200
    finally:
        stack.stop()
    lines = [
        line
        for log in sorted(tmp_path.glob("*.log"))
        for line in log.read_text(errors="replace").splitlines()
    ]
    assert any(JOB_ID.search(line) for line in lines)  # job ids are logged...
    assert any(ADDRESS.search(line) for line in lines)  # ...and client networks are...
    joined = [
        line
        for line in lines
        if JOB_ID.search(line) and (ADDRESS.search(line) or USER_AGENT in line)
    ]
    assert joined == [], joined[:5]  # ...never on the same line
    assert not any(USER_AGENT in line for line in lines)
    print(
        f"\n{len(lines)} log lines of {len(list(tmp_path.glob('*.log')))} services: "
        f"{sum(bool(JOB_ID.search(x)) for x in lines)} name a job, "
        f"{sum(bool(ADDRESS.search(x)) for x in lines)} a network, 0 both"
    )
