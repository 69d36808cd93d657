"""The local anchor file: outside the storage root, append-only, rollback found by the cursor."""

from __future__ import annotations

import array
import fcntl
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.audit.anchors import FileAnchor
from shared.audit.records import Checkpoint


def checkpoint(seq: int) -> Checkpoint:
    return Checkpoint(chain="c", seq=seq, head="0" * 64, time=datetime.now(UTC), key_id="k")


def clear_append_only(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        flags = array.array("l", [0])
        fcntl.ioctl(fd, 0x80086601, flags, True)
        flags[0] &= ~0x20
        fcntl.ioctl(fd, 0x40086602, flags, True)
    finally:
        os.close(fd)


def test_inside_the_storage_root_is_unprotected(tmp_path: Path) -> None:
    anchor = FileAnchor(tmp_path / "storage" / "a.jsonl", storage_root=tmp_path / "storage")
    assert not anchor.status().protected


def test_a_cursor_finds_the_file_cut_back(tmp_path: Path) -> None:
    anchor = FileAnchor(tmp_path / "anchors" / "a.jsonl", storage_root=tmp_path / "storage")
    anchor.ensure(create=True)
    for seq in range(3):
        anchor.append(checkpoint(seq))
    seen = anchor.read(None, full=True)
    assert seen.checkpoints["c"]["k"].seq == 2 and not seen.findings
    anchor.append(checkpoint(3))
    assert anchor.read(seen.cursor, full=False).checkpoints["c"]["k"].seq == 3
    lines = anchor.path.read_bytes().splitlines(keepends=True)
    anchor.path.write_bytes(b"".join(lines[:2]))  # cut back before what was seen
    assert [f.code for f in anchor.read(seen.cursor, full=False).findings] == [
        "checkpoint_rolled_back"
    ]


def test_with_kernel_append_only_the_file_cannot_be_cut(tmp_path: Path) -> None:
    anchor = FileAnchor(tmp_path / "anchors" / "a.jsonl", kernel_append_only=True)
    anchor.ensure(create=True)
    try:
        if "kernel append-only" not in anchor.status().detail:
            pytest.skip("setting chattr +a needs CAP_LINUX_IMMUTABLE and a file system with it")
        anchor.append(checkpoint(0))
        anchor.append(checkpoint(1))
        with pytest.raises(PermissionError):
            anchor.path.write_bytes(b"")
        with pytest.raises(PermissionError):
            os.truncate(anchor.path, 10)
        with pytest.raises(PermissionError):
            anchor.path.unlink()
        assert anchor.read(None, full=True).checkpoints["c"]["k"].seq == 1
    finally:
        clear_append_only(anchor.path)  # so that pytest can remove its temporary folder
