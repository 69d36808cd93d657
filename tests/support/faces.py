"""A face restorer checkpoint for the tests: GFPGAN's official key layout, random values.

No package ships GFPGAN or CodeFormer weights (FACTS.md), so tests write a file with the
exact key names and shapes of GFPGANer's ``GFPGANv1Clean`` (arguments as in GFPGAN's
gfpgan/utils.py), wrapped in ``{"params_ema": ...}`` like the released files.
"""

from __future__ import annotations

from pathlib import Path

import torch

#: GFPGANer(arch="clean", channel_multiplier=2) in GFPGAN's gfpgan/utils.py.
GFPGANER_CLEAN = dict(
    out_size=512,
    num_style_feat=512,
    channel_multiplier=2,
    decoder_load_path=None,
    fix_decoder=False,
    num_mlp=8,
    input_is_latent=True,
    different_w=True,
    narrow=1,
    sft_half=True,
)


def official_layout_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors under the official GFPGAN v1.3/v1.4 key layout."""
    from spandrel.architectures.GFPGAN import GFPGAN

    with torch.device("meta"):
        layout = GFPGAN(**GFPGANER_CLEAN).state_dict()
    generator = torch.Generator().manual_seed(seed)
    return {k: torch.randn(v.shape, generator=generator) * 0.05 for k, v in layout.items()}


def write_face_restorer(model_dir: Path) -> Path:
    """``<model_dir>/faces/GFPGANv1.4.pth`` in the released files' format (about 350 MB)."""
    path = model_dir / "faces" / "GFPGANv1.4.pth"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"params_ema": official_layout_state()}, path)
    return path
