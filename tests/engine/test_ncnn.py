"""ncnn -> PyTorch conversion of the shipped Real-ESRGAN weights, and its error checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from worker.engine import NETWORKS, WeightsFormatError, build_network, read_ncnn_state_dict
from worker.engine.catalog import NetworkSpec
from worker.engine.ncnn import TAG_FP16, ncnn_model_dir, parse_param


def _files(spec: NetworkSpec) -> tuple[Path, Path]:
    base = ncnn_model_dir() / spec.ncnn_stem
    return base.with_suffix(".param"), base.with_suffix(".bin")


def test_model_dir_has_every_stem() -> None:
    for spec in NETWORKS.values():
        param, weights = _files(spec)
        assert param.is_file() and weights.is_file()


@pytest.mark.parametrize("key", sorted(NETWORKS), ids=lambda k: f"{k[0]}-x{k[1]}")
def test_conversion_consumes_file_and_loads_strictly(key: tuple[str, int]) -> None:
    spec = NETWORKS[key]
    net = build_network(spec)
    state = read_ncnn_state_dict(*_files(spec), net)  # raises if any byte is left over
    params = dict(net.named_parameters())
    assert len(state) == len(params)
    for name, tensor in state.items():
        assert tensor.dtype == torch.float32 and tensor.shape == params[name].shape
    net.load_state_dict(state, strict=True)


@pytest.mark.parametrize("key", sorted(NETWORKS), ids=lambda k: f"{k[0]}-x{k[1]}")
def test_graph_matches_architecture(key: tuple[str, int]) -> None:
    spec = NETWORKS[key]
    net = build_network(spec)
    layers = parse_param(_files(spec)[0])
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    ncnn_convs = [x for x in layers if x.type == "Convolution"]
    assert len(ncnn_convs) == len(convs)
    for layer, conv in zip(ncnn_convs, convs, strict=True):
        assert layer.int_param(0, 0) == conv.out_channels
        assert layer.int_param(6, 0) == conv.weight.numel()
        assert layer.int_param(5, 0) == 1 and conv.bias is not None
    # x4 nets take RGB directly (no pixel-unshuffle): the first conv has 3 input channels.
    assert ncnn_convs[0].int_param(6, 0) == 64 * 3 * 3 * 3
    interps = [x for x in layers if x.type == "Interp"]
    if spec.arch == "srvgg":
        # The nearest-upsampled input added to the output (SRVGGNetCompact's "base").
        assert interps[0].params[0] == "1" and float(interps[0].params[1]) == 4.0
        assert sum(x.type == "PReLU" for x in layers) == 17
        if spec.scale != 4:  # then a bicubic resize by scale/4
            assert interps[1].params[0] == "3" and float(interps[1].params[1]) == spec.scale / 4
    else:
        assert [(x.params[0], float(x.params[1])) for x in interps] == [("1", 2.0)] * 2


@pytest.fixture
def small_copy(tmp_path: Path) -> tuple[Path, Path, nn.Module]:
    """The animevideov3 files copied to tmp_path, and a matching fresh network."""
    spec = NETWORKS[("realesr-animevideov3", 4)]
    param, weights = _files(spec)
    shutil.copy(param, tmp_path / param.name)
    shutil.copy(weights, tmp_path / weights.name)
    return tmp_path / param.name, tmp_path / weights.name, build_network(spec)


def test_truncated_bin_is_rejected(small_copy: tuple[Path, Path, nn.Module]) -> None:
    param, weights, net = small_copy
    weights.write_bytes(weights.read_bytes()[:-4])
    with pytest.raises(WeightsFormatError, match="needs"):
        read_ncnn_state_dict(param, weights, net)


def test_trailing_bytes_are_rejected(small_copy: tuple[Path, Path, nn.Module]) -> None:
    param, weights, net = small_copy
    weights.write_bytes(weights.read_bytes() + b"\0\0\0\0")
    with pytest.raises(WeightsFormatError, match="left after"):
        read_ncnn_state_dict(param, weights, net)


def test_bad_tag_is_rejected(small_copy: tuple[Path, Path, nn.Module]) -> None:
    param, weights, net = small_copy
    blob = bytearray(weights.read_bytes())
    assert int.from_bytes(blob[:4], "little") == TAG_FP16
    blob[0] ^= 0xFF
    weights.write_bytes(bytes(blob))
    with pytest.raises(WeightsFormatError, match="tag"):
        read_ncnn_state_dict(param, weights, net)


def test_wrong_architecture_is_rejected() -> None:
    anime = NETWORKS[("realesrgan-x4plus-anime", 4)]
    photo_net = build_network(NETWORKS[("realesrgan-x4plus", 4)])
    with pytest.raises(WeightsFormatError, match="parameters"):
        read_ncnn_state_dict(*_files(anime), photo_net)
    srvgg_other = build_network(NetworkSpec("t", "srvgg", 4, "x", {"num_feat": 32, "num_conv": 16}))
    with pytest.raises(WeightsFormatError, match="values"):
        read_ncnn_state_dict(*_files(NETWORKS[("realesr-animevideov3", 4)]), srvgg_other)


def test_bad_param_magic_is_rejected(small_copy: tuple[Path, Path, nn.Module]) -> None:
    param, weights, net = small_copy
    param.write_text("123\n" + param.read_text().split("\n", 1)[1])
    with pytest.raises(WeightsFormatError, match="magic"):
        read_ncnn_state_dict(param, weights, net)


def test_fp16_padding_and_fp32_tag(tmp_path: Path) -> None:
    # A tiny graph: an odd-sized float16 blob (padded to 4 bytes) and a float32-tagged one.
    net = nn.Sequential(nn.Conv2d(1, 1, 1), nn.PReLU(1), nn.Conv2d(1, 3, 1))
    param = tmp_path / "tiny.param"
    param.write_text(
        "7767517\n4 4\n"
        "Input in 0 1 data\n"
        "Convolution c0 1 1 data a 0=1 1=1 5=1 6=1\n"
        "PReLU p 1 1 a b 0=1\n"
        "Convolution c1 1 1 b out 0=3 1=1 5=1 6=3\n"
    )
    f32 = np.dtype("<f4")
    blob = b"".join(
        [
            TAG_FP16.to_bytes(4, "little") + np.array([0.5], "<f2").tobytes() + b"\0\0",
            np.array([1.5], f32).tobytes(),  # c0 bias
            np.array([0.25], f32).tobytes(),  # PReLU slope
            (0).to_bytes(4, "little") + np.array([1, 2, 3], f32).tobytes(),  # fp32-tagged
            np.array([4, 5, 6], f32).tobytes(),  # c1 bias
        ]
    )
    weights = tmp_path / "tiny.bin"
    weights.write_bytes(blob)
    state = read_ncnn_state_dict(param, weights, net)
    assert [v.flatten().tolist() for v in state.values()] == [
        [0.5], [1.5], [0.25], [1.0, 2.0, 3.0], [4.0, 5.0, 6.0]
    ]  # fmt: skip
    net.load_state_dict(state, strict=True)
