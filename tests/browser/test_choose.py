"""Choosing images: the picker, a drop anywhere on the page, a paste; thumbnails; removing."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.browser.conftest import Server
from tests.browser.helpers import small_photo

#: Builds File objects from base64 in the page and hands them over as a user's drop or paste
#: would: the same DataTransfer the browser gives the page's handlers.
HAND_OVER = """([how, files]) => {
  const transfer = new DataTransfer();
  for (const [name, type, b64] of files) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    transfer.items.add(new File([bytes], name, { type }));
  }
  if (how === "paste") {
    document.dispatchEvent(new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true }));
  } else {
    const target = document.querySelector("main");
    for (const kind of ["dragover", "drop"]) {
      target.dispatchEvent(new DragEvent(kind, { dataTransfer: transfer, bubbles: true,
                                                 cancelable: true }));
    }
  }
}"""


def test_drop_paste_and_picker_add_thumbnails(
    open_page: Callable[..., Any], server: Server, shots: Callable[..., Path], tmp_path: Path
) -> None:
    page = open_page()
    cat = base64.b64encode(small_photo(tmp_path).read_bytes()).decode()
    page.evaluate(HAND_OVER, ["drop", [["dropped.jpg", "image/jpeg", cat]]])
    page.evaluate(HAND_OVER, ["paste", [["pasted.jpg", "image/jpeg", cat]]])
    page.set_input_files("#file", [str(small_photo(tmp_path, "picked.jpg"))])
    names = page.eval_on_selector_all("#pending .file-name", "els => els.map((e) => e.textContent)")
    assert names == ["dropped.jpg", "pasted.jpg", "picked.jpg"]
    page.wait_for_function(
        "() => [...document.querySelectorAll('#pending .thumb')].every((i) => i.naturalWidth > 0)"
    )
    facts = page.inner_text("#pending")
    assert facts.count("96 × 64 → 384 × 256") == 3  # the default 4x, as the options say
    assert "ready to upload" in page.inner_text("#announcer")
    shots(page, "chosen")

    # Removing one moves focus to the next Remove button, never to nowhere.
    page.focus("#pending li:nth-child(2) .remove")
    page.keyboard.press("Enter")
    names = page.eval_on_selector_all("#pending .file-name", "els => els.map((e) => e.textContent)")
    assert names == ["dropped.jpg", "picked.jpg"]
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Remove picked.jpg"
