"""Files the service refuses: its own words, shown as an error; other messages are not errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.browser.conftest import Server
from tests.browser.helpers import MODEL, choose_and_upscale, small_photo, stored_jobs, wait_done


def test_refused_file_shows_the_api_message(
    open_page: Callable[..., Any], server: Server, shots: Callable[..., Path], tmp_path: Path
) -> None:
    page = open_page()
    fake = tmp_path / "holiday.png"
    fake.write_text("this is text, not a picture")
    page.set_input_files("#file", [str(fake)])
    page.select_option("#model", MODEL)
    page.click("#submit")  # the age is not confirmed yet: asked, nothing sent
    assert "13 or older" in page.inner_text("#form-message")
    assert page.evaluate("document.activeElement.id") == "age"
    page.check("#age")
    page.click("#submit")
    message = page.locator(".job .job-message")
    message.wait_for()
    assert message.inner_text() == (
        "Not uploaded: The file is not an image in a supported format "
        "(BMP, GIF, JPEG, PNG, TIFF, WEBP)."
    )
    assert "error" in (message.get_attribute("class") or "")
    assert message.get_attribute("role") == "alert"
    assert not page.locator(".job .retry").is_visible()  # retrying the same bytes cannot help
    assert stored_jobs(page) == []  # nothing was accepted, no token kept
    assert not page.is_visible("#tokens-offer")
    shots(page, "refused")

    # A file that is not an image at all is not even sent.
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping list")
    page.set_input_files("#file", [str(notes)])
    assert "Not an image, so not added: notes.txt." in page.inner_text("#form-message")
    assert page.locator("#pending li").count() == 0


def test_retry_after_a_busy_answer_sends_the_same_idempotency_key(
    open_page: Callable[..., Any], server: Server, tmp_path: Path
) -> None:
    page = open_page()
    keys: list[str] = []

    def busy_once(route: Any) -> None:
        keys.append(route.request.headers.get("idempotency-key", ""))
        if len(keys) == 1:  # the service is briefly unavailable, as a 503 says
            route.fulfill(
                status=503,
                headers={"Retry-After": "1"},
                json={
                    "error": {
                        "code": "broker_unavailable",
                        "message": "The service cannot reach its broker right now; "
                        "please retry shortly.",
                    }
                },
            )
        else:
            route.continue_()

    page.route("**/v1/jobs", busy_once)
    choose_and_upscale(page, [small_photo(tmp_path)])
    retry = page.locator(".job .retry")
    retry.wait_for()
    assert "please retry shortly" in page.inner_text(".job .job-message")
    retry.focus()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.classList.contains('job')")  # focus kept
    wait_done(page)
    assert len(keys) == 2 and keys[0] == keys[1] and len(keys[0]) == 32
    assert not page.locator(".job .job-message").is_visible()
    assert len(stored_jobs(page)) == 1
