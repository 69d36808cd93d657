"""Envelope encryption of job images, so that deleting a manifest crypto-shreds the images.

Every job gets a random 256-bit data key. Its images are sealed with AES-256-GCM under that key
(the job id and object name are authenticated as associated data, so a sealed object cannot be
swapped between jobs or between input and result). The data key is stored only in the job's
manifest, wrapped by a service key (KEK) named by a key id, so service keys can be rotated:
new jobs use the active key, old ones still unwrap with theirs. Once the manifest is deleted,
any leftover copy of an image (a lagging replica, a backup) cannot be decrypted by anyone.

Objects are sealed in segments of 1 MiB (format ``PUE2``), each with its own nonce (a random
prefix and the segment's number) and the number and a last-segment flag in its associated
data, the construction of Hoang, Reyhanitabar, Rogaway and Vizár's STREAM: segments cannot be
reordered, dropped or cut off unnoticed, and a result can be decrypted while it streams from
storage to the client, one segment in memory instead of two whole copies. Objects of the
earlier one-piece format (``PUE1``) still open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import BaseModel

from shared.errors import PicUpscalerError
from shared.settings import CryptoSettings

_MAGIC_V1 = b"PUE1"  # PicUpscaler encrypted object, one piece
_MAGIC = b"PUE2"  # PicUpscaler encrypted object, segmented
_NONCE = 12
_PREFIX = 8  # random nonce prefix; the last 4 bytes number the segment
_TAG = 16
#: Plaintext bytes per segment: the memory a streaming reader holds.
SEGMENT = 1 << 20
_HEADER = len(_MAGIC) + 4 + _PREFIX


class DecryptionFailed(PicUpscalerError):
    """Raised when a sealed object or wrapped key does not open (wrong key, edited, shredded)."""


class WrappedKey(BaseModel):
    """A data key wrapped by a service key, as kept in the manifest."""

    key_id: str
    nonce: str
    ciphertext: str


def parse_key_lines(text: str, *, what: str) -> dict[str, bytes]:
    """Parse ``key_id:base64(32 bytes)`` items separated by commas or newlines (``#`` starts a
    comment line); the service keys here and the audit signing keys use the same format."""
    keys: dict[str, bytes] = {}
    for item in text.replace(",", "\n").splitlines():
        item = item.strip()
        if not item or item.startswith("#"):
            continue
        key_id, _, encoded = item.partition(":")
        raw = base64.b64decode(encoded.strip(), validate=True)
        if not key_id.strip() or len(raw) != 32:
            raise ValueError(f"{what} {key_id!r} must be 32 bytes of base64")
        keys[key_id.strip()] = raw
    return keys


class Seal(BaseModel):
    """A MAC over a manifest's fixed part, under a key derived from a service key."""

    key_id: str
    mac: str


class KeyRing:
    """The service keys a process knows; one of them is active for wrapping."""

    def __init__(self, keys: dict[str, bytes], active: str | None = None) -> None:
        if not keys:
            raise ValueError("no service key configured (CRYPTO_KEYS or CRYPTO_KEY_FILE)")
        self._keys = dict(keys)
        self.active = active or next(iter(keys))
        if self.active not in self._keys:
            raise ValueError(f"active service key {self.active!r} is not configured")

    @classmethod
    def from_settings(cls, settings: CryptoSettings) -> KeyRing:
        """Load keys from the environment or file; create a local key file if allowed."""
        text = ""
        if settings.keys is not None:
            text = settings.keys.get_secret_value()
        elif settings.key_file is not None:
            text = settings.key_file.read_text()
        elif settings.generate_local_key:
            text = local_key_file(settings.local_key_file, _new_service_key_line)
        return cls(parse_key_lines(text, what="service key"), settings.active_key_id)

    def wrap(self, data_key: bytes, *, job_id: str) -> WrappedKey:
        """Wrap ``data_key`` for ``job_id`` with the active service key."""
        nonce = os.urandom(_NONCE)
        sealed = AESGCM(self._keys[self.active]).encrypt(nonce, data_key, job_id.encode())
        return WrappedKey(
            key_id=self.active,
            nonce=base64.b64encode(nonce).decode(),
            ciphertext=base64.b64encode(sealed).decode(),
        )

    def seal(self, data: bytes) -> Seal:
        """MAC ``data`` with the active service key (a key derived for this use only)."""
        mac = hmac.new(self._mac_key(self.active), data, hashlib.sha256).digest()
        return Seal(key_id=self.active, mac=base64.b64encode(mac).decode())

    def verify_seal(self, seal: Seal, data: bytes) -> bool:
        """True when ``seal`` was made over ``data`` by a service key this ring holds."""
        if seal.key_id not in self._keys:
            return False
        expected = hmac.new(self._mac_key(seal.key_id), data, hashlib.sha256).digest()
        try:
            presented = base64.b64decode(seal.mac, validate=True)
        except ValueError:
            return False
        return hmac.compare_digest(expected, presented)

    def _mac_key(self, key_id: str) -> bytes:
        return self._derived(key_id, b"picupscaler manifest seal")

    def token_key(self, key_id: str) -> bytes:
        """The key idempotent requests' tokens are computed with (gateway.idempotency)."""
        return self._derived(key_id, b"picupscaler idempotent token")

    def _derived(self, key_id: str, purpose: bytes) -> bytes:
        # Never the wrapping key itself: HKDF gives an independent key for each use.
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
            self._keys[key_id]
        )

    def unwrap(self, wrapped: WrappedKey, *, job_id: str) -> bytes:
        """Recover a job's data key; DecryptionFailed if the key id is unknown or data altered."""
        kek = self._keys.get(wrapped.key_id)
        if kek is None:
            raise DecryptionFailed(f"service key {wrapped.key_id!r} is not configured")
        try:
            return AESGCM(kek).decrypt(
                base64.b64decode(wrapped.nonce),
                base64.b64decode(wrapped.ciphertext),
                job_id.encode(),
            )
        except (InvalidTag, ValueError) as exc:
            raise DecryptionFailed("the data key does not unwrap") from exc


def new_data_key() -> bytes:
    """A fresh random 256-bit data key."""
    return AESGCM.generate_key(bit_length=256)


def seal(data_key: bytes, plaintext: bytes, *, job_id: str, name: str) -> bytes:
    """Encrypt an object of a job (``name``: input, result) for storage, in segments."""
    return b"".join(seal_stream(data_key, plaintext, job_id=job_id, name=name))


def sealed_size(plaintext_size: int) -> int:
    """The size of the sealed form of ``plaintext_size`` bytes."""
    return _HEADER + max(1, -(-plaintext_size // SEGMENT)) * _TAG + plaintext_size


def seal_stream(
    data_key: bytes, plaintext: bytes | bytearray | memoryview, *, job_id: str, name: str
) -> Iterator[bytes]:
    """The sealed object in pieces (the header, then each segment), made as they are read:
    an upload can go to storage holding one segment of ciphertext, not a whole copy."""
    view = memoryview(plaintext)
    prefix = os.urandom(_PREFIX)
    aead = AESGCM(data_key)
    count = max(1, -(-len(view) // SEGMENT))
    yield _MAGIC + SEGMENT.to_bytes(4, "big") + prefix
    for index in range(count):
        chunk = bytes(view[index * SEGMENT : (index + 1) * SEGMENT])
        yield _seal_segment(aead, prefix, index, index == count - 1, chunk, job_id, name)


def unseal(data_key: bytes, blob: bytes, *, job_id: str, name: str) -> bytes:
    """Decrypt an object sealed by :func:`seal`; DecryptionFailed if anything does not match."""
    if blob.startswith(_MAGIC_V1):
        return _unseal_v1(data_key, blob, job_id=job_id, name=name)
    return b"".join(unseal_stream(data_key, [blob], job_id=job_id, name=name))


def unseal_stream(
    data_key: bytes, chunks: Iterable[bytes], *, job_id: str, name: str
) -> Iterator[bytes]:
    """Decrypt a segmented object as its bytes arrive, yielding the plaintext segment by
    segment; DecryptionFailed (possibly after some output) if anything does not match."""
    aead = AESGCM(data_key)
    buffer = bytearray()
    stream = iter(chunks)
    while len(buffer) < _HEADER:
        head = next(stream, None)
        if head is None:
            raise DecryptionFailed("not a sealed object")
        buffer += head
    if bytes(buffer[: len(_MAGIC)]) != _MAGIC:
        raise DecryptionFailed("not a sealed object")
    size = int.from_bytes(buffer[len(_MAGIC) : len(_MAGIC) + 4], "big") + _TAG
    prefix = bytes(buffer[len(_MAGIC) + 4 : _HEADER])
    del buffer[:_HEADER]
    index = 0
    chunk: bytes | None = b""
    while chunk is not None:
        buffer += chunk
        # A segment is known not to be the last one only once bytes follow it.
        while len(buffer) > size:
            yield _open_segment(aead, prefix, index, False, bytes(buffer[:size]), job_id, name)
            del buffer[:size]
            index += 1
        chunk = next(stream, None)
    yield _open_segment(aead, prefix, index, True, bytes(buffer), job_id, name)


def _aad(job_id: str, name: str, index: int, last: bool) -> bytes:
    return f"{job_id}/{name}|{index}|{int(last)}".encode()


def _seal_segment(
    aead: AESGCM, prefix: bytes, index: int, last: bool, chunk: bytes, job_id: str, name: str
) -> bytes:
    return aead.encrypt(prefix + index.to_bytes(4, "big"), chunk, _aad(job_id, name, index, last))


def _open_segment(
    aead: AESGCM, prefix: bytes, index: int, last: bool, chunk: bytes, job_id: str, name: str
) -> bytes:
    try:
        return aead.decrypt(
            prefix + index.to_bytes(4, "big"), chunk, _aad(job_id, name, index, last)
        )
    except (InvalidTag, ValueError) as exc:
        raise DecryptionFailed("the object does not decrypt") from exc


def _unseal_v1(data_key: bytes, blob: bytes, *, job_id: str, name: str) -> bytes:
    """The one-piece format written before segments (objects stored at most a day)."""
    if len(blob) < len(_MAGIC_V1) + _NONCE + _TAG:
        raise DecryptionFailed("not a sealed object")
    nonce = blob[len(_MAGIC_V1) : len(_MAGIC_V1) + _NONCE]
    aad = f"{job_id}/{name}".encode()
    try:
        return AESGCM(data_key).decrypt(nonce, blob[len(_MAGIC_V1) + _NONCE :], aad)
    except InvalidTag as exc:
        raise DecryptionFailed("the object does not decrypt") from exc


def local_key_file(path: Path, new_line: Callable[[], str]) -> str:
    """Read an all-in-one key file, creating it (0600, in a 0700 folder) with ``new_line()``
    on first use; two processes starting at once end up with the same key (O_EXCL)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        line = new_line() + "\n"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process of this installation created it first
            return path.read_text()
        with os.fdopen(fd, "w") as fh:
            fh.write(line)
    return path.read_text()


def _new_service_key_line() -> str:
    return f"local-{secrets.token_hex(4)}:{base64.b64encode(os.urandom(32)).decode()}"
