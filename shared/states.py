"""The states of a job and the transitions between them: the job lifecycle, declared once.

::

    queued ──► running ──► succeeded
      │          │  ▲ │
      │          │  └─┘ (progress, another attempt; back to queued on a hand-back)
      │          └──────► failed
      └──────────────────► failed
    any of them ─────────► deleted   (terminal: nothing leaves it)

:mod:`shared.lifecycle` applies these rules with compare-and-set writes of the manifest; this
module only says what is allowed, so that the gateway, the worker and the janitor cannot
disagree about it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class JobStatus(StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DELETED = "deleted"

    @property
    def finished(self) -> bool:
        """True once no worker will process the job any more."""
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.DELETED)


#: Allowed next states for each state. Staying in ``running`` records progress or a new
#: attempt; ``running → queued`` hands a job back (a worker shutting down mid-job).
TRANSITIONS: Mapping[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.FAILED, JobStatus.DELETED}),
    JobStatus.RUNNING: frozenset(
        {
            JobStatus.RUNNING,
            JobStatus.QUEUED,
            JobStatus.SUCCEEDED,
            JobStatus.FAILED,
            JobStatus.DELETED,
        }
    ),
    JobStatus.SUCCEEDED: frozenset({JobStatus.DELETED}),
    JobStatus.FAILED: frozenset({JobStatus.DELETED}),
    JobStatus.DELETED: frozenset(),
}


def allowed(current: JobStatus, target: JobStatus) -> bool:
    """True when a job in ``current`` may move to ``target``."""
    return target in TRANSITIONS[current]
