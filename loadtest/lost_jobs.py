"""The lost-job check, through the public API only: it works against a local stack or any
deployed URL.

The locust users write a ledger (JSON lines) of every job the service accepted (202 with an id
and a token), every finish they saw and every DELETE. Afterwards the harness polls each
accepted job that no client saw finish, with the job's own token, until it finishes or the
drain gives up, then looks at every job once more. A job is *lost* if it is still queued or
running when the drain gives up, answers 404 although its client never sent DELETE, or its
final check answers anything but a finished status. A 429 or 503 is a refusal, not an
answer: the check waits for its Retry-After and asks again.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TERMINAL = ("succeeded", "failed")
#: The longest Retry-After the check honours in one wait.
MAX_RETRY_AFTER_S = 60.0
#: How often the final check asks again after a refusal before it gives up on a job.
FINAL_ATTEMPTS = 5


@dataclass
class Job:
    """One accepted job as the ledger and the drain saw it."""

    id: str
    token: str
    started: float
    status: str | None = None
    latency_ms: float | None = None
    delete_sent: bool = False
    deleted: bool = False
    vanished: bool = False
    drained: bool = False


@dataclass
class LedgerView:
    """What the locust users recorded (``LOADTEST_LEDGER``)."""

    jobs: dict[str, Job] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0
    cpu_warnings: int = 0
    window: tuple[float, float] | None = None


def read_ledger(path: Path) -> LedgerView:
    """Parse the JSON-lines ledger the locust process wrote."""
    view = LedgerView()
    start = stop = None
    if not path.exists():
        return view
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a line cut by a hard stop
        kind = rec["e"]
        if kind == "test_start":
            start = rec["t"]
        elif kind == "test_stop":
            stop = rec["t"]
        elif kind == "req":
            view.requests.append(rec)
        elif kind == "refused":
            view.refused += 1
        elif kind == "cpu_warning":
            view.cpu_warnings += 1
        elif kind == "accepted":
            view.jobs[rec["id"]] = Job(rec["id"], rec["token"], rec["started"])
        elif (job := view.jobs.get(rec.get("id", ""))) is not None:
            if kind == "finished":
                job.status, job.latency_ms = rec["status"], rec["latency_ms"]
            elif kind == "delete_sent":
                job.delete_sent = True
            elif kind == "deleted":
                job.deleted = True
            elif kind == "vanished":
                job.vanished = True
    if start is not None and stop is not None:
        view.window = (start, stop)
    return view


@dataclass(frozen=True)
class Answer:
    """One status request: HTTP status, the job's status (or None), Retry-After, body."""

    code: int
    status: str | None
    retry_after: float | None
    body: bytes

    @property
    def refused(self) -> bool:
        """429 or 503: the service declined to answer now (not a verdict on the job)."""
        return self.code in (429, 503)


def job_state(base: str, job: Job, timeout: float = 30.0) -> Answer:
    """GET a job's status with its token (connection errors answer as status 0)."""
    request = urllib.request.Request(
        f"{base}/v1/jobs/{job.id}", headers={"Authorization": f"Bearer {job.token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            code, headers, body = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        code, headers, body = err.code, err.headers, err.read()
    except OSError:
        return Answer(0, None, None, b"")
    status = None
    if code == 200:
        with contextlib.suppress(ValueError, AttributeError):
            status = json.loads(body).get("status")
    wait = None
    with contextlib.suppress(TypeError, ValueError):
        wait = float(headers.get("Retry-After"))
    return Answer(code, status, wait, body)


def _pause_for(answers: list[Answer]) -> float:
    """How long to wait before the next round: the longest Retry-After among refusals."""
    waits = [a.retry_after or 1.0 for a in answers if a.refused or a.code == 0]
    return min(max(waits, default=0.25), MAX_RETRY_AFTER_S)


@dataclass
class CheckResult:
    """What the check found."""

    lost: dict[str, str] = field(default_factory=dict)
    #: Jobs whose DELETE was answered 200 but that still answer 200.
    undeleted: list[str] = field(default_factory=list)
    #: 429/503 answers the check itself received (each honoured).
    refusals: int = 0


def drain_and_check(
    base: str, jobs: dict[str, Job], stall_timeout: float, max_drain: float
) -> CheckResult:
    """Wait for unfinished jobs, then verify every accepted one (see the module docstring).

    The drain goes on while jobs keep finishing; it gives up when none has finished for
    ``stall_timeout`` seconds, or after ``max_drain``. Drained jobs get a completion latency
    from this poll (its grain: one round over the pending jobs, 0.25 s or more).
    """
    result = CheckResult()
    pending = {j.id for j in jobs.values() if j.status is None and not j.delete_sent}
    hard_deadline = time.monotonic() + max_drain
    last_progress = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        while pending:
            batch = sorted(pending)
            answers = list(pool.map(lambda i: job_state(base, jobs[i]), batch))
            for job_id, answer in zip(batch, answers, strict=True):
                job = jobs[job_id]
                if answer.refused:
                    result.refusals += 1
                elif answer.status in TERMINAL:
                    job.status, job.drained = answer.status, True
                    job.latency_ms = (time.time() - job.started) * 1000
                    pending.discard(job_id)
                    last_progress = time.monotonic()
                elif answer.code == 404:
                    result.lost[job_id] = "404 for an accepted job that its client did not delete"
                    pending.discard(job_id)
            now = time.monotonic()
            if not pending or now - last_progress > stall_timeout or now > hard_deadline:
                break
            time.sleep(_pause_for(answers))
    for job_id in pending:
        result.lost[job_id] = (
            f"not finished: no job finished for {stall_timeout:.0f} s (or {max_drain:.0f} s passed)"
        )
    # A final look at every other job: still finished, or gone if its client deleted it.
    rest = [j for j in jobs.values() if j.id not in result.lost and not j.drained]
    final: dict[str, Answer] = {}
    for _ in range(FINAL_ATTEMPTS):
        ask = [j for j in rest if j.id not in final or final[j.id].refused]
        if not ask:
            break
        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(pool.map(lambda j: job_state(base, j), ask))
        for job, answer in zip(ask, answers, strict=True):
            final[job.id] = answer
            result.refusals += answer.refused
        if any(a.refused for a in answers):
            time.sleep(_pause_for(answers))
    for job in rest:
        answer = final[job.id]
        if answer.code == 404:
            if not job.delete_sent:
                result.lost[job.id] = "404 for an accepted job that its client did not delete"
        elif answer.status in TERMINAL:
            if job.deleted:
                result.undeleted.append(job.id)
        else:
            result.lost[job.id] = f"final check answered {answer.code} {answer.body[:120]!r}"
    return result
