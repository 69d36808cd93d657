"""Reading a ``text/event-stream`` body: the HTML standard's event stream interpretation.

Hand-written (it is short) because httpx's ``iter_lines`` splits like ``str.splitlines``, also
on U+2028, U+0085 and other characters that may sit inside a JSON string, while an event
stream's lines end only at CR, LF or CRLF. The rules followed are the standard's: a blank line
dispatches the event; ``:`` starts a comment (the server's keep-alives); ``data`` lines join
with newlines; ``id`` sets the last event id (kept across events, ignored if it holds NUL);
``retry`` takes digits only; an event with no data is not dispatched; a leading BOM is dropped.
The web page's parser (``gateway/static/sse.js``) follows the same rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    """One dispatched event: its type (``message`` when unnamed), data and the last event id."""

    type: str
    data: str
    id: str


class SseParser:
    """Feed decoded text in any chunks; complete events come out of :meth:`feed`."""

    def __init__(self) -> None:
        self.last_event_id = ""
        #: The reconnection time the server asked for (``retry:``), in milliseconds.
        self.retry_ms: int | None = None
        self._buffer = ""
        self._data: list[str] = []
        self._type = ""
        self._started = False

    def feed(self, chunk: str) -> Iterator[Event]:
        """Interpret the complete lines in ``chunk`` (and what was buffered before it)."""
        text = self._buffer + chunk
        if not self._started and text:
            text = text.removeprefix("\ufeff")
            self._started = True
        start = 0
        i = 0
        while i < len(text):
            c = text[i]
            if c not in "\r\n":
                i += 1
                continue
            if c == "\r" and i == len(text) - 1:
                break  # maybe the first half of CRLF: wait for the next chunk
            event = self._line(text[start:i])
            if event is not None:
                yield event
            if c == "\r" and text[i + 1] == "\n":
                i += 1
            i += 1
            start = i
        self._buffer = text[start:]

    def end(self) -> Iterator[Event]:
        """The stream ended: a lone CR ends its line; an event missing its blank line is lost."""
        if self._buffer.endswith("\r"):
            event = self._line(self._buffer[:-1])
            if event is not None:
                yield event
        self._buffer = ""
        self._data = []
        self._type = ""

    def _line(self, line: str) -> Event | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment, e.g. a keep-alive
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._type = value
        elif field == "id" and "\0" not in value:
            self.last_event_id = value
        elif field == "retry" and value.isascii() and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> Event | None:
        data, kind = self._data, self._type or "message"
        self._data, self._type = [], ""
        if not data:
            return None
        return Event(kind, "\n".join(data), self.last_event_id)
