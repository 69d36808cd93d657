"""The page's event-stream parser, run in Chromium, against the HTML standard's rules.

Each case feeds chunks (split where a network may split them) and expects the dispatched
events (type, data, id) and the retry time, as the standard's "interpreting an event stream"
defines them; EventSource would do the same, had it a way to send the token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.conftest import Server

CASES: dict[str, tuple[list[str], list[dict[str, str]], int | None]] = {
    "one event in two chunks": (
        ["data: a\n", "\n"],
        [{"type": "message", "data": "a", "id": ""}],
        None,
    ),
    "CRLF split between chunks": (
        ["id: 5\r", "\nevent: status\r\ndata: x\r\n\r", "\n"],
        [{"type": "status", "data": "x", "id": "5"}],
        None,
    ),
    "CR alone ends lines": (
        ["data: a\rdata: b\r\r"],
        [{"type": "message", "data": "a\nb", "id": ""}],
        None,
    ),
    "comments and keep-alives dispatch nothing": ([": keep-alive\n\n:\n\n"], [], None),
    "no data, no event": (["event: progress\n\n"], [], None),
    "the id stays for later events": (
        ["id: 7\nevent: progress\ndata: {}\n\ndata: 2\n\n"],
        [
            {"type": "progress", "data": "{}", "id": "7"},
            {"type": "message", "data": "2", "id": "7"},
        ],
        None,
    ),
    "an id with NUL is ignored": (
        ["id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n"],
        [{"type": "message", "data": "a", "id": "1"}, {"type": "message", "data": "b", "id": "1"}],
        None,
    ),
    "retry takes digits only": (["retry: 250\n\nretry: 9x\n\n"], [], 250),
    "one space after the colon is dropped, no more": (
        ["data:no-space\ndata:  two\ndata\n\n"],
        [{"type": "message", "data": "no-space\n two\n", "id": ""}],
        None,
    ),
    "a leading BOM is ignored": (
        ["\ufeffdata: a\n\n"],
        [{"type": "message", "data": "a", "id": ""}],
        None,
    ),
    "an unfinished event at the end is dropped": (
        ["data: a\n\ndata: b\n"],
        [{"type": "message", "data": "a", "id": ""}],
        None,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_sse_parser(case: str, open_page: Callable[..., Any], server: Server) -> None:
    chunks, expected, retry = CASES[case]
    page = open_page()
    result = page.evaluate(
        """async (chunks) => {
            const { SseParser } = await import("/static/sse.js");
            const events = [];
            const parser = new SseParser((e) => events.push(e));
            for (const chunk of chunks) parser.feed(chunk);
            parser.end();
            return { events, retry: parser.retry };
        }""",
        chunks,
    )
    assert result == {"events": expected, "retry": retry}
