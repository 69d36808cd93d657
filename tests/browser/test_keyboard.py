"""A person using the keyboard (and a screen reader): reach everything, lose focus nowhere."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.browser.conftest import Server
from tests.browser.helpers import MODEL, small_photo, wait_done


def focus_order(page: Any, presses: int) -> list[str]:
    order = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id || document.activeElement.className"))
    return order


def test_keyboard_only(
    open_page: Callable[..., Any], server: Server, shots: Callable[..., Path], tmp_path: Path
) -> None:
    page = open_page()
    order = focus_order(page, 12)
    for control in ("file", "model", "scale", "output_format", "age", "optout", "submit"):
        assert control in order, order
    assert page.get_attribute("#announcer", "aria-live") == "polite"

    page.set_input_files("#file", [str(small_photo(tmp_path))])
    page.focus("#model")
    page.select_option("#model", MODEL)  # a <select> is changed by arrow keys; same event
    page.focus("#scale")
    page.keyboard.press("Home")  # 1x
    page.keyboard.press("ArrowDown")  # 2x
    assert page.input_value("#scale") == "2"
    page.focus("#age")
    page.keyboard.press("Space")
    page.focus("#submit")
    page.keyboard.press("Enter")
    wait_done(page)
    page.wait_for_function(
        "() => document.querySelector('#announcer').textContent.includes('ready')"
    )
    # The announcement is made in the live region, the progress bar is labelled.
    assert page.inner_text("#announcer") == "cat.jpg is ready to download."

    # Delete by keyboard: the dialog takes focus on its safe choice; Escape keeps the job and
    # gives focus back to the button.
    page.focus(".job .delete")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.value") == "cancel"
    shots(page, "confirm", full_page=False)
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.classList.contains('delete')")
    assert page.locator(".job .download").is_visible()
    # Enter again, Tab to "Delete now", Enter: deleted, focus on the receipt, announced.
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_selector(".receipt:not([hidden])")
    assert page.evaluate("document.activeElement.classList.contains('receipt')")
    page.wait_for_function(
        "() => document.querySelector('#announcer').textContent.includes('deleted')"
    )
    # Removing the last card from the list puts focus back on the picker, not nowhere.
    page.focus(".job .forget")
    page.keyboard.press("Enter")
    assert page.locator(".job").count() == 0
    assert page.evaluate("document.activeElement.id") == "file"
