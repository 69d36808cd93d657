"""A person on a desktop: upload a photo, watch it progress, compare, download, delete."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.browser.conftest import Server
from tests.browser.helpers import (
    SCALE,
    api_status,
    choose_and_upscale,
    photo,
    png_size,
    stored_jobs,
    wait_done,
)
from tests.support.net import http


def test_upload_progress_compare_download_delete(
    open_page: Callable[..., Any], server: Server, shots: Callable[..., Path], tmp_path: Path
) -> None:
    headers = http("GET", f"{server.base}/")[1]
    assert "unsafe-inline" not in headers["content-security-policy"]

    page = open_page(1280, 900)
    shots(page, "1-empty")
    original = photo(tmp_path)  # 320x320, a few seconds of CPU at 2x: several progress steps
    page.set_input_files("#file", [str(original)])
    page.wait_for_function(
        "() => document.querySelector('#pending .file-facts').textContent.includes('→')"
    )
    assert "320 × 320 → 1280 × 1280" in page.inner_text("#pending")  # 4x is the default
    choose_and_upscale(page, [])
    shots(page, "2-uploaded")

    page.wait_for_selector(".job[data-job-id]")
    page.wait_for_function(
        "() => window.__progress.some((p) => p.kind === 'value' && p.value > 0 && p.value < 100)",
        timeout=180_000,
    )
    shots(page, "3-progress")
    # Later the page estimates the time left (the events of today's server carry none).
    page.wait_for_function(
        """() => document.querySelector('.job-stage').textContent.includes('left')
                 || document.querySelector('.job .download:not([href="#"])')""",
        timeout=180_000,
    )
    shots(page, "3-progress-time-left")
    wait_done(page)
    log = page.evaluate("window.__progress")
    job_id = page.get_attribute(".job", "data-job-id")
    values = [p["value"] for p in log if p["job"] == job_id and p["kind"] == "value"]
    # Upload progress first, then None (indeterminate: queued), then the job's own progress.
    values = [v for v in values[values.index(None) + 1 :] if v is not None]
    middle = [v for v in values if 0 < v < 100]
    assert middle and values[-1] == 100, values
    assert values == sorted(values), f"the bar went backwards: {values}"
    stages = [p["stage"] for p in log if p["job"] == job_id and p["kind"] == "stage"]
    assert any("%" in s and "Upscaling" in s for s in stages), stages
    assert page.inner_text(".job-stage").startswith("Done: 640 × 640 PNG")
    assert "Deleted automatically in 23 h" in page.inner_text(".job-expiry")
    assert page.get_attribute(".job progress", "aria-label") == "Progress of astronaut.png"

    # The comparison: the slider moves the cut, zoom enlarges the result.
    page.focus(".compare-slider")
    page.keyboard.press("Home")
    assert (
        page.evaluate(
            "getComputedStyle(document.querySelector('.compare-stage')).getPropertyValue('--split')"
        ).strip()
        == "0%"
    )
    page.keyboard.press("End")
    page.fill(".compare-slider", "50")
    shots(page, "4-compare")
    fit_width = page.evaluate("document.querySelector('.compare-stage').offsetWidth")
    page.select_option(".zoom", "4")
    zoomed = page.evaluate(
        "[document.querySelector('.compare-stage').offsetWidth,"
        " document.querySelector('.compare-viewport').scrollWidth >"
        " document.querySelector('.compare-viewport').clientWidth]"
    )
    assert zoomed == [fit_width * 4, True], (fit_width, zoomed)
    shots(page, "5-zoomed")
    page.select_option(".zoom", "1")

    # The download: named after the original, the very bytes the API serves.
    job = stored_jobs(page)[0]
    assert job["id"] == job_id
    status, raw = api_status(server.base, job)
    document = json.loads(raw)
    with page.expect_download() as download_info:
        page.click(".job .download")
    download = download_info.value
    assert download.suggested_filename == f"astronaut_x{SCALE}.png"
    data = Path(download.path()).read_bytes()
    assert len(data) == document["result"]["bytes"]
    assert png_size(data) == (640, 640)
    assert re.fullmatch(
        rf"Download astronaut_x{SCALE}\.png \(\d+ kB\)", page.inner_text(".download")
    )

    # Delete now: asked first, then the receipt; the job is gone from the API.
    page.click(".job .delete")
    assert page.is_visible("#confirm-delete")
    assert "astronaut.png and its result will be deleted" in page.inner_text("#confirm-text")
    shots(page, "6-confirm-delete", full_page=False)
    page.click("#confirm-delete button[value=delete]")
    page.wait_for_selector(".receipt:not([hidden])")
    receipt = page.inner_text(".receipt")
    assert "manifest.json" in receipt and "input" in receipt and "result" in receipt
    digest = page.inner_text(".receipt-hash")
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert page.evaluate("document.activeElement.classList.contains('receipt')")
    message = page.locator(".job-message")
    assert "Deleted" in message.inner_text() and "error" not in (
        message.get_attribute("class") or ""
    )
    shots(page, "7-deleted")
    assert api_status(server.base, job)[0] == 404
    assert api_status(server.base, job, "/result")[0] == 404
    assert stored_jobs(page)[0].get("receipt", {}).get("audit_record_sha256") == digest
