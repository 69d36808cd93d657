"""The webhook signature: Stripe's scheme, checked as a receiver would check it."""

from __future__ import annotations

import hashlib
import hmac

from shared.webhooks import SIGNATURE_HEADER, signature_header, verify_signature

SECRET = "whsec-test-0123456789abcdef"
BODY = b'{"id":"job","status":"succeeded"}'


def test_header_is_t_and_v1_over_timestamp_dot_body() -> None:
    header = signature_header(BODY, SECRET, timestamp=1_700_000_000)
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert SIGNATURE_HEADER == "PicUpscaler-Signature"


def test_a_fresh_signature_verifies() -> None:
    header = signature_header(BODY, SECRET, timestamp=1_700_000_000)
    assert verify_signature(BODY, header, SECRET, now=1_700_000_010)
    assert verify_signature(BODY, header, SECRET.encode(), now=1_700_000_010)


def test_any_change_breaks_it() -> None:
    header = signature_header(BODY, SECRET, timestamp=1_700_000_000)
    now = 1_700_000_010
    assert not verify_signature(BODY + b" ", header, SECRET, now=now)
    assert not verify_signature(BODY, header, SECRET + "x", now=now)
    moved = header.replace("t=1700000000", "t=1700000001")  # a replay with a new time
    assert not verify_signature(BODY, moved, SECRET, now=now)


def test_old_signatures_are_refused_as_replays() -> None:
    header = signature_header(BODY, SECRET, timestamp=1_700_000_000)
    assert not verify_signature(BODY, header, SECRET, now=1_700_000_000 + 301)
    assert verify_signature(BODY, header, SECRET, now=1_700_000_000 + 301, tolerance_seconds=600)
    assert not verify_signature(BODY, header, SECRET, now=1_700_000_000 - 301)  # from the future


def test_any_v1_entry_may_match_during_rotation() -> None:
    header = signature_header(BODY, SECRET, timestamp=1_700_000_000)
    t, v1 = header.split(",")
    rotated = f"{t},v1={'0' * 64},{v1}"
    assert verify_signature(BODY, rotated, SECRET, now=1_700_000_000)


def test_malformed_headers_are_refused_not_raised() -> None:
    for header in (None, "", "v1=abc", "t=now,v1=abc", "t=1700000000", "t=1700000000,v1=é"):
        assert not verify_signature(BODY, header, SECRET, now=1_700_000_000)
