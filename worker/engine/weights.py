"""Build a network with its weights: ncnn conversion once, then a cached ``.pt`` state dict."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from worker.engine import ncnn
from worker.engine.catalog import NetworkSpec, build_network
from worker.engine.checkpoints import read_state_dict

__all__ = ["cache_path_for", "load_checkpoint_state_dict", "load_network"]

log = logging.getLogger(__name__)

# Bump when the conversion changes, so stale caches are ignored rather than trusted.
_CACHE_VERSION = "1"


def _ncnn_paths(spec: NetworkSpec) -> tuple[Path, Path]:
    """Return the ``.param`` and ``.bin`` paths of ``spec``."""
    base = ncnn.ncnn_model_dir() / spec.ncnn_stem
    return base.with_suffix(".param"), base.with_suffix(".bin")


def cache_path_for(spec: NetworkSpec, cache_dir: Path) -> Path:
    """Return the cache file for ``spec``: ``<stem>-<16 hex of sha256(key + .param + .bin)>.pt``."""
    param_path, bin_path = _ncnn_paths(spec)
    digest = hashlib.sha256()
    # The architecture is part of the key: the same files mapped onto another net differ.
    digest.update(f"v{_CACHE_VERSION}|{spec.arch}|{sorted(spec.arch_kwargs.items())}|".encode())
    for path in (param_path, bin_path):
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    return Path(cache_dir) / f"{spec.ncnn_stem}-{digest.hexdigest()[:16]}.pt"


def _save_atomic(state: Mapping[str, torch.Tensor], path: Path) -> None:
    """Write ``state`` to ``path`` via a temporary file and ``os.replace`` (no torn files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(dict(state), fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; public weights may be shared across users
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load_cached(path: Path) -> dict[str, torch.Tensor] | None:
    """Return the cached state dict, or ``None`` when absent or unreadable."""
    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a corrupt cache must never stop the worker: convert again
        log.warning("ignoring unreadable weights cache %s", path, exc_info=True)
        return None


def load_network(spec: NetworkSpec, *, cache_dir: Path | None) -> nn.Module:
    """Return ``spec``'s network with its official weights, in eval mode, without gradients."""
    net = build_network(spec)
    cache = cache_path_for(spec, cache_dir) if cache_dir is not None else None
    state = _load_cached(cache) if cache is not None else None
    if state is not None:
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError:
            log.warning("weights cache %s does not fit %s; converting again", cache, spec.name)
            state = None
    if state is None:
        param_path, bin_path = _ncnn_paths(spec)
        state = ncnn.read_ncnn_state_dict(param_path, bin_path, net)
        net.load_state_dict(state, strict=True)
        if cache is not None:
            try:
                _save_atomic(state, cache)
            except OSError:  # a read-only or full cache dir only costs start-up time
                log.warning("could not write weights cache %s", cache, exc_info=True)
    net.eval()
    net.requires_grad_(False)
    return net


def load_checkpoint_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read an official BasicSR ``.pth`` or ``.safetensors``: ``params_ema``, else ``params``."""
    path = Path(path)
    return read_state_dict(path.read_bytes(), path.suffix.lower(), str(path))
