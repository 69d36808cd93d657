"""Face restorers from the model directory: an official-layout GFPGAN checkpoint, strictly.

No package ships GFPGAN weights, so the checkpoint is generated: random values under the
exact key names and shapes of GFPGANer's ``GFPGANv1Clean`` (arguments written out below, as
in GFPGAN's gfpgan/utils.py), wrapped in ``{"params_ema": ...}`` like the released files.
Independent anchor: spandrel's test snapshots of the official v1.2/v1.3/v1.4 files report
345,777,008 bytes of parameters, which the loaded network must have too.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from tests.engine.faces.photos import astronaut
from tests.support.faces import official_layout_state
from worker.faces import FaceModelError, find_face_restorer, load_face_enhancer, load_face_restorer
from worker.faces.restorer import gfpgan_from_state_dict

OFFICIAL_PARAMETER_BYTES = 345_777_008
CODEFORMER_KEYS = (
    "position_emb",
    "idx_pred_layer.1.weight",
    "quantize.embedding.weight",
    "ft_layers.0.self_attn.in_proj_weight",
    "encoder.blocks.0.weight",
)


@pytest.fixture(scope="module")
def official_state() -> dict[str, torch.Tensor]:
    return official_layout_state()


@pytest.fixture(scope="module")
def gfpgan_file(tmp_path_factory, official_state) -> Path:
    path = tmp_path_factory.mktemp("models") / "faces" / "GFPGANv1.4.pth"
    path.parent.mkdir()
    torch.save({"params_ema": official_state}, path)
    return path


def test_official_layout_loads_strictly(gfpgan_file: Path, official_state) -> None:
    restorer = load_face_restorer(gfpgan_file)
    assert restorer.info.sha256 == hashlib.sha256(gfpgan_file.read_bytes()).hexdigest()
    assert restorer.info.architecture == "GFPGANv1Clean"
    network = restorer.network
    parameter_bytes = sum(p.numel() * p.element_size() for p in network.parameters())
    assert parameter_bytes == OFFICIAL_PARAMETER_BYTES
    loaded = network.state_dict()
    assert set(loaded) == set(official_state) and len(loaded) == 285
    assert all(torch.equal(loaded[k], official_state[k]) for k in official_state)


@pytest.mark.parametrize("damage", ["missing", "unexpected", "shape"])
def test_a_damaged_layout_is_refused(official_state, damage: str) -> None:
    state = dict(official_state)
    if damage == "missing":
        del state["final_linear.weight"]
    elif damage == "unexpected":
        state["stylegan_decoder.extra.weight"] = torch.zeros(3)
    else:
        state["conv_body_first.weight"] = torch.zeros(32, 3, 3, 3)
    with pytest.raises(FaceModelError, match="not a GFPGAN"):
        gfpgan_from_state_dict(state, "test")


def test_codeformer_is_recognised_and_refused_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "codeformer.safetensors"
    save_file({key: torch.zeros(2, 2) for key in CODEFORMER_KEYS}, str(path))
    with pytest.raises(FaceModelError, match="CodeFormer is recognised but not supported"):
        load_face_restorer(path)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"not a checkpoint at all", "not a readable checkpoint"),
        ("realesrgan", "neither a GFPGAN nor a CodeFormer"),
    ],
)
def test_other_files_are_refused(tmp_path: Path, content, reason: str) -> None:
    path = tmp_path / "model.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save({"params_ema": {"conv_first.weight": torch.zeros(64, 3, 3, 3)}}, path)
    with pytest.raises(FaceModelError, match=reason):
        load_face_restorer(path)


def test_find_face_restorer_says_why_there_is_none(tmp_path: Path) -> None:
    assert find_face_restorer(None) == (None, "no model directory is configured (MODEL_DIR)")
    assert "no face model folder" in find_face_restorer(tmp_path)[1]
    faces = tmp_path / "faces"
    faces.mkdir()
    assert "no face restorer checkpoint" in find_face_restorer(tmp_path)[1]
    (faces / "a.pth").write_bytes(b"x")
    (faces / "b.safetensors").write_bytes(b"y")
    restorer, reason = find_face_restorer(tmp_path)
    assert restorer is None and "keep one" in reason and "a.pth, b.safetensors" in reason
    (faces / "b.safetensors").unlink()
    restorer, reason = find_face_restorer(tmp_path)
    assert restorer is None and "not a readable checkpoint" in reason


@pytest.mark.slow
def test_gfpgan_restores_deterministically(gfpgan_file: Path) -> None:
    restorer = load_face_restorer(gfpgan_file)
    crop = np.ascontiguousarray(astronaut())  # already 512x512
    first, second = restorer.restore(crop), restorer.restore(crop)
    assert first.shape == (512, 512, 3) and first.dtype == np.float32
    assert first.min() >= 0.0 and first.max() <= 255.0
    assert np.array_equal(first, second)  # the checkpoint's noise, not fresh noise


@pytest.mark.slow
def test_model_dir_with_a_gfpgan_checkpoint_enhances_faces(gfpgan_file: Path) -> None:
    model_dir = gfpgan_file.parent.parent
    enhancer, reason = load_face_enhancer(model_dir, "cpu", torch.float32)
    assert enhancer is not None, reason
    image = astronaut()
    up = np.repeat(np.repeat(image, 2, axis=0), 2, axis=1)
    out, report = enhancer.enhance(image, up, fidelity=0.0)
    assert (report.found, report.restored) == (1, 1)
    assert report.restorer_sha256 == hashlib.sha256(gfpgan_file.read_bytes()).hexdigest()
    assert not np.array_equal(out, up)


def test_model_dir_without_a_face_folder_reports_why(tmp_path: Path) -> None:
    enhancer, reason = load_face_enhancer(tmp_path)
    assert enhancer is None and "no face model folder" in reason
