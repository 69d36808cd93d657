"""The worker's Prometheus metrics (aggregates only: model names and outcomes, never a job)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

JOBS_FINISHED = Counter(
    "picupscaler_jobs_finished_total", "Jobs finished by the worker.", ["model", "status"]
)
JOB_FAILURES = Counter(
    "picupscaler_job_failures_total", "Jobs that ended failed, by error code.", ["code"]
)
JOBS_DELETED_WHILE_RUNNING = Counter(
    "picupscaler_jobs_deleted_while_running_total",
    "Jobs the worker found deleted while processing them (it stopped and removed its writes).",
)
JOB_SECONDS = Histogram(
    "picupscaler_job_processing_seconds",
    "Seconds from the start of processing to the stored result.",
    ["model"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
)
