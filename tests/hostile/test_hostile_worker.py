"""The worker's side of hostile input: decoding never fails in an unexpected way, and the
uploads the gateway accepts come out right.

- Every file in the corpus, accepted or not, through :func:`worker.imaging.decode`: a decoded
  image or :class:`~worker.imaging.ImageDecodeError`, never another exception (a file the
  gateway refuses could still reach storage through a bug; the worker must not trip on it).
- Every accepted file decodes, and encodes to PNG, JPEG and WebP at twice its size (a plain
  pixel repeat stands in for the model) with a sane mode.
- The ``end_to_end`` entries go the whole way: the gateway accepts them (in-process), the
  worker's ``process_job`` runs the real ``realesr-animevideov3`` x2 model on them, and the
  result downloaded through the API has the right size.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from gateway.app import create_app
from gateway.services import Services
from shared.formats import OUTPUT_FORMATS
from shared.manifest import load_manifest
from tests.hostile.corpus import CORPUS, MAX_INPUT_PIXELS, Entry
from tests.hostile.harness import gateway_settings, send
from tests.support.env import MODEL_CACHE
from worker import imaging
from worker.models import ModelPool
from worker.processing import JobContext, process_job
from worker.settings import WorkerSettings

FILES = [e for e in CORPUS if e.data is not None]
#: Refused by the gateway's structure limits before Pillow sees them; Pillow alone takes
#: seconds on each (the reason for those limits), so the worker is not made to here.
GATEWAY_ONLY = {"png-million-chunks.png", "tiff-million-strips.tif", "jpeg-10000-scans.jpg"}
ACCEPTED = [e for e in FILES if e.accepted]
END_TO_END = [e for e in CORPUS if e.end_to_end]
#: Above this many input pixels the encode round is skipped (the at-limit PNG: 64 MP out).
ENCODE_MAX_PIXELS = 1_000_000
#: Modes a result may have, by format.
SANE_MODES = {
    "png": {"RGB", "RGBA", "L", "LA", "I;16", "I"},
    "jpeg": {"RGB", "L"},
    "webp": {"RGB", "RGBA"},
}


@pytest.fixture(autouse=True)
def _worker_pixel_limit() -> Iterator[None]:
    """The worker sets Pillow's limit to the input limit at start-up; do so, then restore."""
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = MAX_INPUT_PIXELS
    yield
    Image.MAX_IMAGE_PIXELS = saved


def upright_size(data: bytes) -> tuple[int, int]:
    """(width, height) after applying the EXIF orientation, as a viewer shows the image."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one "Tag data larger than file" per hostile tag
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            orientation = 1
            with contextlib.suppress(Exception):
                orientation = img.getexif().get(0x0112, 1)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


@pytest.mark.parametrize(
    "entry", [e for e in FILES if e.name not in GATEWAY_ONLY], ids=lambda e: e.name
)
def test_decode_gives_an_image_or_a_clean_error(entry: Entry) -> None:
    data = entry.file_bytes()
    assert data is not None
    try:
        decoded = imaging.decode(data)
    except imaging.ImageDecodeError:
        assert not entry.accepted, f"{entry.name} was accepted by the gateway but not decoded"
        return
    rgb = decoded.rgb
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    if decoded.alpha is not None:
        assert decoded.alpha.shape == rgb.shape[:2]


@pytest.mark.parametrize("entry", ACCEPTED, ids=lambda e: e.name)
def test_accepted_files_encode_at_the_right_size(entry: Entry) -> None:
    data = entry.file_bytes()
    assert data is not None
    width, height = upright_size(data)
    if width * height > ENCODE_MAX_PIXELS:
        pytest.skip("decoded above; encoding 64 MP three times is not worth the time here")
    decoded = imaging.decode(data)
    assert decoded.rgb.shape[:2] == (height, width)
    pixels = np.repeat(np.repeat(decoded.rgb, 2, axis=0), 2, axis=1)
    size = (2 * width, 2 * height)
    alpha = imaging.upscale_alpha(decoded, size)
    for fmt in ("png", "jpeg", "webp"):
        if max(size) > OUTPUT_FORMATS[fmt].max_side:
            continue  # the gateway refuses this combination (images.check_output_size)
        out = imaging.encode(pixels, alpha, decoded, fmt).data
        with Image.open(io.BytesIO(out)) as result:
            assert result.format == fmt.upper()
            assert result.size == size
            assert result.mode in SANE_MODES[fmt], (fmt, result.mode)
            # A profile is copied only if it is one (the corrupt ones are dropped).
            profile = result.info.get("icc_profile")
            assert profile is None or profile == decoded.icc_profile


def test_corrupt_profiles_are_dropped_not_fatal() -> None:
    """The two bugs the corpus found: a garbage CMYK profile failed the whole decode, and a
    garbage RGB profile was copied into the result."""
    from tests.hostile.corpus import by_name

    for name in ("cmyk-corrupt-icc.jpg", "jpeg-fake-rgb-icc.jpg"):
        data = by_name(name).file_bytes()
        assert data is not None
        decoded = imaging.decode(data)
        assert decoded.icc_profile is None
        assert "icc_profile" in decoded.fidelity.dropped


def test_unparseable_exif_is_dropped_not_fatal() -> None:
    """A broken EXIF header (here in a PNG eXIf chunk) failed the decode of good pixels."""
    from tests.hostile.corpus import by_name

    data = by_name("png-exif-bad-header.png").file_bytes()
    assert data is not None
    decoded = imaging.decode(data)
    assert decoded.rgb.shape == (48, 64, 3)
    assert "exif" in decoded.fidelity.dropped


def test_the_worker_opens_only_the_accepted_formats() -> None:
    """PostScript would be handed to Ghostscript, ICO and others are not accepted."""
    from tests.hostile.corpus import EPS, gradient, save

    for data in (EPS, save(gradient(16, 16), "ICO"), save(gradient(16, 16), "PPM")):
        with pytest.raises(imaging.ImageDecodeError):
            imaging.decode(data)


# --- end to end -----------------------------------------------------------------------------


class Pipeline:
    """An in-process gateway and a worker context sharing its storage and keys."""

    def __init__(self, client: TestClient, ctx: JobContext) -> None:
        self.client = client
        self.ctx = ctx


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """Gateway (TestClient) plus JobContext with the real small model on the CPU."""
    settings = gateway_settings(tmp_path_factory.mktemp("hostile-e2e"))
    saved = Image.MAX_IMAGE_PIXELS
    try:
        app = create_app(settings)
        services: Services = app.state.services
        models = ModelPool(
            WorkerSettings(preload=[], model_cache_dir=Path(MODEL_CACHE), device="cpu")
        )
        ctx = JobContext(
            store=services.store,
            audit_store=services.audit_store,
            keyring=services.keyring,
            models=models,
            max_attempts=3,
        )
        with TestClient(app, raise_server_exceptions=False) as client:
            yield Pipeline(client, ctx)
    finally:
        Image.MAX_IMAGE_PIXELS = saved


@pytest.mark.slow
@pytest.mark.parametrize("entry", END_TO_END, ids=lambda e: e.name)
def test_accepted_job_succeeds_end_to_end(pipeline: Pipeline, entry: Entry) -> None:
    assert dict(entry.fields).get("scale") == "2", "end-to-end entries use the cheap options"
    response = send(pipeline.client, entry)
    assert response.status_code == 202, response.text
    job = response.json()
    auth = {"Authorization": f"Bearer {job['token']}"}

    process_job(job_id=job["id"], ctx=pipeline.ctx)

    manifest = load_manifest(pipeline.ctx.store, job["id"])
    assert manifest is not None
    status = pipeline.client.get(job["links"]["self"], headers=auth).json()
    assert status["status"] == "succeeded", status
    data = entry.file_bytes()
    assert data is not None
    width, height = upright_size(data)
    assert (status["result"]["width"], status["result"]["height"]) == (2 * width, 2 * height)
    result = pipeline.client.get(job["links"]["result"], headers=auth)
    assert result.status_code == 200
    with Image.open(io.BytesIO(result.content)) as img:
        assert img.format == "PNG" and img.size == (2 * width, 2 * height)
        assert img.mode in SANE_MODES["png"]
        img.load()
