"""Signing webhook bodies, and checking a signature the way a receiver should.

The scheme is Stripe's: the header ``PicUpscaler-Signature: t=<unix seconds>,v1=<hex>``
carries the time of signing and ``HMAC-SHA256(secret, "<t>.<body>")``. The time inside the
signed text lets a receiver refuse replays of an old delivery (five minutes by default); the
``v1=`` label leaves room for another scheme later, and several ``v1=`` entries may be sent
while a secret is rotated. Receivers verify over the raw body bytes, before parsing them.
"""

from __future__ import annotations

import hashlib
import hmac
import time

#: The request header that carries the signature.
SIGNATURE_HEADER = "PicUpscaler-Signature"
#: A signature older (or newer) than this is refused by :func:`verify_signature` by default.
DEFAULT_TOLERANCE_SECONDS = 300


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def signature(body: bytes, secret: str | bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(_key(secret), signed, hashlib.sha256).hexdigest()


def signature_header(body: bytes, secret: str | bytes, timestamp: int | None = None) -> str:
    """The value of :data:`SIGNATURE_HEADER` for ``body`` signed now (or at ``timestamp``)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={signature(body, secret, t)}"


def verify_signature(
    body: bytes,
    header: str | None,
    secret: str | bytes,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """True when ``header`` signs exactly ``body`` with ``secret``, within the tolerance.

    For receivers (and tests): pass the raw request body, the header's value and the shared
    secret. Any ``v1`` entry may match (rotation); the comparison is constant-time.
    """
    if not header:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        return False
    expected = signature(body, secret, timestamp)
    return any(c.isascii() and hmac.compare_digest(expected, c) for c in candidates)
