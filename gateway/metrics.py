"""Prometheus metrics of the gateway: aggregate counters only, no per-person labels."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

JOBS_ACCEPTED = Counter(
    "picupscaler_jobs_accepted_total", "Jobs accepted by the gateway.", ["model", "scale"]
)
JOBS_DELETED_BY_USER = Counter(
    "picupscaler_jobs_deleted_by_user_total", "Jobs deleted at once on the user's request."
)
DEPENDENCY_UNAVAILABLE = Counter(
    "picupscaler_dependency_unavailable_total",
    "Requests answered 503 because storage or the broker was down.",
    ["dependency"],
)
REQUEST_SECONDS = Histogram(
    "picupscaler_http_request_duration_seconds",
    "HTTP request duration by route template.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
