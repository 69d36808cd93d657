"""The web page, its scripts and style sheet, and the privacy policy.

The page is plain files in ``gateway/static``: HTML, ES modules and one style sheet, no build
step and nothing from another origin, so the Content-Security-Policy allows only this origin
and no ``'unsafe-inline'`` at all.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from gateway.errors import ApiError
from gateway.services import ServicesDep

router = APIRouter(tags=["pages"], include_in_schema=False)

POLICY_LAST_UPDATED = "2026-11-28"
#: Scripts and styles only from this origin; images also from the page's own blob: URLs (the
#: previews of chosen files and of results); fetch() only to this origin.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
#: What ``/static/`` serves, by suffix; the HTML templates there are served only through
#: their routes.
ASSET_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


def _static(name: str) -> str:
    return resources.files("gateway").joinpath("static", name).read_text(encoding="utf-8")


@cache
def _asset(name: str) -> tuple[bytes, str, str] | None:
    """An asset's bytes, media type and ETag, read once (package files do not change)."""
    suffix = name[name.rfind(".") :] if "." in name else ""
    media_type = ASSET_TYPES.get(suffix)
    if media_type is None or "/" in name or "\\" in name or name.startswith("."):
        return None
    path = resources.files("gateway").joinpath("static", name)
    if not path.is_file():
        return None
    data = path.read_bytes()
    return data, media_type, f'"{hashlib.sha256(data).hexdigest()[:32]}"'


def _page(html: str) -> HTMLResponse:
    return HTMLResponse(html, headers={"Cache-Control": "no-store", **SECURITY_HEADERS})


def expiry_words(seconds: int) -> str:
    """The retention period as the page says it: "24 hours", "30 minutes"."""
    hours = seconds / 3600
    return f"{hours:g} hours" if hours >= 1 else f"{hours * 60:g} minutes"


@router.get("/", response_class=HTMLResponse)
async def index(services: ServicesDep) -> HTMLResponse:
    """The upload page."""
    html = _static("index.html").replace(
        "{{EXPIRY}}", expiry_words(services.settings.jobs.expiry_seconds)
    )
    return _page(html)


@router.get("/static/{name}")
async def asset(name: str, request: Request) -> Response:
    """A script or the style sheet of the page; revalidated by ETag so updates show at once.

    A handful of small files known at build time: a route (rather than a mounted
    ``StaticFiles``) keeps the templates out of reach and gives every answer the same headers.
    """
    found = _asset(name)
    if found is None:
        raise ApiError(404, "not_found", "Not Found")
    data, media_type, etag = found
    headers = {"Cache-Control": "no-cache", "ETag": etag, **SECURITY_HEADERS}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=media_type, headers=headers)


@router.get("/privacy", response_class=HTMLResponse)
async def privacy(services: ServicesDep) -> HTMLResponse:
    """The privacy policy with its "Last updated" date and contact address."""
    html = (
        _static("privacy.html")
        .replace("{{LAST_UPDATED}}", POLICY_LAST_UPDATED)
        .replace("{{CONTACT}}", services.settings.privacy_contact)
    )
    return _page(html)
