"""Parsing and checking the job options of an upload form."""

from __future__ import annotations

from gateway.errors import ApiError
from gateway.settings import GatewaySettings
from shared.manifest import JobOptions, OutputFormat
from shared.models import DEFAULT_MODEL, MODELS

_FORMATS: dict[str, OutputFormat] = {"png": "png", "jpeg": "jpeg", "jpg": "jpeg", "webp": "webp"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def bad_option(code: str, message: str) -> ApiError:
    """A 422 for an option the service cannot honour."""
    return ApiError(422, code, message)


def parse_options(fields: dict[str, str], settings: GatewaySettings) -> JobOptions:
    """Turn the form's text fields into JobOptions, or raise a 422 that says what is wrong."""
    unknown = sorted(set(fields) - {"model", "scale", "output_format", "face_enhance"})
    if unknown:
        raise bad_option("unknown_option", f"Unknown form field(s): {', '.join(unknown)}.")
    name = fields.get("model") or DEFAULT_MODEL
    model = MODELS.get(name)
    if model is None:
        raise bad_option(
            "unknown_model", f"Unknown model {name[:64]!r}; choose one of {', '.join(MODELS)}."
        )
    raw_scale = fields.get("scale") or str(model.default_scale)
    try:
        scale = int(raw_scale)
    except ValueError:
        raise bad_option("invalid_scale", "scale must be a whole number.") from None
    if scale not in model.scales:
        raise bad_option(
            "unsupported_scale",
            f"{model.name} supports scale {', '.join(map(str, model.scales))}, not {scale}.",
        )
    fmt = _FORMATS.get((fields.get("output_format") or "png").lower())
    if fmt is None:
        raise bad_option("invalid_output_format", "output_format must be png, jpeg or webp.")
    raw_face = (fields.get("face_enhance") or "").lower()
    if raw_face not in _TRUE | _FALSE:
        raise bad_option("invalid_face_enhance", "face_enhance must be true or false.")
    face = raw_face in _TRUE
    if face and not settings.face_enhance_available:
        raise bad_option(
            "face_enhance_unavailable",
            "Face restoration is not available on this service: no face model is installed.",
        )
    return JobOptions(model=model.name, scale=scale, output_format=fmt, face_enhance=face)
