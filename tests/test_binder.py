"""The Binder files, checked as repo2docker would use them (no Docker engine here to build the image): only
runtime dependencies, torch from the CPU wheel index, the package installed without dependencies, the app
read-only with the offline Voila template, and the app importing nothing the image leaves out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BINDER = REPO / "binder"
DEV_TOOLS = ("pytest", "ruff", "hypothesis", "playwright", "nbclient")


def _pip_lines() -> list[str]:
    env = yaml.safe_load((BINDER / "environment.yml").read_text())
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    return pip


def test_binder_env_has_runtime_dependencies_and_cpu_torch() -> None:
    pip = _pip_lines()
    names = [line.split("==")[0].lower() for line in pip if not line.startswith("-")]
    assert not [t for t in DEV_TOOLS if t in names], names
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in pip
    assert "torch==2.13.0+cpu" in pip  # the CPU build, named: never the CUDA wheel from PyPI
    root = yaml.safe_load((REPO / "environment.yml").read_text())
    (root_pip,) = [d["pip"] for d in root["dependencies"] if isinstance(d, dict)]
    pinned = dict(line.split("==") for line in root_pip if "==" in line)
    for line in pip:  # the same versions as the development environment
        if "==" in line and not line.startswith("torch"):
            name, version = line.split("==")
            assert pinned.get(name) == version, line
    for needed in ("voila", "ipywidgets", "anywidget", "altair", "vl-convert-python", "polars", "ipykernel"):
        assert needed in names, needed


def test_the_app_imports_nothing_binder_leaves_out() -> None:
    code = ("import sys, explorer.ui.pages, explorer.ui.explore, explorer.ui.tiered; "
            "print(','.join(sorted({m.split('.')[0] for m in sys.modules})))")  # fmt: skip
    loaded = set(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        .stdout.strip()
        .split(",")
    )
    assert not loaded & {"torch", "transformers", "lm_eval", "datasets", "torchao"}, "the app should not need torch"
    assert {"voila", "polars", "altair"} & loaded >= {"polars", "altair"}


def test_start_and_postbuild() -> None:
    start = (BINDER / "start").read_text()
    assert 'export EXPLORER_READ_ONLY="${EXPLORER_READ_ONLY:-1}"' in start and start.rstrip().endswith('exec "$@"')
    assert "share/jupyter" in start and (REPO / "share/jupyter/voila/templates/explorer/index.html.j2").is_file()
    assert "pip install --no-deps -e ." in (BINDER / "postBuild").read_text()
    voila = (REPO / "voila.json").read_text()
    assert '"template": "explorer"' in voila and '"cull_connected": true' in voila


def test_the_voila_template_requests_nothing_off_the_server() -> None:
    text = (REPO / "share/jupyter/voila/templates/explorer/index.html.j2").read_text()
    body = text.split("-#}", 1)[1]  # after the comment that says what was left out
    assert "cdn." not in body and "fontawesome" not in body and "stylesheet" not in body
