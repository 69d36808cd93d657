"""The start-up check every audit-writing service runs: is the anchor store protected?

With the S3 backend the anchor bucket must have Object Lock (it can only be switched on when
the bucket is made: the check creates it so when allowed); with the local backend the anchor
file must lie outside the storage root. When it is not protected the service refuses to start
(``AUDIT_REQUIRE_ANCHOR_LOCK=true``, the default) or starts and says so loudly, in the log and
as ``picupscaler_audit_anchor_protected 0``.
"""

from __future__ import annotations

import structlog
from prometheus_client import Gauge

from shared.audit.anchors import AnchorStatus
from shared.audit.errors import AnchorUnavailable, AnchorUnprotected
from shared.audit.settings import AuditSettings
from shared.audit.writer import anchor_for, configure, current_config
from shared.storage import ObjectStore

log = structlog.get_logger(__name__)

ANCHOR_PROTECTED = Gauge(
    "picupscaler_audit_anchor_protected",
    "1 when the audit anchor store refuses rewrites (Object Lock, or a file outside storage).",
)


def check_anchor(audit_store: ObjectStore, *, create: bool) -> AnchorStatus:
    """Check (and, if ``create``, set up) the anchor of ``audit_store``; see the module doc.

    Raises AnchorUnprotected when it is unprotected and that is not allowed, AnchorUnavailable
    when the anchor store cannot be reached.
    """
    config = current_config()
    anchor = anchor_for(audit_store, config.settings)
    try:
        anchor.ensure(create=create)
        status = anchor.status()
    except AnchorUnavailable:
        ANCHOR_PROTECTED.set(0)
        raise
    ANCHOR_PROTECTED.set(1 if status.protected else 0)
    if status.protected:
        log.info("audit_anchor_checked", where=status.where, detail=status.detail)
        return status
    if config.settings.require_anchor_lock:
        raise AnchorUnprotected(
            f"the audit anchor ({status.where}) does not refuse rewrites: {status.detail}. "
            "Create the anchor bucket with Object Lock (or set AUDIT_REQUIRE_ANCHOR_LOCK=false "
            "to run without that protection)."
        )
    log.error(
        "audit_anchor_unprotected",
        where=status.where,
        detail=status.detail,
        consequence="checkpoints can be rewritten by whoever can write the anchor store",
    )
    return status


def check_audit_log(audit_store: ObjectStore, settings: AuditSettings, *, create: bool) -> None:
    """What every audit-writing service does at start-up: configure its signing key, then
    check the anchor. AnchorUnprotected propagates (refuse to start); an anchor store that
    cannot be reached now is logged, and the first deletion retries it."""
    configure(settings)
    try:
        check_anchor(audit_store, create=create)
    except AnchorUnavailable as exc:
        log.warning("audit_anchor_not_checked", error=str(exc))
