"""Envelope encryption of job images, so that deleting a manifest crypto-shreds the images.

Every job gets a random 256-bit data key. Its images are sealed with AES-256-GCM under that key
(the job id and object name are authenticated as associated data, so a sealed object cannot be
swapped between jobs or between input and result). The data key is stored only in the job's
manifest, wrapped by a service key (KEK) named by a key id, so service keys can be rotated:
new jobs use the active key, old ones still unwrap with theirs. Once the manifest is deleted,
any leftover copy of an image (a lagging replica, a backup) cannot be decrypted by anyone.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel

from shared.errors import PicUpscalerError
from shared.settings import CryptoSettings

_MAGIC = b"PUE1"  # PicUpscaler encrypted object, format 1
_NONCE = 12


class DecryptionFailed(PicUpscalerError):
    """Raised when a sealed object or wrapped key does not open (wrong key, edited, shredded)."""


class WrappedKey(BaseModel):
    """A data key wrapped by a service key, as kept in the manifest."""

    key_id: str
    nonce: str
    ciphertext: str


def _parse_keys(text: str) -> dict[str, bytes]:
    keys: dict[str, bytes] = {}
    for item in text.replace(",", "\n").splitlines():
        item = item.strip()
        if not item or item.startswith("#"):
            continue
        key_id, _, encoded = item.partition(":")
        raw = base64.b64decode(encoded.strip(), validate=True)
        if not key_id or len(raw) != 32:
            raise ValueError(f"service key {key_id!r} must be 32 bytes of base64")
        keys[key_id.strip()] = raw
    return keys


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
            text = _local_key(settings.local_key_file)
        return cls(_parse_keys(text), settings.active_key_id)

    def wrap(self, data_key: bytes, *, job_id: str) -> WrappedKey:
        """Wrap ``data_key`` for ``job_id`` with the active service key."""
        nonce = os.urandom(_NONCE)
        sealed = AESGCM(self._keys[self.active]).encrypt(nonce, data_key, job_id.encode())
        return WrappedKey(
            key_id=self.active,
            nonce=base64.b64encode(nonce).decode(),
            ciphertext=base64.b64encode(sealed).decode(),
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
    """Encrypt an object of a job (``name``: input, result) for storage."""
    nonce = os.urandom(_NONCE)
    aad = f"{job_id}/{name}".encode()
    return _MAGIC + nonce + AESGCM(data_key).encrypt(nonce, plaintext, aad)


def unseal(data_key: bytes, blob: bytes, *, job_id: str, name: str) -> bytes:
    """Decrypt an object sealed by :func:`seal`; DecryptionFailed if anything does not match."""
    if not blob.startswith(_MAGIC) or len(blob) < len(_MAGIC) + _NONCE + 16:
        raise DecryptionFailed("not a sealed object")
    nonce = blob[len(_MAGIC) : len(_MAGIC) + _NONCE]
    aad = f"{job_id}/{name}".encode()
    try:
        return AESGCM(data_key).decrypt(nonce, blob[len(_MAGIC) + _NONCE :], aad)
    except InvalidTag as exc:
        raise DecryptionFailed("the object does not decrypt") from exc


def _local_key(path: Path) -> str:
    """Read the all-in-one key file, creating it (0600) with a random key on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        line = f"local-{secrets.token_hex(4)}:{base64.b64encode(os.urandom(32)).decode()}\n"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process of this installation created it first
            return path.read_text()
        with os.fdopen(fd, "w") as fh:
            fh.write(line)
    return path.read_text()
