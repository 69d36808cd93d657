# PicUpscaler: `make run` serves the product, `make test` passes the tests.
# Both create the virtual environment on first use (.venv) and reinstall when pyproject changes.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

.PHONY: run test setup lint bench clean distributed-help loadtest

run: setup ## All-in-one: gateway + in-process worker + janitor on http://127.0.0.1:8000
	$(PY) -m allinone

test: setup lint ## Lint, then every test: unit, integration (RabbitMQ + S3 endpoint), e2e
	$(PY) -m pytest

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel
	# torch first: basicsr-fixed's setup imports torch, so it builds without isolation.
	$(PIP) install -q torch==2.14.1 torchvision==0.29.1
	$(PIP) install -q --no-build-isolation basicsr-fixed==1.4.2
	$(PIP) install -q -e '.[gateway,worker,janitor,dev]'
	touch $@

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy gateway janitor shared worker allinone

bench: setup ## Engine vs the reference RealESRGANer (installed here only, without its deps)
	$(PY) -c 'import realesrgan' 2>/dev/null || $(PIP) install -q --no-deps realesrgan==0.3.0
	$(PY) bench/engine.py

loadtest: setup ## Locust + lost-job check: LOADTEST_ARGS="--host https://…" for a deployment, none for a local stack; --help
	$(PY) -c 'import locust' 2>/dev/null || $(PIP) install -q -e '.[load]'
	$(PY) loadtest/run.py $(LOADTEST_ARGS)

clean:
	rm -rf var .pytest_cache
