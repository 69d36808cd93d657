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
    photo,
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
    long_name = photo(tmp_path, "holiday-" + "very-long-name-" * 6 + ".png", size=192)
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
    # A picture of the bar on its way when the machine is slow enough to catch one.
    page.wait_for_function(
        """() => window.__progress.some((p) => p.kind === 'value' && p.value > 0 && p.value < 100)
                 || document.querySelector('.job .download:not([href="#"])')""",
        timeout=180_000,
    )
    shots(page, "3-working")
    wait_done(page)
    page.wait_for_function("() => document.querySelector('.compare-after').naturalWidth > 0")
    no_horizontal_scroll(page)
    assert small_targets(page) == []
    assert unlabelled_controls(page) == []
    shots(page, "4-done")

    page.select_option(".zoom", "4")  # the zoomed result scrolls inside its frame
    no_horizontal_scroll(page)
    page.select_option(".zoom", "1")
    page.click(".job .delete")
    shots(page, "5-confirm-delete", full_page=False)
    page.click("#confirm-delete button[value=delete]")
    page.wait_for_selector(".receipt:not([hidden])")
    no_horizontal_scroll(page)  # the 64-character hash wraps
    assert small_targets(page) == []
    shots(page, "6-deleted")
