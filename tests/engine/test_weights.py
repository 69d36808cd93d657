"""load_network's converted-weights cache, and official .pth checkpoint reading."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from worker.engine import (
    NETWORKS,
    WeightsFormatError,
    build_network,
    load_checkpoint_state_dict,
    load_network,
)
from worker.engine import ncnn as ncnn_module
from worker.engine.weights import cache_path_for

SPEC = NETWORKS[("realesr-animevideov3", 4)]


def _refuse(*args: object, **kwargs: object) -> None:
    raise AssertionError("the ncnn converter ran although a cache file exists")


def test_second_load_reads_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_network(SPEC, cache_dir=tmp_path)
    cache = cache_path_for(SPEC, tmp_path)
    assert cache.is_file() and cache.name.startswith(SPEC.ncnn_stem + "-")
    assert [p.name for p in tmp_path.iterdir()] == [cache.name]  # no temp files left over
    monkeypatch.setattr(ncnn_module, "read_ncnn_state_dict", _refuse)
    second = load_network(SPEC, cache_dir=tmp_path)
    a, b = first.state_dict(), second.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not second.training
    assert not any(p.requires_grad for p in second.parameters())


def test_corrupt_cache_is_replaced(tmp_path: Path) -> None:
    cache = cache_path_for(SPEC, tmp_path)
    cache.write_bytes(b"not a torch file")
    net = load_network(SPEC, cache_dir=tmp_path)
    assert torch.load(cache, weights_only=True).keys() == net.state_dict().keys()


def test_no_cache_dir_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    load_network(SPEC, cache_dir=None)
    assert list(tmp_path.iterdir()) == []


def test_checkpoint_prefers_params_ema(tmp_path: Path) -> None:
    net = build_network(SPEC)
    ema = {k: v.clone() for k, v in net.state_dict().items()}
    plain = {k: torch.zeros_like(v) for k, v in ema.items()}
    path = tmp_path / "model.pth"
    torch.save({"params_ema": ema, "params": plain}, path)
    assert all(torch.equal(load_checkpoint_state_dict(path)[k], ema[k]) for k in ema)
    torch.save({"params": plain}, path)
    assert all(torch.equal(load_checkpoint_state_dict(path)[k], plain[k]) for k in ema)
    torch.save({"module." + k: v for k, v in ema.items()}, path)
    net.load_state_dict(load_checkpoint_state_dict(path), strict=True)


def test_checkpoint_rejects_non_dicts(tmp_path: Path) -> None:
    path = tmp_path / "bad.pth"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(WeightsFormatError):
        load_checkpoint_state_dict(path)
    torch.save({"params": {"w": 3}}, path)
    with pytest.raises(WeightsFormatError):
        load_checkpoint_state_dict(path)
