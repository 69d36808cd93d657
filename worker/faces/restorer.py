"""Face restorers from the operator's model directory: GFPGAN v1.2-v1.4 (clean architecture).

No PyPI package ships GFPGAN or CodeFormer weights, so the operator places an official
checkpoint in ``<WORKER_MODEL_DIR>/faces/`` (a sub-folder, because the model directory's own
files must be ``<name>-x<scale>`` upscalers). The file is recognised from its keys, not its
name: spandrel's ``GFPGANArch`` key condition (``toRGB.0.weight`` and
``stylegan_decoder.style_mlp.1.weight``) picks GFPGAN; the network is spandrel's copy of
GFPGAN's ``GFPGANv1Clean`` (Apache-2.0, TencentARC; spandrel itself is MIT) built with the
arguments ``GFPGANer`` uses for ``arch='clean'``, and loaded strictly. GFPGAN v1.2, v1.3 and
v1.4 share that layout (86,444,252 parameters, 345,777,008 bytes: spandrel's test snapshots of
the official files).

CodeFormer checkpoints are recognised (spandrel-extra-arches' key condition) but refused:
its code is under the non-commercial S-Lab License 1.0 and lives only in
``spandrel-extra-arches``, which this Apache-2.0 project does not install.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from shared.operator_models import face_restorer_file

__all__ = [
    "FaceModelError",
    "GfpganRestorer",
    "RestorerInfo",
    "find_face_restorer",
    "gfpgan_from_state_dict",
    "load_face_restorer",
    "read_face_checkpoint",
    "recognise_face_model",
]

#: Sub-folder of the operator's model directory that holds face restorers.
_SUFFIXES = (".pth", ".safetensors")
#: GFPGANer(arch="clean") in GFPGAN's gfpgan/utils.py.
_GFPGAN_CLEAN_ARGS = {
    "out_size": 512,
    "num_style_feat": 512,
    "channel_multiplier": 2,
    "decoder_load_path": None,
    "fix_decoder": False,
    "num_mlp": 8,
    "input_is_latent": True,
    "different_w": True,
    "narrow": 1,
    "sft_half": True,
}
#: spandrel-extra-arches' CodeFormerArch detection keys.
_CODEFORMER_KEYS = (
    "position_emb",
    "idx_pred_layer.1.weight",
    "quantize.embedding.weight",
    "ft_layers.0.self_attn.in_proj_weight",
    "encoder.blocks.0.weight",
)


class FaceModelError(Exception):
    """Raised when a face model file cannot be read, recognised or loaded."""


@dataclass(frozen=True)
class RestorerInfo:
    """What restores faces, for the job report: file, digest, architecture."""

    path: Path
    sha256: str
    architecture: str


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def read_face_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """The state dict in ``path``: ``.pth`` holding ``params_ema``/``params`` or the bare
    dict, or ``.safetensors``. Read into memory, not memory-mapped, so that replacing the
    file under a running worker cannot change its weights."""
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            raw: object = load_file(str(path))
        else:
            # weights_only: a checkpoint is data and must never run code in the worker.
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors, truncated files, ...
        raise FaceModelError(f"{path}: not a readable checkpoint: {exc}") from exc
    if not isinstance(raw, Mapping):
        raise FaceModelError(f"{path}: checkpoint is a {type(raw).__name__}, not a dict")
    tensors: Mapping[object, object] = raw
    for key in ("params_ema", "params"):  # EMA weights first, as GFPGANer does
        if isinstance(tensors.get(key), Mapping):
            tensors = tensors[key]  # type: ignore[assignment]
            break
    state = {}
    for name, value in tensors.items():
        if not isinstance(value, torch.Tensor):
            raise FaceModelError(f"{path}: entry {name!r} is not a tensor")
        state[str(name).removeprefix("module.")] = value
    return state


def recognise_face_model(state: Mapping[str, torch.Tensor]) -> str | None:
    """ "gfpgan", "codeformer", or ``None`` for a state dict of neither."""
    from spandrel.architectures.GFPGAN import GFPGANArch

    if GFPGANArch().detect(state):
        return "gfpgan"
    if all(key in state for key in _CODEFORMER_KEYS):
        return "codeformer"
    return None


class GfpganRestorer:
    """Runs GFPGAN on one aligned 512x512 face, as ``GFPGANer.enhance`` does."""

    face_size = 512

    def __init__(
        self, network: nn.Module, info: RestorerInfo, device: torch.device, dtype: torch.dtype
    ) -> None:
        """Move ``network`` to ``device``/``dtype`` (fp16 becomes fp32; see ``load``)."""
        self.info, self.device = info, torch.device(device)
        # spandrel marks GFPGAN supports_half=False (the StyleGAN2 demodulation overflows);
        # bf16 keeps fp32's range.
        self.dtype = torch.float32 if dtype == torch.float16 else dtype
        self.network = network.to(device=self.device, dtype=self.dtype).eval()

    def restore(self, crop: np.ndarray) -> np.ndarray:
        """A restored face (float32 RGB, 0..255) for an aligned uint8 RGB crop."""
        pixels = torch.from_numpy(np.ascontiguousarray(crop)).to(self.device)
        x = pixels.permute(2, 0, 1)[None].to(self.dtype) / 127.5 - 1.0  # [-1, 1], as GFPGANer
        with torch.inference_mode():
            # randomize_noise=False: the checkpoint's own noise buffers, so a photo always gets
            # the same face (GFPGANer draws fresh noise on every call).
            out = self.network(x, return_rgb=False, randomize_noise=False)[0]
        out = (out[0].float().clamp(-1.0, 1.0) + 1.0) * 127.5
        return out.permute(1, 2, 0).cpu().numpy()


def gfpgan_from_state_dict(state: Mapping[str, torch.Tensor], where: str) -> nn.Module:
    """spandrel's GFPGANv1Clean with GFPGANer's arguments, loaded strictly from ``state``."""
    from spandrel.architectures.GFPGAN import GFPGAN

    # Built on the meta device and filled by assignment: no 8 s of random initialisation
    # of 86 M parameters that the checkpoint overwrites anyway.
    with torch.device("meta"):
        network = GFPGAN(**_GFPGAN_CLEAN_ARGS)
    try:
        network.load_state_dict(dict(state), strict=True, assign=True)
    except RuntimeError as exc:
        raise FaceModelError(f"{where}: not a GFPGAN v1.2-v1.4 (clean) checkpoint: {exc}") from exc
    leftover = [n for n, t in [*network.named_parameters(), *network.named_buffers()] if t.is_meta]
    if leftover:
        raise FaceModelError(f"{where}: tensors left unloaded: {leftover[:5]}")
    return network.requires_grad_(False)


def load_face_restorer(
    path: Path, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> GfpganRestorer:
    """Hash, recognise and strictly load one face checkpoint; ``FaceModelError`` if it fails."""
    path = Path(path)
    try:
        digest = _sha256(path)
    except OSError as exc:
        raise FaceModelError(f"{path}: cannot read: {exc}") from exc
    state = read_face_checkpoint(path)
    kind = recognise_face_model(state)
    if kind == "codeformer":
        raise FaceModelError(
            f"{path}: CodeFormer is recognised but not supported: its code is under the "
            "non-commercial S-Lab License (spandrel-extra-arches); use GFPGAN v1.3/v1.4"
        )
    if kind != "gfpgan":
        raise FaceModelError(f"{path}: neither a GFPGAN nor a CodeFormer checkpoint")
    network = gfpgan_from_state_dict(state, str(path))
    info = RestorerInfo(path=path, sha256=digest, architecture="GFPGANv1Clean")
    return GfpganRestorer(network, info, torch.device(device), dtype)


def find_face_restorer(
    model_dir: Path | str | None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> tuple[GfpganRestorer | None, str]:
    """The one face restorer in ``<model_dir>/faces``, or ``None`` and the reason there is none.

    Which file it is, is decided by :func:`shared.operator_models.face_restorer_file` (the
    gateway offers face enhancement by the same rule); a file that does not load says why.
    """
    path, reason = face_restorer_file(model_dir)
    if path is None:
        return None, reason
    try:
        return load_face_restorer(path, device, dtype), f"loaded {path.name}"
    except FaceModelError as exc:
        return None, str(exc)
