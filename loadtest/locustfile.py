"""Locust users for PicUpscaler: upload a small real image, poll the job, download, delete.

Run it through ``make loadtest`` (``loadtest/run.py`` starts a local distributed stack and
checks that no accepted job is lost), or on its own against any instance::

    .venv/bin/locust -f loadtest/locustfile.py --host http://127.0.0.1:8000

Two user classes:

* :class:`JourneyUser` (the default): one whole journey per iteration, a closed loop. It
  uploads, polls ``GET /v1/jobs/{id}`` until the job finishes (bounded), downloads the result,
  checks its size, and deletes the job (``LOADTEST_DELETE``).
* :class:`UploadOnlyUser`: an open loop on the accept path alone, ``LOADTEST_UPLOAD_RATE``
  uploads per second per user; it never polls, so its jobs are left to the harness to drain.

Requests are grouped by route ("POST /v1/jobs", "GET /v1/jobs/[id]", ...). Two custom entries
of type ``JOB`` measure the completion latency from the start of the upload to the poll that
saw the job finished: "upload→succeeded" and "upload→failed" (the latter a failure).

Settings (environment): ``LOADTEST_MODEL`` (``realesr-animevideov3``), ``LOADTEST_SCALE`` (2),
``LOADTEST_FORMAT`` (png), ``LOADTEST_SIZES`` (edges in pixels, ``48,64,96``),
``LOADTEST_POLL_INTERVAL`` (0.25 s), ``LOADTEST_JOB_TIMEOUT`` (120 s), ``LOADTEST_DELETE`` (1),
``LOADTEST_THINK_MAX`` (0.5 s between journeys), ``LOADTEST_UPLOAD_RATE`` (1/s per
upload-only user), ``LOADTEST_MAX_BACKOFF`` (120 s), ``LOADTEST_LEDGER`` (a JSON-lines file
of every request and job event, read by the harness; unset: none),
``LOADTEST_JOURNEY_USERS`` and ``LOADTEST_UPLOAD_ONLY_USERS`` (fixed user counts per class
when both classes run; unset: by weight, half each).

A 503 or 429 is a *refusal*: the service (or the edge proxy in front of it) declined the
upload, nothing was accepted, so nothing can be lost. The user waits for its ``Retry-After``
(up to ``LOADTEST_MAX_BACKOFF``, 120 s; 1 s when an edge refusal carries none) and carries on.
Status polls honour Retry-After the same way. Nothing here imports the project: the file
runs against any deployment with locust alone (and scikit-image for the test photo).
"""

from __future__ import annotations

import io
import json
import os
import random
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, TextIO

from locust import FastHttpUser, between, constant_throughput, events, task
from locust.env import Environment
from urllib3.filepost import encode_multipart_formdata

JOBS = "/v1/jobs"
TERMINAL = ("succeeded", "failed")
#: A 429/503 without Retry-After (an edge proxy's own refusal) waits this long.
DEFAULT_BACKOFF_S = 1.0


def _env_float(name: str, default: float) -> float:
    """A float from the environment, or the default when unset or empty."""
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


@dataclass(frozen=True)
class Settings:
    """What the users do, from ``LOADTEST_*`` environment variables."""

    model: str
    scale: int
    output_format: str
    sizes: tuple[int, ...]
    poll_interval: float
    job_timeout: float
    delete: bool
    think_max: float
    upload_rate: float
    max_backoff: float
    ledger: str | None

    @classmethod
    def from_env(cls) -> Settings:
        """Read the settings once, at import."""
        sizes = os.environ.get("LOADTEST_SIZES", "48,64,96")
        return cls(
            model=os.environ.get("LOADTEST_MODEL", "realesr-animevideov3"),
            scale=int(os.environ.get("LOADTEST_SCALE", "2")),
            output_format=os.environ.get("LOADTEST_FORMAT", "png"),
            sizes=tuple(int(s) for s in sizes.split(",") if s.strip()),
            poll_interval=_env_float("LOADTEST_POLL_INTERVAL", 0.25),
            job_timeout=_env_float("LOADTEST_JOB_TIMEOUT", 120.0),
            delete=os.environ.get("LOADTEST_DELETE", "1").lower() not in ("0", "false", "no"),
            think_max=_env_float("LOADTEST_THINK_MAX", 0.5),
            upload_rate=_env_float("LOADTEST_UPLOAD_RATE", 1.0),
            max_backoff=_env_float("LOADTEST_MAX_BACKOFF", 120.0),
            ledger=os.environ.get("LOADTEST_LEDGER") or None,
        )


SETTINGS = Settings.from_env()


def make_images(sizes: tuple[int, ...]) -> list[tuple[int, bytes]]:
    """scikit-image's astronaut, resized to each edge, as PNG files: (edge, bytes)."""
    from PIL import Image
    from skimage import data

    photo = Image.fromarray(data.astronaut())
    images = []
    for edge in sizes:
        buf = io.BytesIO()
        photo.resize((edge, edge), Image.Resampling.LANCZOS).save(buf, "PNG")
        images.append((edge, buf.getvalue()))
    return images


#: Generated once, when locust imports this file.
IMAGES = make_images(SETTINGS.sizes)


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR, or None when ``data`` is not a PNG."""
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def multipart(fields: dict[str, str], image: bytes, filename: str) -> tuple[bytes, str]:
    """A multipart/form-data body with the fields and one ``file`` part (urllib3's encoder,
    the one requests uses); returns (body, content type)."""
    parts: dict[str, Any] = dict(fields)
    parts["file"] = (filename, image, "image/png")
    return encode_multipart_formdata(parts)


def backoff(status: int, headers: Any) -> float | None:
    """How long to wait after a refusal (429 or 503): its Retry-After, honoured up to
    LOADTEST_MAX_BACKOFF; a refusal without one (an edge proxy's) waits 1 s. None: not a
    refusal."""
    if status not in (429, 503):
        return None
    wait = retry_after(headers)
    return min(wait if wait is not None else DEFAULT_BACKOFF_S, SETTINGS.max_backoff)


def retry_after(headers: Any) -> float | None:
    """The Retry-After header in seconds, or None when absent or not a number."""
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class Ledger:
    """Counters for the summary, and the JSON-lines record the harness reads (if enabled)."""

    def __init__(self, path: str | None) -> None:
        self.statuses: Counter[str] = Counter()
        self.accepted = 0
        self.refused = 0
        self.finished: Counter[str] = Counter()
        self.completion_ms: list[float] = []
        self._lock = threading.Lock()
        self._file: TextIO | None = open(path, "a", buffering=1) if path else None  # noqa: SIM115

    def write(self, event: str, **fields: Any) -> None:
        """Append one event (with the wall-clock time) to the ledger file."""
        if self._file is not None:
            line = json.dumps({"e": event, "t": time.time(), **fields})
            with self._lock:
                self._file.write(line + "\n")

    def request(self, name: str, status: int, ms: float) -> None:
        """Count one HTTP answer (status 0: no answer, a connection error)."""
        self.statuses[str(status)] += 1
        self.write("req", name=name, status=status, ms=round(ms, 3))

    def close(self) -> None:
        """Flush and close the file."""
        if self._file is not None:
            self._file.close()
            self._file = None


LEDGER = Ledger(SETTINGS.ledger)


class JobFailedError(Exception):
    """A job that the service accepted ended as failed (reported as a JOB failure)."""


class _Base(FastHttpUser):
    """Upload helpers shared by both users."""

    abstract = True

    def upload(self) -> tuple[dict[str, Any], float, int] | None:
        """POST one image; (accept body, start time, edge) on 202, else None (after back-off)."""
        edge, image = random.choice(IMAGES)
        fields = {
            "model": SETTINGS.model,
            "scale": str(SETTINGS.scale),
            "output_format": SETTINGS.output_format,
        }
        body, ctype = multipart(fields, image, f"astronaut-{edge}.png")
        name = f"POST {JOBS}"
        started = time.time()
        t0 = time.perf_counter()
        # geventhttpclient sends bytes as they are (the annotation says str | dict).
        with self.client.request(
            "POST",
            JOBS,
            name=name,
            data=body,  # type: ignore[arg-type]
            headers={"Content-Type": ctype},
            catch_response=True,
        ) as resp:
            ms = (time.perf_counter() - t0) * 1000
            status = resp.status_code or 0
            LEDGER.request(name, status, ms)
            if status == 202:
                try:
                    job = json.loads(resp.content or b"")
                    job_id, token = job["id"], job["token"]
                except (ValueError, KeyError, TypeError):
                    resp.failure("202 without an id and a token")
                    return None
                LEDGER.accepted += 1
                LEDGER.write("accepted", id=job_id, token=token, started=started, edge=edge, ms=ms)
                resp.success()
                return job, started, edge
            wait = backoff(status, resp.headers)
            if wait is not None:
                LEDGER.refused += 1
                LEDGER.write(
                    "refused", status=status, retry_after=retry_after(resp.headers), waited=wait
                )
                resp.failure(f"refused: {status}")
                self.pause(wait)
            else:
                resp.failure(f"{status}: {(resp.text or '')[:200]}")
        return None

    def pause(self, seconds: float) -> None:
        """Sleep cooperatively (gevent-patched)."""
        time.sleep(seconds)


class JourneyUser(_Base):
    """A person: upload, poll until finished, download the result, delete the job."""

    weight = 1
    fixed_count = int(os.environ.get("LOADTEST_JOURNEY_USERS") or 0)
    wait_time = between(0.0, SETTINGS.think_max)

    @task
    def journey(self) -> None:
        """One whole journey; every step is recorded under its route name."""
        accepted = self.upload()
        if accepted is None:
            return
        job, started, edge = accepted
        job_id = job["id"]
        auth = {"Authorization": f"Bearer {job['token']}"}
        state = self.poll(job_id, auth, started)
        if state is None:
            return
        if state["status"] == "succeeded":
            self.download(job_id, auth, state, edge)
        if SETTINGS.delete:
            self.delete(job_id, auth)

    def poll(self, job_id: str, auth: dict[str, str], started: float) -> dict[str, Any] | None:
        """Poll the status until the job finishes or the bound passes; the final state or None."""
        name = f"GET {JOBS}/[id]"
        deadline = time.monotonic() + SETTINGS.job_timeout
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            with self.client.request(
                "GET", f"{JOBS}/{job_id}", name=name, headers=auth, catch_response=True
            ) as resp:
                status = resp.status_code or 0
                LEDGER.request(name, status, (time.perf_counter() - t0) * 1000)
                if status == 200:
                    state: dict[str, Any] = json.loads(resp.content or b"{}")
                    if state.get("status") in TERMINAL:
                        self.finished(job_id, state, started)
                        return state
                elif status == 404:
                    resp.failure("an accepted job is gone (404)")
                    LEDGER.write("vanished", id=job_id)
                    return None
                else:
                    resp.failure(f"{status}: {(resp.text or '')[:200]}")
                    wait = backoff(status, resp.headers)
                    if wait is not None:
                        self.pause(wait)
                        continue
            self.pause(SETTINGS.poll_interval)
        LEDGER.write("poll_timeout", id=job_id)
        return None

    def finished(self, job_id: str, state: dict[str, Any], started: float) -> None:
        """Record the completion latency as a JOB entry and in the ledger."""
        latency_ms = (time.time() - started) * 1000
        status = state["status"]
        LEDGER.finished[status] += 1
        LEDGER.write("finished", id=job_id, status=status, latency_ms=latency_ms)
        error = None
        if status == "succeeded":
            LEDGER.completion_ms.append(latency_ms)
        else:
            code = (state.get("error") or {}).get("code", "unknown")
            error = JobFailedError(f"job failed: {code}")
        self.environment.events.request.fire(
            request_type="JOB",
            name=f"upload→{status}",
            response_time=latency_ms,
            response_length=int((state.get("result") or {}).get("bytes", 0)),
            exception=error,
            context={},
        )

    def download(self, job_id: str, auth: dict[str, str], state: dict[str, Any], edge: int) -> None:
        """GET the result and check its size (and a PNG's dimensions) against the status."""
        name = f"GET {JOBS}/[id]/result"
        t0 = time.perf_counter()
        with self.client.request(
            "GET", f"{JOBS}/{job_id}/result", name=name, headers=auth, catch_response=True
        ) as resp:
            status = resp.status_code or 0
            LEDGER.request(name, status, (time.perf_counter() - t0) * 1000)
            if status != 200:
                resp.failure(f"{status}: {(resp.text or '')[:200]}")
                return
            data = resp.content or b""
            expected = (state.get("result") or {}).get("bytes")
            dims = png_size(data)
            want = edge * SETTINGS.scale
            if expected is not None and len(data) != expected:
                resp.failure(f"result has {len(data)} bytes, status said {expected}")
            elif SETTINGS.output_format == "png" and dims != (want, want):
                resp.failure(f"result is {dims}, expected {(want, want)}")

    def delete(self, job_id: str, auth: dict[str, str]) -> None:
        """DELETE the job (the user's right to erase at once)."""
        name = f"DELETE {JOBS}/[id]"
        LEDGER.write("delete_sent", id=job_id)
        t0 = time.perf_counter()
        with self.client.request(
            "DELETE", f"{JOBS}/{job_id}", name=name, headers=auth, catch_response=True
        ) as resp:
            status = resp.status_code or 0
            LEDGER.request(name, status, (time.perf_counter() - t0) * 1000)
            if status == 200:
                LEDGER.write("deleted", id=job_id)
            else:
                resp.failure(f"{status}: {(resp.text or '')[:200]}")


class UploadOnlyUser(_Base):
    """Open-loop uploads at a fixed rate: load on the accept path; jobs drain afterwards."""

    weight = 1
    fixed_count = int(os.environ.get("LOADTEST_UPLOAD_ONLY_USERS") or 0)
    wait_time = constant_throughput(SETTINGS.upload_rate)

    @task
    def upload_only(self) -> None:
        """Upload one image and move on."""
        self.upload()


@events.test_start.add_listener
def _on_start(environment: Environment, **_: Any) -> None:
    """Mark the start of the load window (and the settings) in the ledger."""
    LEDGER.write("test_start", settings=SETTINGS.__dict__ | {"sizes": list(SETTINGS.sizes)})


@events.cpu_warning.add_listener
def _on_cpu_warning(environment: Environment, cpu_usage: float, **_: Any) -> None:
    """Locust's own CPU is saturated: its timings are suspect; the harness reports it."""
    LEDGER.write("cpu_warning", cpu_usage=cpu_usage)


@events.test_stop.add_listener
def _on_stop(environment: Environment, **_: Any) -> None:
    """Mark the end of the load window; print a one-line summary (useful without the harness)."""
    LEDGER.write("test_stop")
    done = sorted(LEDGER.completion_ms)
    p50 = done[len(done) // 2] / 1000 if done else float("nan")
    print(
        f"loadtest: accepted {LEDGER.accepted}, refused {LEDGER.refused}, "
        f"finished {dict(LEDGER.finished)}, completion p50 {p50:.2f} s, "
        f"HTTP statuses {dict(sorted(LEDGER.statuses.items()))}",
        flush=True,
    )


@events.quit.add_listener
def _on_quit(**_: Any) -> None:
    """Close the ledger."""
    LEDGER.close()
