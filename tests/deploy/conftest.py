"""Fixtures of the deployment tests: the tools they need (kubectl, kubernetes-validate,
promtool, hadolint). Locally a missing tool skips its tests; under CI=true it fails them."""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

from tests.support.env import skip_or_fail


@pytest.fixture(scope="session")
def kubectl() -> str:
    """Path of kubectl (renders the kustomize overlays)."""
    path = shutil.which("kubectl")
    if path is None:
        skip_or_fail("kubectl is not installed (apt-get install kubectl)")
    return str(path)


@pytest.fixture(scope="session")
def kubernetes_validate() -> Any:
    """The kubernetes-validate module (offline Kubernetes API schemas)."""
    try:
        import kubernetes_validate
    except ImportError:
        skip_or_fail("kubernetes-validate is not installed (pip install kubernetes-validate)")
    return kubernetes_validate


@pytest.fixture(scope="session")
def promtool() -> str:
    """Path of promtool (Debian package prometheus)."""
    path = shutil.which("promtool")
    if path is None:
        skip_or_fail("promtool is not installed (apt-get install prometheus)")
    return str(path)


HEAVY = os.environ.get("PICUPSCALER_HEAVY_TESTS", "").lower() in ("1", "true", "yes")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect tests marked ``heavy`` (the worker image's 5.6 GB install) unless
    PICUPSCALER_HEAVY_TESTS=1: deselected, not skipped, so CI reports no skip for them."""
    if HEAVY:
        return
    heavy = [item for item in items if item.get_closest_marker("heavy")]
    if heavy:
        config.hook.pytest_deselected(items=heavy)
        items[:] = [item for item in items if not item.get_closest_marker("heavy")]
