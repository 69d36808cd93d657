"""The audit bucket's layout, and reading it without reading more than needed.

``audit/chains/<chain>/<first seq>.jsonl``                 a segment: one append's records
``audit/chains/<chain>/<first>-<last>.summary.json``       compacted records (signed summary)
``audit/verifier/state.json``                              where the last verification ended
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import ValidationError

from shared.audit.records import AuditRecord
from shared.errors import StorageUnavailable
from shared.storage import ObjectStore

if TYPE_CHECKING:
    from shared.storage.s3 import S3Store

AUDIT_ROOT = "audit/"
CHAINS_ROOT = f"{AUDIT_ROOT}chains/"
STATE_KEY = f"{AUDIT_ROOT}verifier/state.json"
_ITEM_RE = re.compile(
    r"^audit/chains/(?P<chain>[A-Za-z0-9._-]+)/"
    r"(?:(?P<first>\d{12})\.jsonl|(?P<sfirst>\d{12})-(?P<slast>\d{12})\.summary\.json)$"
)


@dataclass(frozen=True, order=True)
class ChainItem:
    """A segment or a summary of one chain, ordered by where it starts (longest first)."""

    first: int
    neg_last: int  # sorts a longer summary before a shorter one starting at the same seq
    key: str
    chain: str
    summary: bool

    @property
    def last(self) -> int | None:
        """Last sequence number a summary covers (None for a segment: read it to know)."""
        return -self.neg_last if self.summary else None


def segment_key(chain: str, first_seq: int) -> str:
    """Where the segment of ``chain`` starting at ``first_seq`` is stored."""
    return f"{CHAINS_ROOT}{chain}/{first_seq:012d}.jsonl"


def summary_key(chain: str, first_seq: int, last_seq: int) -> str:
    """Where the summary of ``chain`` covering ``first_seq..last_seq`` is stored."""
    return f"{CHAINS_ROOT}{chain}/{first_seq:012d}-{last_seq:012d}.summary.json"


def parse_item(key: str) -> ChainItem | None:
    """The chain item a key names, or None for a key outside the layout."""
    match = _ITEM_RE.match(key)
    if match is None:
        return None
    if match.group("first") is not None:
        return ChainItem(int(match.group("first")), 0, key, match.group("chain"), False)
    first, last = int(match.group("sfirst")), int(match.group("slast"))
    return ChainItem(first, -last, key, match.group("chain"), True)


def list_keys(store: ObjectStore, prefix: str, start_after: str | None = None) -> Iterator[str]:
    """Keys under ``prefix`` in order, after ``start_after``; without fetching what is before.

    The ObjectStore protocol lists whole prefixes; S3 can start after a key (ListObjectsV2
    StartAfter) and a directory can be named without a stat per file, so those two backends
    are read directly: incremental verification must not cost more as history grows.
    """
    from shared.storage.local import LocalStore
    from shared.storage.s3 import S3Store  # imports minio: only when listing

    names: Iterator[str]
    if isinstance(store, S3Store):
        names = iter(_s3_names(store, prefix, start_after))
    elif isinstance(store, LocalStore) and prefix.endswith("/"):
        names = _local_names(store, prefix)
    else:
        names = (info.key for info in store.list(prefix))
    for name in names:
        if start_after is None or name > start_after:
            yield name


def _s3_names(store: S3Store, prefix: str, start_after: str | None) -> list[str]:
    import urllib3
    from minio.error import MinioException

    try:
        listed = store.client.list_objects(
            store.bucket, prefix=prefix, recursive=True, start_after=start_after
        )
        return [o.object_name for o in listed if o.object_name]
    except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise StorageUnavailable(f"listing {prefix}: {type(exc).__name__}") from exc


def _local_names(store: object, prefix: str) -> Iterator[str]:
    root = getattr(store, "root")  # noqa: B009 - LocalStore's directory
    base = os.path.join(root, *prefix.rstrip("/").split("/"))
    stack = [(base, prefix)]
    found: list[str] = []
    while stack:
        directory, key_prefix = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if entry.is_dir():
                stack.append((entry.path, f"{key_prefix}{entry.name}/"))
            elif not entry.name.startswith(".tmp-"):
                found.append(f"{key_prefix}{entry.name}")
    yield from sorted(found)


def chain_names(store: ObjectStore) -> list[str]:
    """Every chain that has a folder in the audit bucket."""
    return sorted(p[len(CHAINS_ROOT) :].rstrip("/") for p in store.list_prefixes(CHAINS_ROOT))


def chain_items(store: ObjectStore, chain: str, start_after: str | None = None) -> list[ChainItem]:
    """The segments and summaries of ``chain`` (after a key), in chain order."""
    items = [parse_item(k) for k in list_keys(store, f"{CHAINS_ROOT}{chain}/", start_after)]
    return sorted(i for i in items if i is not None and i.chain == chain)


def items_by_chain(store: ObjectStore) -> tuple[dict[str, list[ChainItem]], list[str]]:
    """Every chain's items, and the keys under ``audit/`` that belong to no chain."""
    chains: dict[str, list[ChainItem]] = defaultdict(list)
    strays: list[str] = []
    for key in list_keys(store, AUDIT_ROOT):
        item = parse_item(key)
        if item is not None:
            chains[item.chain].append(item)
        elif key != STATE_KEY:
            strays.append(key)
    return {c: sorted(items) for c, items in chains.items()}, strays


def segment_lines(store: ObjectStore, key: str) -> list[str]:
    """The non-blank lines of a segment."""
    return [line for line in store.get(key).decode().splitlines() if line.strip()]


def read_records(store: ObjectStore) -> Iterator[AuditRecord]:
    """Yield every parseable record still held in segments, chain by chain, in chain order."""
    for chain in chain_names(store):
        for item in chain_items(store, chain):
            if not item.summary:
                for line in segment_lines(store, item.key):
                    yield AuditRecord.parse_stored(line)


def read_recent_records(store: ObjectStore, since: datetime) -> Iterator[AuditRecord]:
    """Records timed at or after ``since``, reading each chain backwards from its newest
    segment and stopping at the first segment that ends before ``since``.

    A chain is appended in time order, so this reads the recent segments only, whatever the
    history (an hour of slack covers writers whose clocks disagree).
    """
    horizon = since - timedelta(hours=1)
    for chain in chain_names(store):
        for item in reversed(chain_items(store, chain)):
            if item.summary:
                break  # compacted: older than the retention period
            records = []
            for line in segment_lines(store, item.key):
                try:
                    records.append(AuditRecord.parse_stored(line))
                except ValidationError:
                    continue  # verification reports it; a report counts what it can read
            yield from (r for r in records if r.time >= since)
            if records and records[-1].time < horizon:
                break
