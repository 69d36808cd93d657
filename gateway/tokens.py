"""Job access tokens: ``<job id>.<256-bit secret>``, returned once and stored only hashed.

Carrying the (non-secret) job id in the token lets a person who kept only tokens find their
jobs again, e.g. for the privacy export, while the server still keeps no token at all.
"""

from __future__ import annotations

import secrets

from shared import ids


def new_token(job_id: str) -> str:
    """A fresh token for ``job_id``."""
    return f"{job_id}.{secrets.token_urlsafe(32)}"


def job_id_of_token(token: str) -> str | None:
    """The job id a token names, or None when it is not a well-formed token."""
    job_id, dot, secret = token.partition(".")
    if not dot or len(secret) < 32 or ids.created_at(job_id) is None:
        return None
    return job_id
