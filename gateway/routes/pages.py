"""The web page and the privacy policy."""

from __future__ import annotations

from html import escape
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from gateway.services import ServicesDep

router = APIRouter(tags=["pages"], include_in_schema=False)

POLICY_LAST_UPDATED = "2026-11-26"
_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob:; "
    "style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def _static(name: str) -> str:
    return resources.files("gateway").joinpath("static", name).read_text(encoding="utf-8")


@router.get("/", response_class=HTMLResponse)
async def index(services: ServicesDep) -> HTMLResponse:
    """The upload page."""
    options = "".join(
        f'<option value="{escape(m.name)}">{escape(m.name)}: {escape(m.description)}</option>'
        for m in services.models.values()
    )
    hours = services.settings.jobs.expiry_seconds / 3600
    html = (
        _static("index.html")
        .replace("{{MODEL_OPTIONS}}", options)
        .replace("{{EXPIRY}}", f"{hours:g} hours" if hours >= 1 else f"{hours * 60:g} minutes")
    )
    return HTMLResponse(html, headers=_SECURITY_HEADERS)


@router.get("/privacy", response_class=HTMLResponse)
async def privacy(services: ServicesDep) -> HTMLResponse:
    """The privacy policy with its "Last updated" date and contact address."""
    html = (
        _static("privacy.html")
        .replace("{{LAST_UPDATED}}", POLICY_LAST_UPDATED)
        .replace("{{CONTACT}}", services.settings.privacy_contact)
    )
    return HTMLResponse(html, headers=_SECURITY_HEADERS)
