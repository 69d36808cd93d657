"""The *Also restore faces* box follows the service's offer (``GET /v1/models``), and a face
request the service cannot serve is refused in the service's own words."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.browser.conftest import Server
from tests.browser.helpers import choose_and_upscale, small_photo, stored_jobs


def test_the_face_box_appears_only_when_offered(
    open_page: Callable[..., Any], server: Server, tmp_path: Path
) -> None:
    page = open_page()
    # The test server has no face restorer: no box.
    assert page.evaluate("document.getElementById('face-field').hidden") is True

    # A gateway that offers faces (GATEWAY_FACE_ENHANCE_AVAILABLE=true in front of workers
    # without a restorer is exactly this mismatch): the server's real answer, with the offer.
    def offer(route: Any) -> None:
        response = route.fetch()
        body = response.json()
        body["face_enhance_available"] = True
        route.fulfill(response=response, json=body)

    page.route("**/v1/models", offer)
    page.reload()
    page.wait_for_selector("#model option[value='realesr-animevideov3']", state="attached")
    assert page.is_visible("#face-field")
    assert page.inner_text("label[for=face_enhance]") == "Also restore faces"

    sent: list[bytes] = []
    page.on(
        "request",
        lambda r: sent.append(r.post_data_buffer or b"")
        if r.method == "POST" and r.url.endswith("/v1/jobs")
        else None,
    )
    page.check("#face_enhance")
    choose_and_upscale(page, [small_photo(tmp_path)])
    message = page.locator(".job .job-message")
    message.wait_for()
    assert sent and b'name="face_enhance"\r\n\r\ntrue' in sent[0]
    # The real service refuses it (422 face_enhance_unavailable); the page says why.
    assert message.inner_text().startswith("Not uploaded: Face enhancement is not available")
    assert stored_jobs(page) == []
