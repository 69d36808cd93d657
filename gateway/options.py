"""Parsing and checking the job options of an upload form."""

from __future__ import annotations

import re
from collections.abc import Mapping

from gateway.errors import ApiError
from shared.formats import OUTPUT_FORMAT_ALIASES
from shared.manifest import JobOptions
from shared.models import AUTO_MODEL, DEFAULT_MODEL, MODELS, ModelInfo
from shared.webhooks import Resolver, WebhookSettings, WebhookTargetRefused, check_webhook_url

FIELDS = {
    "model",
    "scale",
    "output_format",
    "face_enhance",
    "face_fidelity",
    "quality",
    "webhook_url",
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}
_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)


def bad_option(code: str, message: str) -> ApiError:
    """A 422 for an option the service cannot honour."""
    return ApiError(422, code, message)


def _whole_number(raw: str, name: str) -> int:
    """An optionally signed run of ASCII digits, as the schema's ``integer`` means.

    Python's ``int()`` also takes other scripts' digits ("\u0663" is 3) and underscores ("1_0"
    is 10); neither is a number a client means to send, so both are refused.
    """
    text = raw.strip()
    if not _INTEGER.fullmatch(text):
        raise bad_option(f"invalid_{name}", f"{name} must be a whole number.")
    return int(text)


def parse_options(
    fields: Mapping[str, str],
    *,
    max_scale: int,
    face_enhance_available: bool,
    models: Mapping[str, ModelInfo] = MODELS,
) -> JobOptions:
    """Turn the form's text fields into JobOptions, or raise a 422 that says what is wrong.

    ``model`` is a name in ``models`` (built-in or operator) or ``auto`` (the worker picks the
    photo or anime model);
    ``scale`` is any whole number from 1 to ``max_scale`` for every model;
    ``quality`` (1..100) applies to JPEG and WebP and is accepted but unused for lossless PNG.
    """
    unknown = sorted(set(fields) - FIELDS)
    if unknown:
        raise bad_option("unknown_option", f"Unknown form field(s): {', '.join(unknown)}.")
    name = fields.get("model") or DEFAULT_MODEL
    if name != AUTO_MODEL and name not in models:
        choices = ", ".join([*models, AUTO_MODEL])
        raise bad_option("unknown_model", f"Unknown model {name[:64]!r}; choose one of {choices}.")
    default_scale = models[name].default_scale if name in models else 4
    scale = _whole_number(fields.get("scale") or str(default_scale), "scale")
    if not 1 <= scale <= max_scale:
        raise bad_option("unsupported_scale", f"scale must be from 1 to {max_scale}, not {scale}.")
    fmt = OUTPUT_FORMAT_ALIASES.get((fields.get("output_format") or "png").lower())
    if fmt is None:
        raise bad_option("invalid_output_format", "output_format must be png, jpeg or webp.")
    quality = None
    if fields.get("quality"):
        quality = _whole_number(fields["quality"], "quality")
        if not 1 <= quality <= 100:
            raise bad_option("invalid_quality", f"quality must be from 1 to 100, not {quality}.")
    raw_face = (fields.get("face_enhance") or "").lower()
    if raw_face not in _TRUE | _FALSE:
        raise bad_option("invalid_face_enhance", "face_enhance must be true or false.")
    face = raw_face in _TRUE
    if face and not face_enhance_available:
        raise bad_option(
            "face_enhance_unavailable",
            "Face enhancement is not available on this service: the operator has installed no "
            "face restorer (a GFPGAN checkpoint in the model directory's faces/ folder).",
        )
    fidelity = 0.5
    if fields.get("face_fidelity"):
        try:
            fidelity = float(fields["face_fidelity"].strip())
        except ValueError:
            fidelity = -1.0
        if not 0.0 <= fidelity <= 1.0:  # NaN fails this too
            raise bad_option("invalid_face_fidelity", "face_fidelity must be from 0 to 1.")
    return JobOptions(
        model=name,
        scale=scale,
        output_format=fmt,
        face_enhance=face,
        quality=quality,
        face_fidelity=fidelity,
    )


def parse_webhook_url(
    fields: Mapping[str, str], webhooks: WebhookSettings | None, resolver: Resolver
) -> str | None:
    """The form's ``webhook_url`` once checked (scheme, length, no credentials, and every
    address its host resolves to public, unless the deployment allows private targets), or
    None when absent; a 422 otherwise.

    It resolves the host (blocking): call it from a worker thread, as the upload route does.
    """
    raw = (fields.get("webhook_url") or "").strip()
    if not raw:
        return None
    if webhooks is None or not webhooks.accepts_urls:
        raise bad_option(
            "webhooks_unavailable",
            "Webhooks are not enabled on this service (no signing secret is configured).",
        )
    try:
        check_webhook_url(
            raw,
            allow_http=webhooks.allow_http,
            allow_private=webhooks.allow_private_targets,
            max_length=webhooks.max_url_length,
            resolver=resolver,
        )
    except WebhookTargetRefused as refused:
        raise bad_option("invalid_webhook_url", refused.reason) from None
    return raw
