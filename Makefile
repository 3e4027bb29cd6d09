# Two commands on a fresh clone:  make demo   |   make test
PYTHON ?= python3
VENV ?= .venv
# CPU torch for this project's machines; CUDA users: make TORCH_SPEC= (then install the torch build for
# your CUDA into .venv yourself, see README) or pass TORCH_INDEX=--index-url=https://download.pytorch.org/whl/cpu
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements-cpu.txt pyproject.toml | cksum | cut -d' ' -f1)
RAY_STAMP := $(VENV)/.ray-$(shell cat requirements-ray.txt | cksum | cut -d' ' -f1)
LLAMACPP_STAMP := $(VENV)/.llamacpp-$(shell cat requirements-llamacpp.txt | cksum | cut -d' ' -f1)
# llama.cpp's default (native) build crashed with "Illegal instruction" on this project's VM: a portable build,
# with AVX2 kernels where the CPU has them. Override for your CPU: make LLAMACPP_CMAKE_ARGS="-DGGML_NATIVE=ON"
LLAMACPP_CMAKE_ARGS ?= -DGGML_NATIVE=OFF $(if $(shell grep -qw avx2 /proc/cpuinfo 2>/dev/null && echo y),-DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON)

.PHONY: setup demo test lint format clean-results browser-deps app ray-deps llamacpp-deps

setup: $(STAMP)

$(STAMP): requirements-cpu.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	if [ -n "$(TORCH_SPEC)" ]; then $(BIN)/python -m pip install -q $(TORCH_INDEX) "$(TORCH_SPEC)"; fi
	$(BIN)/python -m pip install -q -r requirements-cpu.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: setup llamacpp-deps
	$(BIN)/explorer demo --out results

lint: setup
	$(BIN)/ruff check explorer tests
	$(BIN)/ruff format --check explorer tests

format: setup
	$(BIN)/ruff format explorer tests
	$(BIN)/ruff check --fix explorer tests

# Debian Chromium for the real-browser tests (Playwright's own browser download cannot work offline);
# needs root + apt; without them the browser tests skip with a reason.
browser-deps:
	-command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

app: setup
	$(BIN)/explorer app data/demo_cpu

# the [ray] extra, pinned: the Ray executor's tests run on a local Ray cluster
ray-deps: $(RAY_STAMP)

$(RAY_STAMP): requirements-ray.txt $(STAMP)
	$(BIN)/python -m pip install -q -r requirements-ray.txt
	rm -f $(VENV)/.ray-*
	touch $(RAY_STAMP)

# the [llamacpp] extra: llama-cpp-python compiled from its sdist (6-7 min here; pip caches the wheel). Where it
# cannot be built (no compiler) the line says so and the llama.cpp tests skip with that reason.
llamacpp-deps: $(LLAMACPP_STAMP)

$(LLAMACPP_STAMP): requirements-llamacpp.txt $(STAMP)
	@echo "building llama-cpp-python (CMAKE_ARGS=$(LLAMACPP_CMAKE_ARGS)); about 7 minutes on 2 cores the first time"
	CMAKE_ARGS="$(LLAMACPP_CMAKE_ARGS)" $(BIN)/python -m pip install -q -r requirements-llamacpp.txt && \
	  { rm -f $(VENV)/.llamacpp-*; touch $(LLAMACPP_STAMP); } || \
	  echo "llama-cpp-python could not be built: the llama.cpp backend and its tests are off (see README)"

test: setup ray-deps llamacpp-deps lint browser-deps
	$(BIN)/python -m pytest -q -ra

clean-results:
	rm -rf results
