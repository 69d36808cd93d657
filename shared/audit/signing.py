"""Ed25519 keys of the audit log: services sign with private keys, auditors verify with public.

Key lines are ``key_id:base64(32 raw bytes)`` — the private seed for signing keys, the raw
public key for verify keys — the same shape as the service keys in :mod:`shared.crypto`, so
rotation works the same way: prepend a new signing key, publish its public key, keep the old
public key in ``AUDIT_VERIFY_KEYS`` as long as records signed by it are kept.
"""

from __future__ import annotations

import base64
import secrets
from typing import Literal, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from shared.audit.settings import AuditSettings
from shared.crypto import local_key_file, parse_key_lines

SignatureCheck = Literal["ok", "unsigned", "unknown_key", "bad_signature"]


class Signable(Protocol):
    """Anything with a key id, a signature and the message that signature covers."""

    key_id: str | None
    signature: str | None

    def signed_message(self) -> bytes: ...


def public_key_line(key_id: str, key: Ed25519PublicKey) -> str:
    """The ``key_id:base64`` line that publishes ``key`` for verifiers."""
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return f"{key_id}:{base64.b64encode(raw).decode()}"


def new_signing_key_line(key_id: str | None = None) -> str:
    """A fresh signing key as a ``key_id:base64(seed)`` line (for a Secret)."""
    seed = Ed25519PrivateKey.generate().private_bytes_raw()
    return f"{key_id or 'audit-' + secrets.token_hex(4)}:{base64.b64encode(seed).decode()}"


class SigningKeys:
    """The audit signing keys of one process; one of them is active."""

    def __init__(self, seeds: dict[str, bytes], active: str | None = None) -> None:
        if not seeds:
            raise ValueError("no audit signing key (AUDIT_SIGNING_KEYS or AUDIT_SIGNING_KEY_FILE)")
        self._keys = {k: Ed25519PrivateKey.from_private_bytes(v) for k, v in seeds.items()}
        self.active = active or next(iter(seeds))
        if self.active not in self._keys:
            raise ValueError(f"active audit signing key {self.active!r} is not configured")

    @classmethod
    def from_settings(cls, settings: AuditSettings) -> SigningKeys | None:
        """Load the keys from the environment or a file; create a local key file if allowed.

        None when no key is configured and none may be generated (an auditor's set-up: it
        verifies with public keys and writes nothing).
        """
        text = ""
        if settings.signing_keys is not None:
            text = settings.signing_keys.get_secret_value()
        elif settings.signing_key_file is not None:
            text = settings.signing_key_file.read_text()
        elif settings.generate_local_signing_key:
            text = local_key_file(settings.local_signing_key_file, _new_local_signing_key_line)
        else:
            return None
        return cls(parse_key_lines(text, what="audit signing key"), settings.active_signing_key_id)

    def sign(self, statement: Signable) -> None:
        """Sign ``statement`` in place with the active key."""
        statement.key_id = self.active
        statement.signature = base64.b64encode(
            self._keys[self.active].sign(statement.signed_message())
        ).decode()

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """The public halves, by key id."""
        return {k: v.public_key() for k, v in self._keys.items()}


class VerifyKeys:
    """Public keys whose signatures are accepted."""

    def __init__(self, keys: dict[str, Ed25519PublicKey]) -> None:
        self._keys = dict(keys)

    @classmethod
    def from_settings(cls, settings: AuditSettings, own: SigningKeys | None = None) -> VerifyKeys:
        """``AUDIT_VERIFY_KEYS`` / ``AUDIT_VERIFY_KEY_FILE`` plus this process's own keys."""
        text = settings.verify_keys or ""
        if settings.verify_key_file is not None:
            text += "\n" + settings.verify_key_file.read_text()
        keys = {
            k: Ed25519PublicKey.from_public_bytes(v)
            for k, v in parse_key_lines(text, what="audit verify key").items()
        }
        if own is not None:
            for key_id, public in own.public_keys().items():
                keys.setdefault(key_id, public)
        return cls(keys)

    def __len__(self) -> int:
        return len(self._keys)

    def lines(self) -> list[str]:
        """Every accepted key as a ``key_id:base64`` line."""
        return [public_key_line(k, v) for k, v in self._keys.items()]

    def check(self, statement: Signable) -> SignatureCheck:
        """Whether ``statement`` carries a valid signature by an accepted key."""
        if not statement.signature or not statement.key_id:
            return "unsigned"
        key = self._keys.get(statement.key_id)
        if key is None:
            return "unknown_key"
        try:
            key.verify(base64.b64decode(statement.signature), statement.signed_message())
        except (InvalidSignature, ValueError):
            return "bad_signature"
        return "ok"


def _new_local_signing_key_line() -> str:
    return new_signing_key_line(f"local-audit-{secrets.token_hex(4)}")
