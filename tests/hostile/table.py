"""``python -m tests.hostile.table``: run the hostile corpus, print the markdown table.

The gateway runs in-process (default limits, a temporary local storage directory, the
in-process broker), exactly as ``test_hostile_gateway.py`` runs it. Its logs go to stderr, so
stdout is only the table, ready for ``docs/hostile-input.md``.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image

from gateway.app import create_app
from tests.hostile.harness import gateway_settings, markdown_table, run_corpus, summary


def main() -> None:
    """Run the corpus and print the table and a one-line summary."""
    # ignore_cleanup_errors: the analytics flusher may still write its last counters.
    with (
        tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp,
        contextlib.redirect_stdout(sys.stderr),
    ):
        settings = gateway_settings(Path(tmp))
        saved = Image.MAX_IMAGE_PIXELS
        try:
            with TestClient(create_app(settings), raise_server_exceptions=False) as client:
                outcomes = run_corpus(client, settings)
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    print(markdown_table(outcomes))
    print()
    print(summary(outcomes))


if __name__ == "__main__":
    main()
