"""Plan a sweep into content-keyed cells, skip finished ones, run one worker process per (model, quant).

Cell = (model, quantization, task) + shared settings; its id hashes everything that changes its result
(the task's definition and data, the versions of lm-eval, transformers, torch and the quantization backend),
so re-running a spec only runs what is missing, an upgrade re-runs what it may change, and a killed sweep
resumes where it stopped. Cells of the same (model, quantization) form a job: one fresh process loads and
quantizes once, then evaluates them. Planning refuses what cannot run here (a level this device has no
backend for, bad task data) before any worker starts; a file the launcher cannot write is a SweepWriteError.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from explorer.config.spec import SpecError, SweepSpec
from explorer.launcher.process import SweepWriteError, results_folder, writing
from explorer.records.files import atomic_write_text, cell_id, read_records, write_record
from explorer.runner.jobs import Cell, EvalJob
from explorer.runner.worker import failed_record

__all__ = ["Plan", "SweepWriteError", "plan_sweep", "run_plan", "run_sweep", "resolve_device"]

KEY_VERSION = 2  # 2: the key holds library versions and the task definition (1: records up to 2025-06)


@dataclass
class Plan:
    run_id: str
    device: str
    device_name: str
    jobs: list[EvalJob]
    skipped: int
    total: int
    include_path: list[str]
    task_sources: dict[str, str]
    local_tasks: bool = False  # every task reads local files: workers get the HF offline flags
    skipped_failed: list[dict[str, Any]] = field(default_factory=list)  # failed records not retried


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda:0' when CUDA is present, else 'cpu'; 'cuda' -> 'cuda:0'."""
    import torch

    if device == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but this machine has no CUDA GPU: use cpu or auto")
    return "cuda:0" if device == "cuda" else device


def check_levels_here(spec: SweepSpec, device: str) -> None:
    """Every quantization level of the spec has a backend on this device, else a SpecError (exit 2)."""
    from explorer.quant.registry import GGUF_LEVELS, QuantizationError, check_levels

    try:
        check_levels(spec.quantizations, device)
    except QuantizationError as exc:
        raise SpecError(f"field 'quantizations': {exc}") from None
    gguf = [q for q in spec.quantizations if q in GGUF_LEVELS]
    if gguf:
        from explorer.models.gguf_files import has_gguf
        from explorer.models.sources import parse_model

        for entry in spec.models:
            source = parse_model(entry)
            if not has_gguf(dataclasses.asdict(source)):
                raise SpecError(
                    f"field 'models': {source.name!r} ({source.kind}) has no GGUF file for the llama.cpp level "
                    f"{gguf[0]!r}: give a demo model, a .gguf path or a folder with gguf_file"
                )


def library_versions(backend: Any, source: Any) -> dict[str, str]:
    """The versions a cell's result depends on: lm-eval, transformers, torch, the quantization backend's
    packages and, for GGUF files, the gguf reader."""
    from explorer.quant.registry import package_version

    names = ["lm_eval", "transformers", "torch", *backend.requires]
    if source.kind == "gguf" or source.gguf_file:
        names.append("gguf")
    return {name: package_version(name) for name in names}


def _cell_key(spec: SweepSpec, source: Any, quant_key: dict, versions: dict, task: str, tasks: Any, dev: str) -> dict:
    """Everything that changes a cell's result (its id is the hash of this; docs/ARCHITECTURE.md)."""
    return {
        "key_version": KEY_VERSION,
        "model": source.key(),
        "quant": quant_key,
        "task": task,
        "task_fingerprint": tasks.fingerprints.get(task, ""),
        "task_definition": tasks.definitions.get(task, ""),
        "num_fewshot": spec.num_fewshot,
        "limit": spec.limit,
        "batch_size": spec.batch_size,
        "device": dev,
        "seed": spec.seed,
        "versions": versions,
    }


def plan_sweep(
    spec: SweepSpec, out_dir: Path, retry_failed: bool = True, target: tuple[str, str] | None = None
) -> Plan:
    """Expand the spec into jobs of pending cells (cells with an ok record are skipped). `target`: the (device,
    device name) the executor runs on (default: this machine's, from the spec's device)."""
    from explorer.models.sources import parse_model
    from explorer.paths import sub_cache
    from explorer.quant.registry import GGUF_LEVELS, select_backend
    from explorer.runner.measure import device_name
    from explorer.tasks.offline import find_data_dir, prepare_tasks

    device, dev_name = target or (resolve_device(spec.device), None)
    check_levels_here(spec, device)
    dev_name = dev_name or device_name(device)
    data_dir = find_data_dir(spec.data_dir) if spec.data_dir else os.environ.get("EXPLORER_DATA_DIR") or None
    tasks = prepare_tasks(spec.tasks, data_dir, sub_cache("tasks"), include_dirs=spec.include_path)
    done = {r["cell_id"]: r for r in read_records(out_dir)}
    plan = Plan(uuid.uuid4().hex[:12], device, dev_name, [], 0, 0, list(tasks.include_path), dict(tasks.sources),
                tasks.all_local)  # fmt: skip
    planned: set[str] = set()
    shared = {k: getattr(spec, k) for k in ("batch_size", "num_fewshot", "limit", "seed")}
    for entry in spec.models:
        source = parse_model(entry)
        for quant in spec.quantizations:
            backend = select_backend(quant, device.split(":")[0])  # the backend is part of what a result means
            quant_key = {"level": quant, "backend": backend.name, "settings": backend.settings}
            versions = library_versions(backend, source)
            job = EvalJob(f"{_slug(source.name)}__{quant}", str(Path(out_dir).resolve()), device,
                          dataclasses.asdict(source), source.name, quant, run_id=plan.run_id, **shared,
                          include_path=plan.include_path, offline=tasks.all_local and source.kind != "hub")  # fmt: skip
            for task in spec.tasks:
                key = _cell_key(spec, source, quant_key, versions, task, tasks, dev_name)
                cid = cell_id(key)
                if cid in planned:  # the same cell asked for twice (duplicate task, alias + id of one model)
                    continue
                planned.add(cid)
                plan.total += 1
                status = done.get(cid, {}).get("status")
                if status == "ok" or (status == "failed" and not retry_failed):
                    plan.skipped += 1
                    plan.skipped_failed += [done[cid]] if status == "failed" else []
                    continue
                job.cells.append(Cell(cid, task, tasks.lm_eval_names[task], key, tasks.sources.get(task, "")))
            if job.cells:
                plan.jobs.append(job)
    # llama.cpp jobs last: their chance guard compares with the transformers cells (explorer/runner/guards.py)
    plan.jobs.sort(key=lambda j: j.quant in GGUF_LEVELS)
    return plan


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "_" for c in text)[:60]


def _write_meta(plan: Plan, spec: SweepSpec, out_dir: Path) -> None:
    meta = {
        "run_id": plan.run_id,
        "spec": spec.to_dict(),
        "device": plan.device,
        "device_name": plan.device_name,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "task_sources": plan.task_sources,
    }
    with writing(out_dir):
        atomic_write_text(out_dir / "sweeps" / f"{plan.run_id}.json", json.dumps(meta, indent=1))


def run_plan(
    plan: Plan,
    spec: SweepSpec,
    out_dir: Path,
    progress: bool = True,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    stop: threading.Event | None = None,
    executor: Any = None,
    store: Any = None,
) -> dict[str, int]:
    """Run every job, each in a fresh process, on the executor (default: this machine); returns counts
    {ok, failed, skipped, stopped}. A job no node can hold has its cells recorded failed (placement.py).
    `store` (explorer/records/remote.py): out_dir is its staging copy; every record is uploaded as it lands."""
    from tqdm.auto import tqdm

    from explorer.launcher.executors import LocalExecutor

    executor = executor or LocalExecutor()
    out_dir = Path(out_dir)
    _write_meta(plan, spec, out_dir)
    pending = sum(len(j.cells) for j in plan.jobs)
    counts = {"ok": 0, "failed": 0, "skipped": plan.skipped, "stopped": 0}
    bar = tqdm(total=pending, desc=f"cells ({executor.name})", unit="cell", disable=not progress, dynamic_ncols=True)
    account = lambda record: _account(record, bar, counts, on_record, store)  # noqa: E731
    try:
        jobs = _place(plan, executor.nodes(plan.device), account)
        for end in executor.run(jobs, account, stop):
            missing = end.missing()
            if missing and stop is not None and stop.is_set():
                counts["stopped"] += len(missing)
            elif missing:  # the process died before writing these: record why, and go on
                record_death(end.job, missing, end.reason, plan.device_name, account)
    finally:
        bar.close()
        if store is not None:
            store.push_folder("sweeps")
    return counts


def _place(plan: Plan, nodes: list[Any], account: Callable) -> list[EvalJob]:
    """The jobs some node can hold; the others' cells recorded failed with the numbers (placement.py)."""
    from explorer.launcher.placement import fitting_nodes, need_bytes, no_fit_reason

    placed = []
    for job in plan.jobs:
        need = need_bytes(job.model, job.quant)
        if fitting_nodes(need, nodes):
            placed.append(job)
        else:
            record_death(job, job.cells, no_fit_reason(job.model_name, job.quant, need, nodes), plan.device_name,
                         account)  # fmt: skip
    return placed


def record_death(job: EvalJob, cells: list[Cell], reason: str, device_name: str, account: Callable) -> None:
    """Failed records for the cells a dead worker did not finish (the reason says how it died)."""
    for cell in cells:
        record = failed_record(job, cell, reason, {"device_name": device_name})
        with writing(Path(job.out_dir) / "records"):
            write_record(Path(job.out_dir), record)
        account(record)


def _account(record: dict[str, Any], bar: Any, counts: dict[str, int], on_record: Any, store: Any = None) -> None:
    if store is not None:
        with writing(Path(store.uri)):
            store.push(record)
    counts["ok" if record.get("status") == "ok" else "failed"] += 1
    bar.update(1)
    bar.set_postfix_str(f"{record.get('model')} {record.get('quant')} {record.get('task')}: {record.get('status')}")
    if on_record is not None:
        on_record(record)


class RecordFollower:
    """Follows the record files of a job's cells as they land (progress while its worker runs)."""

    def __init__(self, job: EvalJob, account: Callable[[dict[str, Any]], None]) -> None:
        self.out_dir, self.account = Path(job.out_dir), account
        self.wanted = {c.cell_id for c in job.cells}
        self.before = {c: _mtime(self.out_dir, c) for c in self.wanted}
        self.seen: set[str] = set()

    def __call__(self) -> None:
        for cid in self.wanted - self.seen:
            if _mtime(self.out_dir, cid) == self.before[cid]:
                continue
            try:
                record = json.loads((self.out_dir / "records" / f"{cid}.json").read_text())
            except (OSError, json.JSONDecodeError):
                continue  # being renamed into place: next poll
            self.seen.add(cid)
            self.account(record)


def _mtime(out_dir: Path, cid: str) -> float | None:
    try:
        return (out_dir / "records" / f"{cid}.json").stat().st_mtime_ns
    except OSError:
        return None


def run_sweep(
    spec: SweepSpec,
    out_dir: str | Path,
    progress: bool = True,
    retry_failed: bool = True,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    stop: threading.Event | None = None,
    on_plan: Callable[[Plan], None] | None = None,
    executor: Any = None,
) -> dict[str, int]:
    """Plan and run a sweep into out_dir (see module docstring) on an executor (explorer/launcher/executors.py;
    default: this machine). One sweep at a time per folder.

    Bad input (a level the device cannot do, bad task data, out_dir a file, an unreachable Ray cluster) raises
    ValueError/SpecError before anything runs; a file the launcher cannot write raises SweepWriteError.
    `on_plan` gets the plan first."""
    from explorer.launcher.executors import LocalExecutor
    from explorer.records.remote import Store, is_uri

    store = Store(str(out_dir)) if is_uri(out_dir) else None  # an object store: a staging copy here
    out_dir, executor = (store.staging if store else Path(out_dir)), executor or LocalExecutor()
    target = executor.target(spec.device)
    check_levels_here(spec, target[0])  # before the folder is even made
    with results_folder(out_dir):
        if store is not None:
            store.pull()  # what finished elsewhere is skipped
            store.push_missing()  # what finished here but never reached the store is uploaded
        plan = plan_sweep(spec, out_dir, retry_failed=retry_failed, target=target)
        for job in plan.jobs if store else []:
            job.store_uri = store.uri
        if on_plan is not None:
            on_plan(plan)
        _prefetch_models(plan, progress)
        return run_plan(plan, spec, out_dir, progress=progress, on_record=on_record, stop=stop, executor=executor,
                        store=store)  # fmt: skip


def _prefetch_models(plan: Plan, progress: bool) -> None:
    """Fetch and convert demo models before the clock of the first cell starts (once per cache)."""
    from explorer.models.demo import ensure_demo_model

    for alias in sorted({j.model["ref"] for j in plan.jobs if j.model["kind"] == "demo"}):
        try:
            ensure_demo_model(alias, log=print if progress else (lambda *_: None))
        except Exception as exc:  # the worker will record the failure for each cell
            print(f"could not prepare demo model {alias}: {exc}", file=sys.stderr)
