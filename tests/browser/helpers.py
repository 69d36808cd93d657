"""What the browser tests do on the page, in a user's words: pick photos, upscale, wait."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image

from tests.support.net import http

#: The fast model the test server preloads, and a scale it runs natively.
MODEL, SCALE = "realesr-animevideov3", 2
STORE_KEY = "picupscaler.jobs.v1"


def photo(folder: Path, name: str = "astronaut.png", size: int = 320) -> Path:
    """scikit-image's astronaut (a real photo) at ``size`` px square, saved as ``name``."""
    from skimage import data

    path = folder / name
    Image.fromarray(data.astronaut()).resize((size, size), Image.Resampling.LANCZOS).save(path)
    return path


def small_photo(folder: Path, name: str = "cat.jpg") -> Path:
    """scikit-image's cat (chelsea), 96x64 JPEG: upscales in well under a second."""
    from skimage import data

    path = folder / name
    Image.fromarray(data.chelsea()).resize((96, 64), Image.Resampling.LANCZOS).save(path, "JPEG")
    return path


def choose_and_upscale(page: Any, files: list[Path], *, click: str | None = "click") -> None:
    """Pick the files, the fast model at 2x, PNG; confirm the age; press Upscale (unless
    ``click`` is None)."""
    if files:
        page.set_input_files("#file", [str(f) for f in files])
    page.select_option("#model", MODEL)
    page.select_option("#scale", str(SCALE))
    page.select_option("#output_format", "png")
    page.check("#age")
    if click is not None:
        getattr(page, click)("#submit")


def wait_done(page: Any, count: int = 1, timeout_ms: int = 180_000) -> None:
    """Wait until ``count`` jobs show their download button."""
    page.wait_for_function(
        f"() => document.querySelectorAll('.job .download:not([href=\"#\"])').length >= {count}",
        timeout=timeout_ms,
    )


def stored_jobs(page: Any) -> list[dict[str, Any]]:
    """The jobs this tab keeps in sessionStorage (ids and tokens)."""
    return json.loads(page.evaluate(f"sessionStorage.getItem('{STORE_KEY}') || '[]'"))


def api_status(base: str, job: dict[str, Any], path: str = "") -> tuple[int, bytes]:
    """GET /v1/jobs/{id}{path} with the job's token, outside the browser."""
    status, _, body = http(
        "GET",
        f"{base}/v1/jobs/{job['id']}{path}",
        headers={"Authorization": f"Bearer {job['token']}"},
    )
    return status, body


def png_size(data: bytes) -> tuple[int, int]:
    """The width and height of PNG bytes (and proof that they are a PNG)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


def no_horizontal_scroll(page: Any) -> None:
    """The page is no wider than the window."""
    scroll, client = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert scroll <= client, f"page is {scroll} px wide in a {client} px window"


def small_targets(page: Any) -> list[str]:
    """Visible controls smaller than 44x44 CSS px (inline text links are exempt)."""
    return page.evaluate(
        """() => [...document.querySelectorAll(
              'button, .button, select, input[type=range], .check, .dropzone-label')]
            .filter((el) => el.getClientRects().length
                            && getComputedStyle(el).visibility !== 'hidden')
            .map((el) => [el, el.getBoundingClientRect()])
            .filter(([, box]) => box.width < 44 || box.height < 44)
            .map(([el, box]) => `${el.outerHTML.slice(0, 60)} ${box.width}x${box.height}`)"""
    )


def unlabelled_controls(page: Any) -> list[str]:
    """Visible form controls without an accessible name."""
    return page.evaluate(
        """() => [...document.querySelectorAll('input, select, button, progress')]
            .filter((el) => el.getClientRects().length || el.id === 'file')
            .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                 && !el.getAttribute('aria-labelledby') && !el.textContent.trim())
            .map((el) => el.outerHTML.slice(0, 80))"""
    )
