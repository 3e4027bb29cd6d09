# Two commands on a fresh clone:  make demo   |   make test
PYTHON ?= python3
VENV ?= .venv
# CPU torch for this project's machines; CUDA users: make TORCH_SPEC= (then install the torch build for
# your CUDA into .venv yourself, see README) or pass TORCH_INDEX=--index-url=https://download.pytorch.org/whl/cpu
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements-cpu.txt pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: setup demo test lint format clean-results

setup: $(STAMP)

$(STAMP): requirements-cpu.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	if [ -n "$(TORCH_SPEC)" ]; then $(BIN)/python -m pip install -q $(TORCH_INDEX) "$(TORCH_SPEC)"; fi
	$(BIN)/python -m pip install -q -r requirements-cpu.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: setup
	$(BIN)/explorer demo --out results

lint: setup
	$(BIN)/ruff check explorer tests
	$(BIN)/ruff format --check explorer tests

format: setup
	$(BIN)/ruff format explorer tests
	$(BIN)/ruff check --fix explorer tests

test: setup lint
	$(BIN)/python -m pytest -q -ra

clean-results:
	rm -rf results
