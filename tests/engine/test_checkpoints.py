"""Operator checkpoints: real official-format files are recognised; broken ones are refused."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from worker.engine import NETWORKS, NetworkSpec, Upscaler, WeightsFormatError, build_network
from worker.engine.checkpoints import detect_spec, load_checkpoint

Loader = Callable[[str, int], nn.Module]
CPU = torch.device("cpu")


def _official(network: nn.Module, path: Path, key: str = "params_ema") -> Path:
    """Save ``network``'s weights the way BasicSR publishes them."""
    torch.save({key: network.state_dict()}, path)
    return path


@pytest.mark.parametrize(
    "key",
    [("realesrgan-x4plus", 4), ("realesrgan-x4plus-anime", 4), ("realesr-animevideov3", 4)],
    ids=lambda k: k[0],
)
def test_official_weights_are_recognised(
    network: Loader, tmp_path: Path, key: tuple[str, int]
) -> None:
    path = _official(network(*key), tmp_path / f"mine-x{key[1]}.pth")
    info, loaded = load_checkpoint(path, "mine", key[1])
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    expected = NETWORKS[key]
    assert (info.spec.arch, info.spec.scale) == (expected.arch, expected.scale)
    assert info.spec.arch_kwargs == expected.arch_kwargs
    reference = network(*key).state_dict()
    assert all(torch.equal(v, reference[k]) for k, v in loaded.state_dict().items())
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())


def test_x2_rrdb_and_other_shapes_are_read_off_the_keys() -> None:
    kwargs = {"num_in_ch": 3, "num_out_ch": 3, "scale": 2, "num_feat": 16, "num_block": 3,
              "num_grow_ch": 8}  # fmt: skip
    rrdb = build_network(NetworkSpec("t", "rrdb", 2, "", kwargs))
    spec = detect_spec(rrdb.state_dict(), "t", "mem")
    assert (spec.scale, spec.arch_kwargs["num_block"], spec.arch_kwargs["num_feat"]) == (2, 3, 16)
    assert spec.arch_kwargs["num_grow_ch"] == 8
    srvgg = build_network(NetworkSpec("t", "srvgg", 2, "", {"num_feat": 24, "num_conv": 5,
                                                            "upscale": 2}))  # fmt: skip
    spec = detect_spec(srvgg.state_dict(), "t", "mem")
    assert (spec.arch, spec.scale) == ("srvgg", 2)
    assert (spec.arch_kwargs["num_conv"], spec.arch_kwargs["num_feat"]) == (5, 24)


def test_safetensors_checkpoint(network: Loader, tmp_path: Path) -> None:
    safetensors = pytest.importorskip("safetensors.torch")
    net = network("realesr-animevideov3", 4)
    path = tmp_path / "anime-x4.safetensors"
    flat = {f"params_ema.{k}": v.contiguous() for k, v in net.state_dict().items()}
    # zeros(shape), not zeros_like: the cached network may be channels_last by now, and
    # safetensors refuses a non-contiguous tensor.
    state = net.state_dict()
    flat.update({f"params.{k}": torch.zeros(v.shape, dtype=v.dtype) for k, v in state.items()})
    safetensors.save_file(flat, str(path))
    info, loaded = load_checkpoint(path, "anime", 4)
    assert info.spec.arch == "srvgg"
    # The EMA weights were chosen, not the zeros.
    image = np.full((8, 8, 3), 120, np.uint8)
    out = Upscaler(loaded, scale=4, device=CPU, dtype=torch.float32).upscale(image)
    assert abs(float(out.mean()) - 120) < 15


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "not a loadable checkpoint"),
        (b"garbage, not a zip or a pickle", "not a loadable checkpoint"),
    ],
)
def test_unreadable_files_name_the_file(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "broken-x4.pth"
    path.write_bytes(content)
    with pytest.raises(WeightsFormatError, match=match) as info:
        load_checkpoint(path, "broken", 4)
    assert str(path) in str(info.value)


def test_truncated_and_mismatched_checkpoints(network: Loader, tmp_path: Path) -> None:
    good = _official(network("realesr-animevideov3", 4), tmp_path / "anime-x4.pth")
    truncated = tmp_path / "cut-x4.pth"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(WeightsFormatError, match="cut-x4.pth"):
        load_checkpoint(truncated, "cut", 4)
    with pytest.raises(WeightsFormatError, match="says x2 but the network upscales x4"):
        load_checkpoint(good, "anime", 2)
    state = network("realesr-animevideov3", 4).state_dict()
    del state["body.5.weight"]  # a missing PReLU: strict loading must refuse it
    torch.save({"params": state}, tmp_path / "hole-x4.pth")
    with pytest.raises(WeightsFormatError, match="hole-x4.pth"):
        load_checkpoint(tmp_path / "hole-x4.pth", "hole", 4)
    torch.save({"params": {"encoder.weight": torch.zeros(3)}}, tmp_path / "other-x4.pth")
    with pytest.raises(WeightsFormatError, match="neither an RRDBNet nor an SRVGGNetCompact"):
        load_checkpoint(tmp_path / "other-x4.pth", "other", 4)
    torch.save([1, 2], tmp_path / "list-x4.pth")
    with pytest.raises(WeightsFormatError, match="not a dict"):
        load_checkpoint(tmp_path / "list-x4.pth", "list", 4)
