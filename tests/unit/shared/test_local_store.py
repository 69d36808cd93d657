from pathlib import Path

import pytest

from shared.errors import ObjectNotFound
from shared.storage.local import LocalStore


def test_put_get_stat_list_delete(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, "bucket")
    store.ensure_bucket()
    store.put("jobs/2026/01/01/00/a/input", b"abc")
    store.put("jobs/2026/01/01/01/b/input", b"defg")
    assert store.get("jobs/2026/01/01/00/a/input") == b"abc"
    info = store.stat("jobs/2026/01/01/01/b/input")
    assert info is not None and info.size == 4
    assert [i.key for i in store.list("jobs/2026/01/01/0")] == [
        "jobs/2026/01/01/00/a/input",
        "jobs/2026/01/01/01/b/input",
    ]
    assert list(store.list_prefixes("jobs/2026/01/01/")) == [
        "jobs/2026/01/01/00/",
        "jobs/2026/01/01/01/",
    ]
    assert store.delete_many(["jobs/2026/01/01/00/a/input", "missing/key"]) == []
    assert store.stat("jobs/2026/01/01/00/a/input") is None
    with pytest.raises(ObjectNotFound):
        store.get("jobs/2026/01/01/00/a/input")
    # Emptied folders are pruned, so listings stay proportional to what is stored.
    assert list(store.list_prefixes("jobs/2026/01/01/")) == ["jobs/2026/01/01/01/"]


@pytest.mark.parametrize("key", ["../escape", "a/../../b", "/abs", "a//b", ""])
def test_keys_cannot_escape_the_bucket(tmp_path: Path, key: str) -> None:
    store = LocalStore(tmp_path, "bucket")
    with pytest.raises(ValueError):
        store.put(key, b"x")


def test_files_are_private_to_the_service(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, "bucket")
    store.put("k/obj", b"x")
    assert (tmp_path / "bucket" / "k" / "obj").stat().st_mode & 0o077 == 0
