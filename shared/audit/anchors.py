"""Anchors: where chain registrations and checkpoints go, out of reach of the audit bucket's
writers, and the append-only file that plays that part in all-in-one mode.

Two stores implement :class:`Anchor`: :class:`~shared.audit.anchor_s3.S3Anchor` (an S3 bucket
with Object Lock: every object is a write-once, retention-locked version) and
:class:`FileAnchor` (lines appended to a file beside, not inside, the storage root). Reading is
incremental: a :class:`AnchorCursor` from the last verification says where to resume.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Protocol

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from shared.audit.errors import AnchorUnavailable
from shared.audit.findings import Finding
from shared.audit.records import ChainRegistration, Checkpoint

AnchorStatement = Annotated[ChainRegistration | Checkpoint, Field(discriminator="kind")]
_STATEMENT: TypeAdapter[AnchorStatement] = TypeAdapter(AnchorStatement)
# Linux inode flags (linux/fs.h): FS_IOC_GETFLAGS and the append-only bit that chattr +a sets.
_FS_IOC_GETFLAGS = 0x80086601
_FS_IOC_SETFLAGS = 0x40086602
_FS_APPEND_FL = 0x00000020


class AnchorCursor(BaseModel):
    """Where the previous verification left the anchor store."""

    #: chain -> newest checkpointed sequence number seen
    checkpoints: dict[str, int] = Field(default_factory=dict)
    #: chains whose registration was seen
    registered: list[str] = Field(default_factory=list)
    #: file anchors: bytes read so far, and the sha256 of the last line read
    file_offset: int = 0
    file_tail_sha256: str | None = None


@dataclass
class AnchorReading:
    """What a read found since the cursor (everything, for a full read)."""

    cursor: AnchorCursor
    registrations: dict[str, ChainRegistration] = field(default_factory=dict)
    #: chain -> key id -> newest checkpoint signed under that key id. The verifier checks the
    #: signatures: a forged checkpoint under a key id of its own cannot push the genuine
    #: newest one out of a reading.
    checkpoints: dict[str, dict[str, Checkpoint]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def add(self, statement: AnchorStatement) -> None:
        """Keep a chain's first registration, or its newest checkpoint per key id."""
        if isinstance(statement, ChainRegistration):
            self.registrations.setdefault(statement.chain, statement)
            return
        slots = self.checkpoints.setdefault(statement.chain, {})
        current = slots.get(statement.key_id or "")
        if current is None or statement.seq > current.seq:
            slots[statement.key_id or ""] = statement


@dataclass(frozen=True)
class AnchorStatus:
    """Whether the anchor store refuses rewrites, for the start-up check and the metric."""

    where: str
    protected: bool
    detail: str


class Anchor(Protocol):
    """A place for signed statements that the audit bucket's writers cannot rewrite."""

    def ensure(self, *, create: bool) -> None:
        """Create the store if missing and allowed (an Object Lock bucket, the file's folder)."""

    def status(self) -> AnchorStatus:
        """Whether rewrites are refused here, and why (not)."""

    def append(self, statement: AnchorStatement) -> None:
        """Store a signed statement for good; AnchorUnavailable if it could not be stored."""

    def read(
        self,
        cursor: AnchorCursor | None,
        *,
        full: bool,
        accept: Callable[[AnchorStatement], bool] = ...,
    ) -> AnchorReading:
        """Statements since ``cursor`` (all of them when ``full``), and evidence of rewrites.

        ``accept`` says whether a statement is validly signed, for stores that read a chain's
        checkpoints newest first and can stop at the first accepted one.
        """


class FileAnchor:
    """An append-only file outside the storage root (all-in-one and local mode).

    Every statement is one line written with a single ``write`` on an ``O_APPEND`` descriptor,
    so concurrent writers (threads, processes) never interleave. Whether the kernel enforces
    append-only (``chattr +a``, which needs CAP_LINUX_IMMUTABLE to set) is reported by
    :meth:`status`; a verification cursor remembers the length and last line read, so a file
    cut short or rewritten is found as a rollback.
    """

    def __init__(
        self,
        path: Path,
        *,
        storage_root: Path | None = None,
        kernel_append_only: bool = False,
    ) -> None:
        self.path = Path(path).resolve()
        self.storage_root = Path(storage_root).resolve() if storage_root else None
        self.kernel_append_only = kernel_append_only
        self._lock = threading.Lock()

    def ensure(self, *, create: bool) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if self.kernel_append_only:
                os.close(os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
                _set_append_only(self.path)  # best effort: status() says whether it held
        except OSError as exc:
            raise AnchorUnavailable(f"anchor file: {exc.strerror}") from exc

    def status(self) -> AnchorStatus:
        where = f"file {self.path}"
        if self.storage_root is not None and self.path.is_relative_to(self.storage_root):
            return AnchorStatus(where, False, "the anchor file is inside the storage root")
        flag = _append_only_flag(self.path)
        if flag:
            return AnchorStatus(where, True, "outside the storage root; kernel append-only")
        return AnchorStatus(
            where,
            True,
            "outside the storage root; append-only by O_APPEND only "
            "(run `chattr +a` on it as root for kernel enforcement)",
        )

    def append(self, statement: AnchorStatement) -> None:
        line = (statement.model_dump_json() + "\n").encode()
        with self._lock:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, line)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                raise AnchorUnavailable(f"anchor file: {exc.strerror}") from exc

    def read(
        self,
        cursor: AnchorCursor | None,
        *,
        full: bool,
        accept: Callable[[AnchorStatement], bool] = lambda _: True,
    ) -> AnchorReading:
        previous = cursor or AnchorCursor()
        reading = AnchorReading(cursor=previous.model_copy(deep=True))
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            fh = None
        except OSError as exc:
            raise AnchorUnavailable(f"anchor file: {exc.strerror}") from exc
        if fh is None:
            if previous.file_offset:
                reading.findings.append(
                    Finding("checkpoint_rolled_back", str(self.path), "the anchor file is gone")
                )
            return reading
        with fh:
            size = os.fstat(fh.fileno()).st_size
            if previous.file_offset:
                self._check_not_rolled_back(size, previous, reading)
            offset = 0 if full or reading.findings else previous.file_offset
            fh.seek(offset)
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break  # a writer is half-way through this line: read it next time
                offset += len(raw)
                reading.cursor.file_offset = offset
                reading.cursor.file_tail_sha256 = hashlib.sha256(raw).hexdigest()
                try:
                    reading.add(_STATEMENT.validate_json(raw))
                except ValidationError:
                    reading.findings.append(
                        Finding("unreadable", f"{self.path} at byte {offset - len(raw)}")
                    )
        return reading

    def _check_not_rolled_back(
        self, size: int, previous: AnchorCursor, reading: AnchorReading
    ) -> None:
        if size < previous.file_offset:
            reading.findings.append(
                Finding(
                    "checkpoint_rolled_back",
                    str(self.path),
                    f"{size} bytes, a previous verification read {previous.file_offset}",
                )
            )
            return
        tail = _line_ending_at(self.path, previous.file_offset)
        if hashlib.sha256(tail).hexdigest() != previous.file_tail_sha256:
            reading.findings.append(
                Finding(
                    "checkpoint_rolled_back",
                    str(self.path),
                    "the line a previous verification ended on was rewritten",
                )
            )


def _line_ending_at(path: Path, offset: int) -> bytes:
    """The complete line that ends at byte ``offset`` (lines are short: read back 64 KiB)."""
    start = max(0, offset - 65536)
    with open(path, "rb") as fh:
        fh.seek(start)
        chunk = fh.read(offset - start)
    cut = chunk.rfind(b"\n", 0, len(chunk) - 1)
    return chunk[cut + 1 :]


def _append_only_flag(path: Path) -> bool | None:
    """Whether the kernel's append-only attribute is set on ``path`` (None: cannot tell)."""
    import array

    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        flags = array.array("l", [0])
        with contextlib.suppress(OSError):
            fcntl.ioctl(fd, _FS_IOC_GETFLAGS, flags, True)
            return bool(flags[0] & _FS_APPEND_FL)
        return None
    finally:
        os.close(fd)


def _set_append_only(path: Path) -> None:
    """Set the kernel's append-only attribute (``chattr +a``); needs CAP_LINUX_IMMUTABLE.

    Then nobody, the owner included, can truncate, rewrite or delete the file until someone
    with that capability clears it again. Without the capability this does nothing.
    """
    import array

    fd = os.open(path, os.O_RDONLY)
    try:
        flags = array.array("l", [0])
        with contextlib.suppress(OSError):
            fcntl.ioctl(fd, _FS_IOC_GETFLAGS, flags, True)
            flags[0] |= _FS_APPEND_FL
            fcntl.ioctl(fd, _FS_IOC_SETFLAGS, flags, True)
    finally:
        os.close(fd)


def parse_statement(data: bytes) -> AnchorStatement:
    """Parse one stored registration or checkpoint (ValidationError when it does not parse)."""
    return _STATEMENT.validate_json(data)
