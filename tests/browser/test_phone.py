"""A person on a phone (390 and 320 px wide): everything fits, every control is big enough."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import Server
from tests.browser.helpers import (
    choose_and_upscale,
    no_horizontal_scroll,
    small_photo,
    small_targets,
    unlabelled_controls,
    wait_done,
)


@pytest.mark.parametrize("width", [390, 320])
def test_phone_width_without_horizontal_scroll(
    width: int,
    open_page: Callable[..., Any],
    server: Server,
    shots: Callable[..., Path],
    tmp_path: Path,
) -> None:
    page = open_page(width, 800)
    no_horizontal_scroll(page)
    shots(page, "1-empty")
    # A long name must wrap, not widen the page.
    long_name = small_photo(tmp_path, "holiday-" + "very-long-name-" * 6 + ".jpg")
    page.set_input_files("#file", [str(long_name)])
    page.select_option("#output_format", "jpeg")  # shows the quality choice as well
    assert page.is_visible("#quality")
    no_horizontal_scroll(page)
    assert small_targets(page) == []
    assert unlabelled_controls(page) == []
    shots(page, "2-chosen")

    page.select_option("#output_format", "png")
    assert not page.is_visible("#quality")  # PNG is lossless: no quality to choose
    choose_and_upscale(page, [])
    wait_done(page)
    page.wait_for_function("() => document.querySelector('.compare-after').naturalWidth > 0")
    no_horizontal_scroll(page)
    assert small_targets(page) == []
    assert unlabelled_controls(page) == []
    shots(page, "3-done")

    page.select_option(".zoom", "4")  # the zoomed result scrolls inside its frame
    no_horizontal_scroll(page)
    page.select_option(".zoom", "1")
    page.click(".job .delete")
    shots(page, "4-confirm-delete", full_page=False)
    page.click("#confirm-delete button[value=delete]")
    page.wait_for_selector(".receipt:not([hidden])")
    no_horizontal_scroll(page)  # the 64-character hash wraps
    assert small_targets(page) == []
    shots(page, "5-deleted")
