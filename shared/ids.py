"""Job identifiers that carry their creation time, so storage keys and expiry follow from the id.

The layout is that of a UUIDv7: 48 bits of Unix milliseconds, then random bits, as 32 hex digits.
An id is not a secret (the per-job token is); it only has to be unique and time-ordered.
"""

from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime

_ID_RE = re.compile(r"^[0-9a-f]{32}$")


def new_job_id(now_ms: int | None = None) -> str:
    """Return a new job id whose first 12 hex digits are the creation time in Unix ms."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = secrets.randbits(80)
    value = (ms << 80) | rand
    # Set the UUID version (7) and variant bits, so the id also parses as a standard UUID.
    value = (value & ~(0xF << 76)) | (0x7 << 76)
    value = (value & ~(0x3 << 62)) | (0x2 << 62)
    return f"{value:032x}"


def created_at(job_id: str) -> datetime | None:
    """Return the creation time encoded in ``job_id``, or None when it is not a job id."""
    if not _ID_RE.match(job_id) or job_id[12] != "7":
        return None
    ms = int(job_id[:12], 16)
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
