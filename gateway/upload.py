"""Reading a multipart upload into memory as it streams in, with hard size limits.

Starlette's ``request.form()`` spools file parts over 1 MB to the gateway's disk; the privacy
policy allows no copy of an image outside object storage, so the body is parsed here, chunk by
chunk, and the request is refused with 413 as soon as it exceeds the limit.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header

from gateway.errors import ApiError

#: Room for the multipart framing and the small option fields around the file.
FORM_OVERHEAD_BYTES = 64 * 1024
MAX_FIELD_BYTES = 1024
#: RFC 2046 allows boundaries of 1 to 70 characters.
MAX_BOUNDARY = 70
MAX_FIELDS = 16


@dataclass
class Upload:
    """The parsed form: the file's bytes and the text fields."""

    file: bytes | None = None
    filename: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


def too_large(limit: int) -> ApiError:
    """The 413 answer for a body over the upload limit."""
    return ApiError(
        413, "upload_too_large", f"The upload is larger than the limit of {limit} bytes."
    )


class _FormCollector:
    """Callbacks for MultipartParser that keep each part in memory, bounded."""

    def __init__(self, max_file_bytes: int) -> None:
        self.max_file_bytes = max_file_bytes
        self.upload = Upload()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._name: str | None = None
        self._is_file = False
        self._data = io.BytesIO()

    def on_part_begin(self) -> None:
        self._headers = {}
        self._data = io.BytesIO()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name")
        self._name = name.decode("utf-8", "replace") if name is not None else None
        self._is_file = b"filename" in params
        if self._is_file and self._name == "file":
            self.upload.filename = params[b"filename"].decode("utf-8", "replace")[:255]

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        # BytesIO, not bytearray: getvalue() hands over its buffer without a copy, so a
        # 25 MB upload is held once (a bytearray's bytes() would hold it twice for a moment).
        self._data.write(memoryview(data)[start:end])
        limit = self.max_file_bytes if self._name == "file" else MAX_FIELD_BYTES
        if self._data.tell() > limit:
            if self._name == "file":
                raise too_large(self.max_file_bytes)
            raise ApiError(422, "invalid_request", f"Form field {self._name!r} is too long.")

    def on_part_end(self) -> None:
        if self._name == "file":
            if self.upload.file is not None:
                raise ApiError(422, "invalid_request", "Send exactly one file.")
            self.upload.file = self._data.getvalue()
        elif self._name is not None:
            if self._name in self.upload.fields:
                # Which of two values counts would be a guess; ask the client to say once.
                raise ApiError(
                    422, "invalid_request", f"Form field {self._name[:64]!r} was sent twice."
                )
            if len(self.upload.fields) >= MAX_FIELDS:
                raise ApiError(422, "invalid_request", "Too many form fields.")
            self.upload.fields[self._name] = (
                self._data.getvalue().decode("utf-8", "replace").strip()
            )
        self._data = io.BytesIO()


async def read_multipart(
    content_type: str | None,
    content_length: str | None,
    body: AsyncIterator[bytes],
    *,
    max_file_bytes: int,
    idle_timeout: float = 15.0,
    total_timeout: float = 300.0,
) -> Upload:
    """Parse a multipart/form-data body into memory; 413 as soon as it is over the limit.

    A body that stalls for ``idle_timeout`` seconds, or has not arrived whole after
    ``total_timeout``, is refused with 408 and its connection closed: a stalled upload would
    otherwise hold its memory (and one of the process's upload slots) for as long as the
    client likes.
    """
    ctype, params = parse_options_header(content_type or "")
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise ApiError(
            415, "unsupported_media_type", "Send the image as multipart/form-data, field 'file'."
        )
    if len(boundary) > MAX_BOUNDARY:
        raise ApiError(
            422, "invalid_request", f"The multipart boundary is longer than {MAX_BOUNDARY} bytes."
        )
    max_body = max_file_bytes + FORM_OVERHEAD_BYTES
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise ApiError(400, "invalid_request", "Bad Content-Length header.") from None
        if declared > max_body:
            # Refuse before reading a byte: the client said how much it will send.
            raise too_large(max_file_bytes)
    collector = _FormCollector(max_file_bytes)
    parser = MultipartParser(
        boundary,
        callbacks={
            "on_part_begin": collector.on_part_begin,
            "on_header_field": collector.on_header_field,
            "on_header_value": collector.on_header_value,
            "on_header_end": collector.on_header_end,
            "on_headers_finished": collector.on_headers_finished,
            "on_part_data": collector.on_part_data,
            "on_part_end": collector.on_part_end,
        },
    )  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in _timed(body, idle_timeout, total_timeout):
            received += len(chunk)
            if received > max_body:
                raise too_large(max_file_bytes)
            parser.write(chunk)
        parser.finalize()
    except ApiError:
        raise
    except Exception as exc:  # python-multipart raises its own parse errors
        raise ApiError(422, "invalid_request", "The multipart body could not be parsed.") from exc
    if collector.upload.file is None:
        raise ApiError(422, "missing_file", "The form has no 'file' part.")
    return collector.upload


async def _timed(body: AsyncIterator[bytes], idle: float, total: float) -> AsyncIterator[bytes]:
    """``body``'s chunks, or a 408 when the next one is slow or the whole is late."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + total
    chunks = body.__aiter__()
    while True:
        wait = min(idle, deadline - loop.time())
        try:
            if wait <= 0:
                raise TimeoutError
            chunk = await asyncio.wait_for(chunks.__anext__(), timeout=wait)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise ApiError(
                408,
                "upload_timeout",
                "The upload stalled or took too long, and was closed; please send it again.",
                {"Connection": "close"},
            ) from None
        yield chunk
