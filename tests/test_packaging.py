"""The project's install files agree with each other, and the README starts with the two commands."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_files_match_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    reqs = {
        _name(ln)
        for ln in (ROOT / "requirements-cpu.txt").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    }
    assert wanted - {"torch"} <= reqs, f"missing from requirements-cpu.txt: {wanted - {'torch'} - reqs}"
    runtime = {_name(r) for r in project["dependencies"]} - {"nbclient"}  # Binder: what runs, nothing to test with
    for env_file, needed, torch in (("environment.yml", wanted, "torch==2.13.0"),
                                    ("binder/environment.yml", runtime, "torch==2.13.0+cpu")):  # fmt: skip
        env = yaml.safe_load((ROOT / env_file).read_text())
        pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
        names = {_name(r) for r in pip if not r.startswith("-")}
        assert needed <= names, f"{env_file} lacks {needed - names}"
        assert torch in pip


def test_readme_starts_with_the_two_commands_and_ci_calls_make_test() -> None:
    head = (ROOT / "README.md").read_text().splitlines()[:8]
    assert any(ln.startswith("make demo") for ln in head) and any(ln.startswith("make test") for ln in head)
    assert "make test" in (ROOT / ".ci" / "run").read_text()
