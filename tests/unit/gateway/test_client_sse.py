"""The client's event-stream parser, by the HTML standard's rules (the page's parser has the
same cases in tests/browser/test_sse_parser.py)."""

from __future__ import annotations

from gateway.client.sse import Event, SseParser


def parse(*chunks: str) -> tuple[list[Event], SseParser]:
    parser = SseParser()
    events = [e for chunk in chunks for e in parser.feed(chunk)]
    events += list(parser.end())
    return events, parser


def test_fields_comments_and_dispatch() -> None:
    events, parser = parse(
        ': keep-alive\n\nretry: 250\n\nid: 7\nevent: progress\ndata: {"a": 1}\n\ndata: plain\n\n'
    )
    assert events == [Event("progress", '{"a": 1}', "7"), Event("message", "plain", "7")]
    assert parser.retry_ms == 250 and parser.last_event_id == "7"


def test_lines_split_anywhere_across_chunks_and_every_line_ending() -> None:
    text = "id: 1\r\nevent: status\rdata: x\ndata: y\r\n\r\nid: 2\ndata: z\r\r"
    whole, _ = parse(text)
    assert whole == [Event("status", "x\ny", "1"), Event("message", "z", "2")]
    for cut in range(1, len(text)):
        pieces, _ = parse(text[:cut], text[cut:])
        assert pieces == whole, cut
    one_by_one, _ = parse(*text)
    assert one_by_one == whole


def test_only_cr_and_lf_end_lines() -> None:
    """JSON may hold U+2028, U+0085, form feeds: str.splitlines would break the event there."""
    data = '{"m": "a\u2028b\u0085c\x0cd"}'
    events, _ = parse(f"data: {data}\n\n")
    assert events == [Event("message", data, "")]


def test_odd_fields() -> None:
    events, parser = parse(
        "\ufeffdata:no space\n\n",  # a leading BOM is dropped; the space after ':' is optional
        "data\n\n",  # a field without a colon: empty data, still dispatched
        "event: lonely\n\n",  # no data: nothing dispatched, the type is reset
        "id: bad\0id\ndata: a\n\n",  # an id with NUL is ignored
        "retry: soon\n\n",  # not digits: ignored
        "data: unfinished",  # no blank line before the end: dropped
    )
    assert events == [
        Event("message", "no space", ""),
        Event("message", "", ""),
        Event("message", "a", ""),
    ]
    assert parser.retry_ms is None and parser.last_event_id == ""
