"""The upload is parsed in memory as it streams, and refused as soon as it is too large."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway.errors import ApiError
from gateway.upload import read_multipart
from tests.support.net import multipart


def chunks(body: bytes, size: int, seen: list[int]) -> AsyncIterator[bytes]:
    async def gen() -> AsyncIterator[bytes]:
        for start in range(0, len(body), size):
            seen.append(start)
            yield body[start : start + size]

    return gen()


def test_parses_fields_and_file() -> None:
    body, ctype = multipart({"model": "realesrgan-x4plus", "scale": "4"}, b"\x89PNG" + b"x" * 5000)
    upload = asyncio.run(
        read_multipart(ctype, str(len(body)), chunks(body, 1000, []), max_file_bytes=10_000)
    )
    assert upload.file == b"\x89PNG" + b"x" * 5000
    assert upload.fields == {"model": "realesrgan-x4plus", "scale": "4"}


def test_oversized_body_is_refused_before_it_is_all_read() -> None:
    body, ctype = multipart({}, b"x" * 2_000_000)
    seen: list[int] = []
    with pytest.raises(ApiError) as err:
        # No Content-Length (chunked): the limit is enforced while streaming.
        asyncio.run(
            read_multipart(ctype, None, chunks(body, 64 * 1024, seen), max_file_bytes=100_000)
        )
    assert err.value.status == 413
    assert len(seen) * 64 * 1024 < 400_000  # stopped after a few chunks, not 2 MB


def test_declared_oversized_body_is_refused_without_reading() -> None:
    seen: list[int] = []
    body, ctype = multipart({}, b"x" * 10)
    with pytest.raises(ApiError) as err:
        asyncio.run(read_multipart(ctype, "999999999", chunks(body, 10, seen), max_file_bytes=1000))
    assert err.value.status == 413 and seen == []
