"""One click, one job; a reload keeps the tab's jobs; leaving asks first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import Server
from tests.browser.helpers import (
    api_status,
    choose_and_upscale,
    small_photo,
    stored_jobs,
    wait_done,
)

#: Ways a person sends the form twice: a mouse double-click (the button may move under the
#: second click once the chosen files leave the list), Enter pressed twice, and two clicks
#: delivered in one task, before the page has done anything else.
DOUBLE_SUBMITS = {
    "dblclick": lambda page: page.dblclick("#submit"),
    "enter-twice": lambda page: (
        page.focus("#submit"),
        page.keyboard.press("Enter"),
        page.keyboard.press("Enter"),
    ),
    "two-clicks-one-task": lambda page: page.evaluate(
        "() => { const b = document.querySelector('#submit'); b.click(); b.click(); }"
    ),
}


@pytest.mark.parametrize("how", list(DOUBLE_SUBMITS))
def test_double_submit_makes_one_job(
    how: str, open_page: Callable[..., Any], server: Server, tmp_path: Path
) -> None:
    page = open_page()
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    before = server.manifests()
    choose_and_upscale(page, [small_photo(tmp_path)], click=None)
    DOUBLE_SUBMITS[how](page)
    wait_done(page)
    assert posts == [f"{server.base}/v1/jobs"]
    assert len(server.manifests() - before) == 1
    assert page.locator(".job").count() == 1 and len(stored_jobs(page)) == 1
    # Pressing Upscale again with nothing chosen sends nothing and says why.
    page.click("#submit")
    assert "Choose at least one image first." in page.inner_text("#form-message")
    assert posts == [f"{server.base}/v1/jobs"]


def test_reload_keeps_the_job_list(
    open_page: Callable[..., Any], server: Server, shots: Callable[..., Path], tmp_path: Path
) -> None:
    page = open_page()
    choose_and_upscale(
        page, [small_photo(tmp_path, "first.jpg"), small_photo(tmp_path, "second.jpg")]
    )
    wait_done(page, 2)
    ids = page.eval_on_selector_all(".job", "els => els.map((e) => e.dataset.jobId)")
    assert len(set(ids)) == 2

    dialogs: list[str] = []

    def leave(dialog: Any) -> None:
        dialogs.append(dialog.type)
        dialog.accept()

    page.on("dialog", leave)
    page.reload()
    assert dialogs == ["beforeunload"]  # jobs exist: the page asked before leaving
    page.wait_for_selector(".job[data-job-id]")
    wait_done(page, 2)
    assert page.eval_on_selector_all(".job", "els => els.map((e) => e.dataset.jobId)") == ids
    names = page.eval_on_selector_all(".job .file-name", "els => els.map((e) => e.textContent)")
    assert names == ["first.jpg", "second.jpg"]
    assert page.inner_text(".job .download").startswith("Download first_x2.png")
    # The original is not kept across a reload: the result is shown alone.
    assert "shown alone" in page.inner_text(".job .compare-caption")
    assert page.locator(".job .delete").first.is_visible()
    shots(page, "after-reload")

    # The tokens can be saved as a small JSON file.
    with page.expect_download() as info:
        page.click("#save-tokens")
    saved = Path(info.value.path()).read_text()
    for job in stored_jobs(page):
        assert job["token"] in saved
        assert api_status(server.base, job)[0] == 200
