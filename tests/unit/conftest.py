"""``tests/unit`` runs without services, kubectl or model weights: a test here that reaches for
the real weights fails at once (they are for ``tests/engine``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _no_model_weights(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("tests/unit must not load model weights: put this in tests/engine")

    # Every path to the shipped weights: the ncnn package's folder (built-in models, read by
    # worker.engine.weights and worker.models) and the face detector's ONNX graph.
    monkeypatch.setattr("worker.engine.ncnn.ncnn_model_dir", refuse)
    monkeypatch.setattr("worker.models.ncnn_model_dir", refuse)
    monkeypatch.setattr("worker.faces.detector.onnx_graph_bytes", refuse)
    yield
