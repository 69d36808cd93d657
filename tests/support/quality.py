"""The quality gate every fast path must pass: PSNR and NIQE against fp32 BasicSR on real photos.

A fast path (bf16, another runtime, a rewritten network, tiling...) passes when, on each of a
few real photographs, its output is within ``PSNR_MIN_DB`` of the reference *and* its NIQE
(a no-reference naturalness score, lower is better; ``basicsr.metrics.niqe``, the
MATLAB-equivalent implementation) differs from the reference's by at most ``NIQE_MAX_DELTA``.
The reference is the plain BasicSR network in fp32, NCHW, on the whole image at once: what
the architecture's authors run, with no tiling and no engine in between.

The photos are scikit-image's bundled ones (no download), cut to small crops so that the gate
runs on a CPU in seconds per image even for x4plus.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = [
    "NIQE_MAX_DELTA",
    "PSNR_MIN_DB",
    "GateReport",
    "ImageScore",
    "gate_photos",
    "niqe",
    "psnr",
    "quality_gate",
    "reference_upscale",
]

PSNR_MIN_DB = 45.0
NIQE_MAX_DELTA = 0.05
#: scikit-image's bundled real photographs (no download) and the crop origin used from each:
#: a face and hair, a coffee cup on a textured table, a cat's fur, a rocket on its gantry.
_PHOTOS = {"astronaut": (0, 100), "coffee": (40, 150), "chelsea": (20, 100), "rocket": (150, 270)}

Upscale = Callable[[np.ndarray], np.ndarray]


def gate_photos(side: int = 48, names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """``side``² crops (uint8 RGB, contiguous) of the bundled photos, by name."""
    from skimage import data

    chosen = list(names) if names is not None else list(_PHOTOS)
    crops = {}
    for name in chosen:
        y, x = _PHOTOS[name]
        image = getattr(data, name)()[..., :3]
        crops[name] = np.ascontiguousarray(image[y : y + side, x : x + side])
    return crops


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images in dB (``inf`` when identical)."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def niqe(rgb: np.ndarray) -> float:
    """NIQE of a uint8 RGB image (on its Y channel, as BasicSR's metric does by default)."""
    from basicsr.metrics.niqe import calculate_niqe

    # BasicSR takes BGR (OpenCV order) for its YCbCr conversion.
    return float(calculate_niqe(np.ascontiguousarray(rgb[..., ::-1]), crop_border=0))


def reference_upscale(network: nn.Module) -> Upscale:
    """The gate's reference: a fp32 NCHW copy of ``network`` run on the whole image at once."""
    ref = copy.deepcopy(network).to(device="cpu", dtype=torch.float32)
    ref = ref.to(memory_format=torch.contiguous_format).eval()

    def run(image: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255
        with torch.inference_mode():
            y = ref(x).clamp_(0, 1).mul_(255).round_().to(torch.uint8)
            return y[0].permute(1, 2, 0).contiguous().numpy()

    return run


@dataclass(frozen=True)
class ImageScore:
    """One photo's gate numbers."""

    name: str
    psnr_db: float
    niqe_reference: float
    niqe_candidate: float

    @property
    def niqe_delta(self) -> float:
        """|NIQE(candidate) - NIQE(reference)|."""
        return abs(self.niqe_candidate - self.niqe_reference)

    @property
    def passed(self) -> bool:
        """Whether this photo is within both limits."""
        return self.psnr_db >= PSNR_MIN_DB and self.niqe_delta <= NIQE_MAX_DELTA


@dataclass(frozen=True)
class GateReport:
    """The gate's verdict over all photos."""

    scores: tuple[ImageScore, ...]

    @property
    def passed(self) -> bool:
        """Every photo within both limits."""
        return all(s.passed for s in self.scores)

    @property
    def min_psnr_db(self) -> float:
        """The worst PSNR."""
        return min(s.psnr_db for s in self.scores)

    @property
    def max_niqe_delta(self) -> float:
        """The worst NIQE difference."""
        return max(s.niqe_delta for s in self.scores)

    def summary(self) -> str:
        """One line: verdict, worst PSNR, worst NIQE delta, per photo."""
        parts = ", ".join(
            f"{s.name} {s.psnr_db:.1f} dB / NIQE {s.niqe_reference:.3f}->{s.niqe_candidate:.3f}"
            for s in self.scores
        )
        verdict = "PASS" if self.passed else "FAIL"
        return (
            f"{verdict}: min PSNR {self.min_psnr_db:.2f} dB (>= {PSNR_MIN_DB}), max |dNIQE| "
            f"{self.max_niqe_delta:.4f} (<= {NIQE_MAX_DELTA}); {parts}"
        )


def quality_gate(
    candidate: Upscale, reference: Upscale, photos: dict[str, np.ndarray]
) -> GateReport:
    """Score ``candidate`` against ``reference`` on each photo (uint8 RGB in and out)."""
    scores = []
    for name, image in photos.items():
        want, got = reference(image), candidate(image)
        scores.append(ImageScore(name, psnr(got, want), niqe(want), niqe(got)))
    return GateReport(tuple(scores))
