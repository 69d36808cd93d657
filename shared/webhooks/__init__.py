"""Webhooks on completion: which targets are allowed, how bodies are signed, how a request is
sent to a checked address. The Dramatiq actor that delivers lives in :mod:`worker.webhooks`;
the gateway checks ``webhook_url`` at upload with :func:`check_webhook_url`.

Receivers verify a delivery with :func:`verify_signature` (see docs/webhooks.md).
"""

from shared.webhooks.pinned import WebhookAnswer, WebhookDeliveryFailed, post_pinned
from shared.webhooks.settings import WebhookSettings
from shared.webhooks.signing import (
    DEFAULT_TOLERANCE_SECONDS,
    SIGNATURE_HEADER,
    signature,
    signature_header,
    verify_signature,
)
from shared.webhooks.targets import (
    PinnedTarget,
    Resolver,
    WebhookHostUnresolved,
    WebhookTargetRefused,
    WebhookUrl,
    check_webhook_url,
    parse_webhook_url,
    pin_target,
    refusal_reason,
    system_resolver,
)

__all__ = [
    "DEFAULT_TOLERANCE_SECONDS",
    "SIGNATURE_HEADER",
    "PinnedTarget",
    "Resolver",
    "WebhookAnswer",
    "WebhookDeliveryFailed",
    "WebhookHostUnresolved",
    "WebhookSettings",
    "WebhookTargetRefused",
    "WebhookUrl",
    "check_webhook_url",
    "parse_webhook_url",
    "pin_target",
    "post_pinned",
    "refusal_reason",
    "signature",
    "signature_header",
    "system_resolver",
    "verify_signature",
]
