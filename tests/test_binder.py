"""The Binder files, checked as repo2docker and Binder use them (no Docker engine here to build the image):
runtime dependencies only, pinned as in the development environment, torch from the CPU wheel index (the sweep
notebook's; the app imports none); the package installed without dependencies; a read-only app under a Jupyter
server whose kernels fit the container's memory; and, where jupyter-repo2docker is installed, the Dockerfile it
generates for this repository."""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
BINDER = REPO / "binder"
DEV_TOOLS = {"pytest", "ruff", "hypothesis", "playwright", "nbclient"}
NOT_AT_RUNTIME = {"torch", "transformers", "accelerate", "gguf", "torchao", "sentencepiece", "bitsandbytes"}
PAGE = "voila/render/notebooks/explore.ipynb"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pip(env_file: Path) -> list[str]:
    env = yaml.safe_load(env_file.read_text())
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    return pip


def _pins(lines: list[str]) -> dict[str, str]:
    return {_norm(a): b for a, b in (ln.split("==", 1) for ln in lines if "==" in ln and not ln.startswith("-"))}


def _app_distributions() -> set[str]:
    """Distributions behind every module the app's process has loaded after running the explore notebook's code."""
    cells = json.loads((REPO / "notebooks" / "explore.ipynb").read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    report = (
        "\nimport sys, json, importlib.metadata as md\nmods = {m.split('.')[0] for m in list(sys.modules)}"
        "\nby_module = md.packages_distributions()"
        "\nprint(json.dumps(sorted({d for m in mods for d in by_module.get(m, ())})))"
    )
    env = {**os.environ, "EXPLORER_READ_ONLY": "1"}
    out = subprocess.run([sys.executable, "-c", code + report], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=300, check=True)  # fmt: skip
    return {_norm(d) for d in json.loads(out.stdout.strip().splitlines()[-1])}


def _closure(names: set[str]) -> set[str]:
    """`names` and every installed distribution they require, recursively (markers evaluated, extras followed:
    jupyter-events wants jsonschema[format-nongpl], whose optional modules jsonschema then imports)."""
    seen: set[tuple[str, str]] = set()
    todo = [(name, "") for name in names]
    while todo:
        name, extra = todo.pop()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        try:
            reqs = md.requires(name) or []
        except md.PackageNotFoundError:
            continue
        for req in map(Requirement, reqs):
            if req.marker is None or req.marker.evaluate({"extra": extra}):
                todo += [(_norm(req.name), e) for e in ("", *req.extras)]
    return {name for name, _ in seen}


def test_binder_env_lists_pinned_runtime_dependencies_and_cpu_torch() -> None:
    pip = _pip(BINDER / "environment.yml")
    names = {_norm(Requirement(ln).name) for ln in pip if not ln.startswith("-")}
    assert not names & DEV_TOOLS, names & DEV_TOOLS
    torch = [ln for ln in pip if not ln.startswith("-") and _norm(Requirement(ln).name) == "torch"]
    assert torch == ["torch==2.13.0+cpu"], torch  # the CPU build, named: never the CUDA wheel PyPI resolves to
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in pip
    assert {"voila", "ipykernel", "ipywidgets", "anywidget", "altair", "vl-convert-python", "polars"} <= names
    unpinned = [ln for ln in pip if not ln.startswith("-") and "==" not in ln]
    assert not unpinned, f"pin these as the development environment does: {unpinned}"
    root, cpu = _pins(_pip(REPO / "environment.yml")), _pins((REPO / "requirements-cpu.txt").read_text().splitlines())
    for name, version in _pins(pip).items():
        if name != "torch":
            assert root.get(name) == version and cpu.get(name, version) == version, (name, version, root.get(name))


def test_the_app_imports_only_what_the_binder_env_provides() -> None:
    loaded = _app_distributions()
    listed = {_norm(Requirement(ln).name) for ln in _pip(BINDER / "environment.yml") if not ln.startswith("-")}
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    direct = {_norm(Requirement(r).name) for r in project["dependencies"]} & loaded
    assert {"polars", "altair", "ipywidgets", "anywidget", "lm-eval"} <= direct  # what the app really ran
    assert direct <= listed, f"the app imports these, binder/environment.yml lacks them: {direct - listed}"
    missing = loaded - _closure(listed) - {"llm-cost-explorer"}  # postBuild installs the package itself
    assert not missing, f"imported by the app, provided by nothing binder/environment.yml installs: {missing}"
    assert not loaded & NOT_AT_RUNTIME, loaded & NOT_AT_RUNTIME


def test_postbuild_installs_the_package_without_dependencies() -> None:
    text = (BINDER / "postBuild").read_text()
    installs = [ln for ln in text.splitlines() if ln.startswith("pip install")]
    assert installs == ["pip install --no-deps --no-cache-dir -e ."], installs
    assert "import lm_eval_task_names;" in text  # the task-name cache is built into the image, not in the first kernel
    assert os.access(BINDER / "postBuild", os.X_OK) and os.access(BINDER / "start", os.X_OK)


def test_start_forces_read_only_sets_the_paths_and_execs(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "EXPLORER_READ_ONLY": "0", "JUPYTER_PATH": "/elsewhere"}
    script = 'echo "$$ $EXPLORER_READ_ONLY $JUPYTER_PATH $JUPYTER_CONFIG_PATH"; exit 7'
    proc = subprocess.Popen([str(BINDER / "start"), "bash", "-c", script], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 7  # the server command's exit status, unchanged
    pid, read_only, jupyter_path, config_path = out.split()
    assert int(pid) == proc.pid  # exec "$@": the server replaces the script (signals reach it)
    assert read_only == "1"  # whatever the environment said
    assert jupyter_path == f"{REPO}/share/jupyter:/elsewhere" and config_path == str(BINDER)
    template = json.loads((REPO / "voila.json").read_text())["VoilaConfiguration"]["template"]
    assert (REPO / "share/jupyter/voila/templates" / template / "index.html.j2").is_file()


def test_server_config_caps_and_culls_kernels() -> None:
    from traitlets.config import PyFileConfigLoader

    config = PyFileConfigLoader("jupyter_server_config.py", path=str(BINDER)).load_config()
    manager = config.ServerApp.kernel_manager_class
    assert manager.__name__ == "BinderKernelManager" and manager.max_kernels.default_value == 3
    assert dict(config.MappingKernelManager) == {
        "cull_interval": 60, "cull_idle_timeout": 600, "cull_connected": True, "cull_busy": False}  # fmt: skip


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=120) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except urllib.error.URLError:  # not listening yet
        return 0, ""


@pytest.mark.slow
def test_voila_render_through_start_is_read_only_and_capped(tmp_path: Path) -> None:
    """A Jupyter server started the way Binder starts it; the cap lowered to one kernel to see the refusal."""
    import psutil

    from explorer.ui.app import free_port, stop_process_tree

    port, jupyter = free_port(), shutil.which("jupyter", path=str(Path(sys.executable).parent))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    cmd = [str(BINDER / "start"), jupyter, "server", f"--port={port}", "--no-browser", "--allow-root",
           "--IdentityProvider.token=t", "--BinderKernelManager.max_kernels=1"]  # fmt: skip
    server = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while _get(f"{base}/api/status?token=t")[0] != 200:
            assert server.poll() is None and time.monotonic() < deadline, "jupyter server did not come up"
            time.sleep(0.5)
        status, page = _get(f"{base}/{PAGE}?token=t")
        assert status == 200 and "application/vnd.jupyter.widget-view+json" in page
        assert "read_only_default()" not in page and "cdn.jsdelivr" not in page  # sources stripped, explorer template
        (kernel,) = psutil.Process(server.pid).children()
        assert kernel.environ()["EXPLORER_READ_ONLY"] == "1"
        status, page = _get(f"{base}/{PAGE}?token=t")
        assert status == 503 and "Busy: 1 kernels already run in this Binder container" in page
    finally:
        stop_process_tree(server)


def _repo2docker() -> list[str]:
    if importlib.util.find_spec("repo2docker") is not None:
        return [sys.executable, "-m", "repo2docker"]
    found = shutil.which("repo2docker")
    if found is None:
        pytest.skip("jupyter-repo2docker is not installed (pip install jupyter-repo2docker==2026.4.0); "
                    "the file checks above stand in for it")  # fmt: skip
    return [found]


def test_repo2docker_dockerfile_uses_the_binder_files(tmp_path: Path) -> None:
    """repo2docker --no-build --debug prints the Dockerfile it would build: no Docker engine, no network."""
    cmd = [*_repo2docker(), "--no-build", "--debug", "--user-id", "1000", "--user-name", "jovyan", str(REPO)]
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=True)
    text = out.stdout + out.stderr
    assert "Building conda environment for python=3.11" in text
    steps = [
        "COPY --chown=1000:1000 src/binder/environment.yml ${REPO_DIR}/binder/environment.yml",
        'env update -p ${NB_PYTHON_PREFIX} --file "binder/environment.yml"',
        "COPY --chown=1000:1000 src/ ${REPO_DIR}/",
        "RUN ./binder/postBuild",
        'ENV R2D_ENTRYPOINT="${REPO_DIR}/binder/start"',
    ]
    where = [text.find(step) for step in steps]
    assert -1 not in where and where == sorted(where), dict(zip(steps, where))
    assert "WORKDIR ${REPO_DIR}" in text  # the server's working directory, where Voila reads voila.json
    assert "src/environment.yml" not in text and "requirements" not in text  # only binder/ is used
