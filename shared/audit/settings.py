"""Audit settings (``AUDIT_`` prefix): signing keys, the public keys that verify, the anchor.

Signing keys are not storage credentials: each service gets its own Ed25519 key from its own
Secret (``AUDIT_SIGNING_KEYS`` or ``AUDIT_SIGNING_KEY_FILE``), rotated like the service keys
(prepend a new key; old records still verify with the old public key). Auditors and the
janitor verify with public keys only (``AUDIT_VERIFY_KEYS``): they cannot forge.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class AuditSettings(BaseSettings):
    """Everything the audit log reads from the environment, once, at start-up."""

    model_config = SettingsConfigDict(env_prefix="AUDIT_", extra="ignore")

    #: ``key_id:base64(32-byte Ed25519 private key)`` items, comma or newline separated; the
    #: first (or ``active_signing_key_id``) signs.
    signing_keys: SecretStr | None = None
    signing_key_file: Path | None = None
    active_signing_key_id: str | None = None
    #: With no signing key configured, create ``local_signing_key_file`` (0600): all-in-one
    #: mode only; in a cluster the key comes from a Secret and this is off.
    generate_local_signing_key: bool = True
    local_signing_key_file: Path = Path("var/keys/audit-signing.key")
    #: ``key_id:base64(32-byte Ed25519 public key)`` items: every key whose signatures are
    #: accepted (all services' current and retired keys). The public halves of this process's
    #: own signing keys are always accepted as well.
    verify_keys: str | None = None
    verify_key_file: Path | None = None

    #: Where chain heads are anchored: ``s3`` (an Object Lock bucket), ``file`` (an append-only
    #: file outside the storage root), or ``auto`` (s3 with the S3 backend, file with local).
    anchor: Literal["auto", "s3", "file"] = "auto"
    #: Object Lock bucket for checkpoints (default: ``<audit bucket>-anchors``).
    anchor_bucket: str | None = None
    #: Anchor file (default: ``<storage dir>.audit-anchors/<audit bucket>.jsonl``, beside and
    #: outside the storage root).
    anchor_file: Path | None = None
    #: Set the kernel's append-only attribute on the anchor file (``chattr +a``: then not even
    #: its owner can cut or rewrite it). Needs CAP_LINUX_IMMUTABLE (root on a plain host); off
    #: by default because the file can then only be removed after ``chattr -a``.
    anchor_file_append_only: bool = False
    #: COMPLIANCE: nobody can shorten or remove the lock; GOVERNANCE: holders of
    #: s3:BypassGovernanceRetention can (keep that permission away from every service).
    anchor_lock_mode: Literal["COMPLIANCE", "GOVERNANCE"] = "COMPLIANCE"
    #: How long each checkpoint stays locked (keep it above ``retention_days``).
    anchor_lock_days: int = Field(default=400, ge=1)
    #: Refuse to start when the anchor bucket has no Object Lock (false: run, but report it
    #: loudly in the log and as picupscaler_audit_anchor_protected 0).
    require_anchor_lock: bool = True

    #: Records older than this are compacted into signed per-chain summaries (counts by day
    #: and reason, first and last hash): job ids and keys go, the proof of volume stays.
    retention_days: int = Field(default=90, ge=1)
