"""Fixtures for the engine tests: converted networks are loaded once per session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from skimage import data
from torch import nn

from worker.engine import NETWORKS, load_network


@pytest.fixture(scope="session")
def weights_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide weights cache folder."""
    return tmp_path_factory.mktemp("weights-cache")


@pytest.fixture(scope="session")
def network(weights_cache: Path) -> Callable[[str, int], nn.Module]:
    """Return a loader of (model, scale) networks that converts each one only once."""
    loaded: dict[tuple[str, int], nn.Module] = {}

    def get(name: str, scale: int) -> nn.Module:
        key = (name, scale)
        if key not in loaded:
            loaded[key] = load_network(NETWORKS[key], cache_dir=weights_cache)
        return loaded[key]

    return get


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """skimage's 512x512 RGB astronaut photo (uint8)."""
    return np.ascontiguousarray(data.astronaut())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/engine is marked ``weights`` (``-m "not weights"`` skips it)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.weights)
