"""Operator-supplied BasicSR checkpoints: read them, recognise the architecture, verify them.

An official Real-ESRGAN/BasicSR checkpoint is a ``.pth`` holding ``{"params_ema": state}`` or
``{"params": state}`` (or the bare state dict), or a ``.safetensors`` file with the flat state
dict (keys optionally prefixed ``params_ema.`` / ``params.``). The architecture and its
arguments are read off the state dict's keys and shapes:

* RRDBNet: ``conv_first``, ``body.N.rdb1.conv1`` ... ``conv_last``. num_feat, num_grow_ch and
  num_out_ch from the weight shapes, num_block from the largest N; the scale from conv_first's
  input channels (RRDBNet pixel-unshuffles x2 and x1 inputs: 3 -> x4, 12 -> x2, 48 -> x1).
* SRVGGNetCompact: ``body.K.weight`` only. Convolutions at even K; PReLU slopes (1-D) at odd
  K; num_conv = (number of convs) - 2; the upscale from the last conv's output channels
  (num_out_ch * upscale^2).
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from worker.engine.catalog import NetworkSpec, build_network
from worker.engine.ncnn import WeightsFormatError

__all__ = ["CheckpointInfo", "detect_spec", "load_checkpoint", "read_state_dict"]

_PREFIXES = ("params_ema.", "params.")


@dataclass(frozen=True)
class CheckpointInfo:
    """A verified checkpoint: where it is, its digest, and the network it describes."""

    path: Path
    sha256: str
    spec: NetworkSpec


def _tensors(raw: Mapping[str, object], where: str) -> dict[str, torch.Tensor]:
    """Check every value is a tensor; drop DataParallel's ``module.`` prefix."""
    state = {}
    for name, value in raw.items():
        if not isinstance(value, torch.Tensor):
            raise WeightsFormatError(f"{where}: entry {name!r} is not a tensor")
        state[str(name).removeprefix("module.")] = value
    return state


def read_state_dict(data: bytes, suffix: str, where: str) -> dict[str, torch.Tensor]:
    """Parse checkpoint bytes (``.pth`` or ``.safetensors``) into a state dict."""
    if suffix == ".safetensors":
        try:
            from safetensors.torch import load as load_safetensors
        except ModuleNotFoundError as exc:
            raise WeightsFormatError(
                f"{where}: reading .safetensors needs the 'safetensors' package"
            ) from exc
        flat = load_safetensors(data)
        # Prefer EMA weights, as BasicSR does, when a file holds both sets.
        for prefix in _PREFIXES:
            picked = {k[len(prefix) :]: v for k, v in flat.items() if k.startswith(prefix)}
            if picked:
                return _tensors(picked, where)
        return _tensors(flat, where)
    # weights_only: a checkpoint is data; never let it run code in the worker.
    raw = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if not isinstance(raw, Mapping):
        raise WeightsFormatError(f"{where}: checkpoint is a {type(raw).__name__}, not a dict")
    for key in ("params_ema", "params"):
        if isinstance(raw.get(key), Mapping):
            raw = raw[key]
            break
    return _tensors(raw, where)


def _shape(state: Mapping[str, torch.Tensor], key: str, where: str) -> tuple[int, ...]:
    """Shape of ``state[key]``, or a clear error when the key is missing."""
    if key not in state:
        raise WeightsFormatError(f"{where}: expected key {key!r} is missing")
    return tuple(state[key].shape)


def detect_spec(state: Mapping[str, torch.Tensor], name: str, where: str) -> NetworkSpec:
    """Recognise RRDBNet or SRVGGNetCompact from ``state`` and return a spec for it."""
    if "conv_first.weight" in state:
        feat, first_in = _shape(state, "conv_first.weight", where)[:2]
        out_ch = _shape(state, "conv_last.weight", where)[0]
        grow = _shape(state, "body.0.rdb1.conv1.weight", where)[0]
        blocks = {int(m.group(1)) for k in state if (m := re.match(r"body\.(\d+)\.", k))}
        unshuffle = first_in // out_ch if first_in % out_ch == 0 else 0
        scale = {1: 4, 4: 2, 16: 1}.get(unshuffle)
        if scale is None or any(k.startswith("conv_up3") for k in state):
            raise WeightsFormatError(f"{where}: RRDBNet with unsupported scale layout")
        kwargs: dict[str, Any] = {
            "num_in_ch": out_ch,
            "num_out_ch": out_ch,
            "scale": scale,
            "num_feat": feat,
            "num_block": max(blocks) + 1,
            "num_grow_ch": grow,
        }
        return NetworkSpec(name, "rrdb", scale, "", kwargs)
    if "body.0.weight" in state:
        weights = {
            int(m.group(1)): v
            for k, v in state.items()
            if (m := re.fullmatch(r"body\.(\d+)\.weight", k))
        }
        convs = sorted(k for k, v in weights.items() if v.dim() == 4)
        feat, in_ch = _shape(state, "body.0.weight", where)[:2]
        if "body.1.weight" not in state:
            raise WeightsFormatError(f"{where}: SRVGGNetCompact without PReLU is not supported")
        last_out = _shape(state, f"body.{convs[-1]}.weight", where)[0]
        upscale = math.isqrt(last_out // in_ch)
        if len(convs) < 2 or upscale**2 * in_ch != last_out:
            raise WeightsFormatError(f"{where}: cannot read SRVGGNetCompact's shape")
        kwargs = {
            "num_in_ch": in_ch,
            "num_out_ch": in_ch,
            "num_feat": feat,
            "num_conv": len(convs) - 2,
            "upscale": upscale,
            "act_type": "prelu",
        }
        return NetworkSpec(name, "srvgg", upscale, "", kwargs)
    raise WeightsFormatError(f"{where}: neither an RRDBNet nor an SRVGGNetCompact state dict")


def load_checkpoint(path: Path, name: str, scale: int) -> tuple[CheckpointInfo, nn.Module]:
    """Read, hash, recognise and strictly load ``path``; raise ``WeightsFormatError`` if it fails.

    ``scale`` (from the file name) must be the network's own scale. Every failure names the
    file, so a bad file stops the worker at start-up with a message an operator can act on.
    """
    path = Path(path)
    where = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WeightsFormatError(f"{where}: cannot read: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    try:
        state = read_state_dict(data, path.suffix.lower(), where)
        spec = detect_spec(state, name, where)
        if spec.scale != scale:
            raise WeightsFormatError(
                f"{where}: the file name says x{scale} but the network upscales x{spec.scale}"
            )
        network = build_network(spec)
        network.load_state_dict(state, strict=True)
    except WeightsFormatError:
        raise
    except Exception as exc:  # unpickling errors, bad shapes, truncated files...
        raise WeightsFormatError(f"{where}: not a loadable checkpoint: {exc}") from exc
    network.eval()
    network.requires_grad_(False)
    return CheckpointInfo(path, digest, spec), network
