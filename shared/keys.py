"""The storage layout: ``jobs/YYYY/MM/DD/HH/<job_id>/{manifest.json,input,result}``.

Keys are grouped by upload hour so that a sweep lists only the hours that can hold expired jobs,
and a job's expiry is computable from its key alone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared import ids

JOBS_ROOT = "jobs/"
MANIFEST = "manifest.json"
INPUT = "input"
RESULT = "result"


def hour_prefix(moment: datetime) -> str:
    """Return the key prefix of the upload hour containing ``moment``."""
    return moment.astimezone(UTC).strftime(f"{JOBS_ROOT}%Y/%m/%d/%H/")


def job_prefix(job_id: str) -> str | None:
    """Return the prefix under which ``job_id`` keeps its objects, or None for a malformed id."""
    created = ids.created_at(job_id)
    if created is None:
        return None
    return f"{hour_prefix(created)}{job_id}/"


def job_key(job_id: str, name: str) -> str:
    """Return the key of object ``name`` (manifest, input, result) of a well-formed job id."""
    prefix = job_prefix(job_id)
    if prefix is None:
        raise ValueError("malformed job id")
    return prefix + name


def parse_hour_prefix(prefix: str) -> datetime | None:
    """Return the start of the hour that an hour prefix (``jobs/Y/M/D/H/``) names."""
    try:
        return datetime.strptime(prefix, f"{JOBS_ROOT}%Y/%m/%d/%H/").replace(tzinfo=UTC)
    except ValueError:
        return None


def job_id_of(key: str) -> str | None:
    """Return the job id that ``key`` belongs to, or None for a key outside the layout."""
    parts = key.split("/")
    if len(parts) < 7 or parts[0] != JOBS_ROOT.rstrip("/"):
        return None
    job_id = parts[5]
    return job_id if ids.created_at(job_id) is not None else None


def hour_may_hold_expired(hour_start: datetime, now: datetime, expiry: timedelta) -> bool:
    """True when some job uploaded in the hour starting at ``hour_start`` is past its expiry."""
    return hour_start + expiry <= now


def is_due(job_id: str, now: datetime, after: timedelta) -> bool:
    """True when the job was uploaded at least ``after`` before ``now`` (from its id alone)."""
    created = ids.created_at(job_id)
    return created is not None and created + after <= now
