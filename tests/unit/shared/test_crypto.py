"""Envelope encryption: per-job data keys, wrapped by rotatable service keys."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from shared.crypto import (
    CryptoSettings,
    DecryptionFailed,
    KeyRing,
    new_data_key,
    seal,
    unseal,
)


def key_line(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


def test_seal_roundtrip_and_binding_to_job_and_name() -> None:
    key = new_data_key()
    blob = seal(key, b"image bytes", job_id="job-a", name="input")
    assert b"image bytes" not in blob
    assert unseal(key, blob, job_id="job-a", name="input") == b"image bytes"
    for job_id, name in (("job-b", "input"), ("job-a", "result")):
        with pytest.raises(DecryptionFailed):
            unseal(key, blob, job_id=job_id, name=name)
    with pytest.raises(DecryptionFailed):
        unseal(new_data_key(), blob, job_id="job-a", name="input")
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(DecryptionFailed):
        unseal(key, tampered, job_id="job-a", name="input")


def test_rotation_old_jobs_unwrap_new_jobs_use_the_active_key() -> None:
    old_line, new_line = key_line("k1"), key_line("k2")
    before = KeyRing.from_settings(CryptoSettings(keys=old_line))
    data_key = new_data_key()
    wrapped_old = before.wrap(data_key, job_id="j")
    after = KeyRing.from_settings(CryptoSettings(keys=f"{new_line},{old_line}"))
    assert after.active == "k2"
    assert after.unwrap(wrapped_old, job_id="j") == data_key
    assert after.wrap(data_key, job_id="j").key_id == "k2"
    with pytest.raises(DecryptionFailed):
        after.unwrap(wrapped_old, job_id="another-job")
    retired = KeyRing.from_settings(CryptoSettings(keys=new_line))
    with pytest.raises(DecryptionFailed):
        retired.unwrap(wrapped_old, job_id="j")


def test_local_key_file_is_created_once_and_private(tmp_path: Path) -> None:
    settings = CryptoSettings(local_key_file=tmp_path / "keys" / "service.key")
    first = KeyRing.from_settings(settings)
    second = KeyRing.from_settings(settings)
    assert first.active == second.active
    wrapped = first.wrap(b"k" * 32, job_id="j")
    assert second.unwrap(wrapped, job_id="j") == b"k" * 32
    assert (tmp_path / "keys" / "service.key").stat().st_mode & 0o077 == 0


def test_bad_key_configuration_is_refused() -> None:
    with pytest.raises(ValueError):
        KeyRing.from_settings(CryptoSettings(keys="k1:c2hvcnQ=", generate_local_key=False))
    with pytest.raises(ValueError):
        KeyRing({}, None)
    with pytest.raises(ValueError):
        KeyRing.from_settings(CryptoSettings(keys=key_line("k1"), active_key_id="k9"))


def test_segments_stream_in_any_chunking_and_cannot_be_cut_or_reordered() -> None:
    from shared.crypto import SEGMENT, unseal_stream

    key = new_data_key()
    plain = os.urandom(2 * SEGMENT + 12345)
    blob = seal(key, plain, job_id="job", name="result")
    for size in (1, 7, 4096, SEGMENT + 16, len(blob)):
        chunks = [blob[i : i + size] for i in range(0, len(blob), size)]
        parts = list(unseal_stream(key, chunks, job_id="job", name="result"))
        assert b"".join(parts) == plain and len(parts) == 3
    header, seg = 16, SEGMENT + 16
    first, second = blob[header : header + seg], blob[header + seg : header + 2 * seg]
    attacks = {
        "cut after a whole segment": blob[: header + 2 * seg],
        "last segment dropped and the rest kept": blob[: header + seg],
        "two segments swapped": blob[:header] + second + first + blob[header + 2 * seg :],
        "one byte short": blob[:-1],
    }
    for what, forged in attacks.items():
        with pytest.raises(DecryptionFailed):
            unseal(key, forged, job_id="job", name="result")
            pytest.fail(what)


def test_objects_of_the_one_piece_format_still_open() -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key, nonce = new_data_key(), os.urandom(12)
    old = b"PUE1" + nonce + AESGCM(key).encrypt(nonce, b"yesterday's upload", b"job/input")
    assert unseal(key, old, job_id="job", name="input") == b"yesterday's upload"
    assert unseal(key, seal(key, b"", job_id="j", name="n"), job_id="j", name="n") == b""
