"""Typed jobs: what the launcher asks one worker process to do, written as one JSON file per job.

`python -m explorer.runner JOB.json` reads the file (`read_job`) and runs it by kind: `eval` (lm-eval over the
cells of one model at one level, explorer/runner/worker.py), `profile` (a serving-profile ladder,
explorer/runner/profile.py) or `ceilings` (matmul and copy roofs, explorer/runner/ceilings.py). Standard library
only: the runner side reads this on bare GPU nodes.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

JOB_SCHEMA = 1  # the version of the job file; a worker refuses a file of another version


@dataclass
class Cell:
    """One (model, level, task) cell of an eval job: its content key and what lm-eval runs."""

    cell_id: str
    task: str
    lm_eval_task: str
    key: dict[str, Any] = field(default_factory=dict)
    task_source: str = ""


@dataclass
class _ModelJob:
    """What every job on a model shares: its name (file names), the results folder, the device, the model
    source (explorer/models/sources.py, as a dict) and the quantization level."""

    job_name: str
    out_dir: str
    device: str
    model: dict[str, Any]
    model_name: str
    quant: str


@dataclass
class EvalJob(_ModelJob):
    """Evaluate the pending cells of one model at one quantization level (loaded and quantized once)."""

    kind: ClassVar[str] = "eval"
    cells: list[Cell] = field(default_factory=list)
    run_id: str = ""
    batch_size: int = 1
    num_fewshot: int = 0
    limit: int | None = None
    seed: int = 1234
    include_path: list[str] = field(default_factory=list)
    offline: bool = False  # every task reads local files and the model is not a hub id: no hub lookups
    store_uri: str = ""  # results at an object store: a node writes its staging copy and uploads (records/remote.py)

    def __post_init__(self) -> None:
        self.cells = [c if isinstance(c, Cell) else Cell(**c) for c in self.cells]


@dataclass
class ProfileJob(_ModelJob):
    """A serving-profile ladder (prefill / decode vs batch size) of one model at one level."""

    kind: ClassVar[str] = "profile"
    profile_id: str
    key: dict[str, Any] = field(default_factory=dict)
    batch_sizes: list[int] = field(default_factory=lambda: [1])
    prompt_tokens: int = 128
    new_tokens: int = 32
    warmup: int = 1
    repeats: int = 3
    max_point_s: float = 120.0
    seed: int = 0
    offline: bool = False


@dataclass
class CeilingsJob:
    """The device's matmul FLOP/s and copy bytes/s in one dtype, written to ceilings/<dtype>.json."""

    kind: ClassVar[str] = "ceilings"
    job_name: str
    out_dir: str
    device: str
    dtype: str = "bfloat16"
    matmul_n: int | None = None
    copy_bytes: int | None = None
    warmup: int = 2
    repeats: int = 5
    offline: bool = True


Job = EvalJob | ProfileJob | CeilingsJob
KINDS: dict[str, type] = {k.kind: k for k in (EvalJob, ProfileJob, CeilingsJob)}


def job_json(job: Job) -> str:
    """The job file's text: its kind, the job schema version and the job's fields."""
    return json.dumps({"kind": job.kind, "job_schema": JOB_SCHEMA, **dataclasses.asdict(job)}, indent=1)


def read_job(path: str | Path) -> Job:
    """The typed job of a job file; a file of an unknown kind or another schema version is a ValueError."""
    from explorer.hints import did_you_mean

    data = json.loads(Path(path).read_text())
    kind, version = data.pop("kind", None), data.pop("job_schema", None)
    if version != JOB_SCHEMA:
        raise ValueError(f"{path}: job schema {version!r}, this worker reads {JOB_SCHEMA}: re-plan with this version")
    if kind not in KINDS:
        raise ValueError(f"{path}: unknown job kind {kind!r}{did_you_mean(str(kind), list(KINDS), known=True)}")
    return KINDS[kind](**data)
