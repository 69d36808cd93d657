"""The catalogue: agreement with the gateway's model list, and architecture shapes."""

from __future__ import annotations

import pytest
import torch

from shared.models import MODELS
from worker.engine import NETWORKS, NetworkSpec, build_network


def test_catalog_matches_gateway_models() -> None:
    gateway = {(m.name, s) for m in MODELS.values() for s in m.scales}
    assert set(NETWORKS) == gateway
    for (name, scale), spec in NETWORKS.items():
        assert (spec.name, spec.scale) == (name, scale)


def test_spec_is_hashable_and_frozen() -> None:
    spec = NETWORKS[("realesrgan-x4plus", 4)]
    assert hash(spec) == hash(NetworkSpec(**{**spec.__dict__}))
    with pytest.raises(AttributeError):
        spec.scale = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("key", "params"),
    [
        (("realesrgan-x4plus", 4), 16_697_987),
        (("realesrgan-x4plus-anime", 4), 4_467_779),
        (("realesr-animevideov3", 4), 621_424),
    ],
)
def test_parameter_counts(key: tuple[str, int], params: int) -> None:
    net = build_network(NETWORKS[key])
    assert sum(p.numel() for p in net.parameters()) == params


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_animevideov3_output_scale(scale: int) -> None:
    # x2/x3 are the x4 net plus a bicubic downscale, exactly like the shipped ncnn graphs.
    net = build_network(NETWORKS[("realesr-animevideov3", scale)]).eval()
    with torch.inference_mode():
        out = net(torch.rand(2, 3, 10, 14))
    assert out.shape == (2, 3, 10 * scale, 14 * scale)
