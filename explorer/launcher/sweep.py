"""Plan a sweep into content-keyed cells, skip finished ones, run one worker process per (model, quant).

Cell = (model, quantization, task) + shared settings; its id hashes everything that changes its result
(the task's definition and data, the versions of lm-eval, transformers, torch and the quantization backend),
so re-running a spec only runs what is missing, an upgrade re-runs what it may change, and a killed sweep
resumes where it stopped. Cells of the same (model, quantization) form a job: one fresh process loads and
quantizes once, then evaluates them. Planning refuses what cannot run here (a level this device has no
backend for, bad task data) before any worker starts; a file the launcher cannot write is a SweepWriteError.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from explorer.config.spec import SpecError, SweepSpec
from explorer.records.files import atomic_write_text, cell_id, read_records, write_record
from explorer.runner.worker import failed_record

KEY_VERSION = 2  # 2: the key holds library versions and the task definition (1: records up to 2025-06)


class SweepWriteError(RuntimeError):
    """The launcher could not write a file of the sweep (disk full, folder not writable): one line; the
    records already written are intact (each is written to a temp file, then renamed)."""


@dataclass
class Job:
    """One worker process: a model at one quantization level and the cells it still has to run."""

    name: str
    model: dict[str, Any]
    model_name: str
    quant: str
    cells: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Plan:
    run_id: str
    device: str
    device_name: str
    jobs: list[Job]
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
    from explorer.quant.registry import QuantizationError, check_levels

    try:
        check_levels(spec.quantizations, device)
    except QuantizationError as exc:
        raise SpecError(f"field 'quantizations': {exc}") from None


def library_versions(backend: Any, source: Any) -> dict[str, str]:
    """The versions a cell's result depends on: lm-eval, transformers, torch, the quantization backend's
    packages and, for GGUF files, the gguf reader."""
    from explorer.quant.registry import package_version

    names = ["lm_eval", "transformers", "torch", *backend.requires]
    if source.kind == "gguf" or source.gguf_file:
        names.append("gguf")
    return {name: package_version(name) for name in names}


def plan_sweep(spec: SweepSpec, out_dir: Path, retry_failed: bool = True) -> Plan:
    """Expand the spec into jobs of pending cells (cells with an ok record are skipped)."""
    from explorer.models.sources import parse_model
    from explorer.paths import sub_cache
    from explorer.quant.registry import select_backend
    from explorer.runner.measure import device_name
    from explorer.tasks.offline import find_data_dir, prepare_tasks

    device = resolve_device(spec.device)
    check_levels_here(spec, device)
    dev_name = device_name(device)
    data_dir = find_data_dir(spec.data_dir) if spec.data_dir else os.environ.get("EXPLORER_DATA_DIR") or None
    tasks = prepare_tasks(spec.tasks, data_dir, sub_cache("tasks"), include_dirs=spec.include_path)
    done = {r["cell_id"]: r for r in read_records(out_dir)}
    jobs, skipped, total, planned, skipped_failed = [], 0, 0, set(), []
    for entry in spec.models:
        source = parse_model(entry)
        for quant in spec.quantizations:
            backend = select_backend(quant, device.split(":")[0])  # the backend is part of what a result means
            quant_key = {"level": quant, "backend": backend.name, "settings": backend.settings}
            versions = library_versions(backend, source)
            job = Job(f"{_slug(source.name)}__{quant}", dataclasses.asdict(source), source.name, quant)
            for task in spec.tasks:
                key = {
                    "key_version": KEY_VERSION,
                    "model": source.key(),
                    "quant": quant_key,
                    "task": task,
                    "task_fingerprint": tasks.fingerprints.get(task, ""),
                    "task_definition": tasks.definitions.get(task, ""),
                    "num_fewshot": spec.num_fewshot,
                    "limit": spec.limit,
                    "batch_size": spec.batch_size,
                    "device": dev_name,
                    "seed": spec.seed,
                    "versions": versions,
                }
                cid = cell_id(key)
                if cid in planned:  # the same cell asked for twice (duplicate task, alias + id of one model)
                    continue
                planned.add(cid)
                total += 1
                status = done.get(cid, {}).get("status")
                if status == "ok" or (status == "failed" and not retry_failed):
                    skipped += 1
                    skipped_failed += [done[cid]] if status == "failed" else []
                    continue
                cell = {"cell_id": cid, "task": task, "lm_eval_task": tasks.lm_eval_names[task], "key": key}
                job.cells.append({**cell, "task_source": tasks.sources.get(task, "")})
            if job.cells:
                jobs.append(job)
    return Plan(
        uuid.uuid4().hex[:12],
        device,
        dev_name,
        jobs,
        skipped,
        total,
        list(tasks.include_path),
        dict(tasks.sources),
        tasks.all_local,
        skipped_failed,
    )


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "_" for c in text)[:60]


def _worker_exit_reason(code: int, log_path: Path) -> str:
    if code < 0:
        try:
            sig = signal.Signals(-code).name
        except ValueError:
            sig = f"signal {-code}"
        why = f"worker killed by {sig}" + (" (likely out of memory)" if sig == "SIGKILL" else "")
    else:
        why = f"worker exited with code {code}"
    lines = (
        [ln.strip() for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()]
        if log_path.exists()
        else []
    )
    return f"{why}; last log line: {lines[-1][:200] if lines else '(none)'}; log: {log_path}"


@contextlib.contextmanager
def _writing(what: Path) -> Iterator[None]:
    """Turn an OSError while the launcher writes ``what`` into one SweepWriteError line."""
    try:
        yield
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise SweepWriteError(
            f"cannot write {exc.filename or what}: {why}; the records written so far are intact: "
            "free space or fix the folder's permissions, then run the same command again to resume"
        ) from None


def run_plan(
    plan: Plan,
    spec: SweepSpec,
    out_dir: Path,
    progress: bool = True,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    stop: threading.Event | None = None,
) -> dict[str, int]:
    """Run every job in a fresh process; returns counts {ok, failed, skipped, stopped}."""
    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    meta = {
        "run_id": plan.run_id,
        "spec": spec.to_dict(),
        "device": plan.device,
        "device_name": plan.device_name,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "task_sources": plan.task_sources,
    }
    with _writing(out_dir):
        (out_dir / "jobs").mkdir(parents=True, exist_ok=True)
        (out_dir / "logs").mkdir(parents=True, exist_ok=True)
        atomic_write_text(out_dir / "sweeps" / f"{plan.run_id}.json", json.dumps(meta, indent=1))
    pending = sum(len(j.cells) for j in plan.jobs)
    counts = {"ok": 0, "failed": 0, "skipped": plan.skipped, "stopped": 0}
    bar = tqdm(total=pending, desc="cells", unit="cell", disable=not progress, dynamic_ncols=True)
    try:
        for job in plan.jobs:
            if stop is not None and stop.is_set():
                counts["stopped"] += len(job.cells)
                continue
            seen = _run_job(job, plan, spec, out_dir, bar, counts, on_record, stop)
            missing = [c for c in job.cells if c["cell_id"] not in seen]
            if missing and stop is not None and stop.is_set():
                counts["stopped"] += len(missing)
                continue
            if missing:  # the process died before writing these: record why, and go on
                reason = _worker_exit_reason(job.returncode, out_dir / "logs" / f"{job.name}.log")  # type: ignore[attr-defined]
                base = _payload(job, plan, spec, out_dir)
                for cell in missing:
                    record = failed_record(base, cell, reason, {"device_name": plan.device_name})
                    with _writing(out_dir / "records"):
                        write_record(out_dir, record)
                    _account(record, bar, counts, on_record)
    finally:
        bar.close()
    return counts


def _payload(job: Job, plan: Plan, spec: SweepSpec, out_dir: Path) -> dict[str, Any]:
    """What the worker of `job` reads (also the base of the failed records the launcher writes for it)."""
    shared = {k: getattr(spec, k) for k in ("batch_size", "num_fewshot", "limit", "seed")}
    return {
        **{"run_id": plan.run_id, "job_name": job.name, "out_dir": str(out_dir.resolve()), "model": job.model},
        **{"model_name": job.model_name, "quant": job.quant, "device": plan.device, **shared},
        **{"include_path": plan.include_path, "cells": job.cells},
    }


def _account(record: dict[str, Any], bar: Any, counts: dict[str, int], on_record: Any) -> None:
    counts["ok" if record.get("status") == "ok" else "failed"] += 1
    bar.update(1)
    bar.set_postfix_str(f"{record.get('model')} {record.get('quant')} {record.get('task')}: {record.get('status')}")
    if on_record is not None:
        on_record(record)


def _run_job(
    job: Job,
    plan: Plan,
    spec: SweepSpec,
    out_dir: Path,
    bar: Any,
    counts: dict[str, int],
    on_record: Any,
    stop: threading.Event | None,
) -> set[str]:
    """Start the worker, follow its records as they land; returns the cell ids it wrote."""
    payload = _payload(job, plan, spec, out_dir)
    job_path = out_dir / "jobs" / f"{job.name}.json"
    with _writing(job_path):
        atomic_write_text(job_path, json.dumps(payload, indent=1))
        log = open(out_dir / "logs" / f"{job.name}.log", "a")  # noqa: SIM115 (closed below)
    wanted = {c["cell_id"] for c in job.cells}
    before = {c: _mtime(out_dir, c) for c in wanted}
    seen: set[str] = set()
    env = {**os.environ, "EXPLORER_LAUNCHER_PID": str(os.getpid())}
    if plan.local_tasks and job.model["kind"] != "hub":  # nothing to fetch: never wait on an unreachable hub
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("HF_DATASETS_OFFLINE", "1")
    bar.set_description(f"{job.model_name} {job.quant}")
    with log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "explorer.runner.worker", str(job_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        while True:
            code = proc.poll()
            for cid in wanted - seen:
                if _mtime(out_dir, cid) != before[cid]:
                    seen.add(cid)
                    try:
                        record = json.loads((out_dir / "records" / f"{cid}.json").read_text())
                    except (OSError, json.JSONDecodeError):
                        seen.discard(cid)
                        continue
                    _account(record, bar, counts, on_record)
            if code is not None:
                break
            if stop is not None and stop.is_set():
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            time.sleep(0.3)
    job.returncode = code  # type: ignore[attr-defined]
    return seen


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
) -> dict[str, int]:
    """Plan and run a sweep into out_dir (see module docstring). One sweep at a time per folder.

    Bad input (a level this device cannot do, bad task data, out_dir a file) raises ValueError/SpecError before
    anything runs; a file the launcher cannot write raises SweepWriteError. `on_plan` gets the plan first."""
    out_dir = Path(out_dir)
    check_levels_here(spec, resolve_device(spec.device))  # before the folder is even made
    _make_out_dir(out_dir)
    with _folder_lock(out_dir):
        plan = plan_sweep(spec, out_dir, retry_failed=retry_failed)
        if on_plan is not None:
            on_plan(plan)
        _prefetch_models(plan, progress)
        return run_plan(plan, spec, out_dir, progress=progress, on_record=on_record, stop=stop)


def _make_out_dir(out_dir: Path) -> None:
    """Create the results folder; a file in its place or an unwritable folder is a ValueError (exit 2)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"results folder {out_dir} is a file: give a folder (it is created when missing)")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create the results folder {out_dir}: {exc.strerror or exc}") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise ValueError(f"results folder {out_dir} is not writable: give another folder or fix its permissions")


@contextlib.contextmanager
def _folder_lock(out_dir: Path) -> Iterator[None]:
    """An exclusive lock on out_dir/.sweep.lock (released when the process dies): two sweeps writing one
    folder would run the same cells twice."""
    import fcntl

    try:
        handle = open(out_dir / ".sweep.lock", "a+")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise ValueError(f"results folder {out_dir}: cannot create its lock file: {exc.strerror or exc}") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise ValueError(
                f"another sweep (pid {holder}) is writing to {out_dir}: wait for it or use another --out"
            ) from None
        with _writing(out_dir / ".sweep.lock"):
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _prefetch_models(plan: Plan, progress: bool) -> None:
    """Fetch and convert demo models before the clock of the first cell starts (once per cache)."""
    from explorer.models.demo import ensure_demo_model

    for alias in sorted({j.model["ref"] for j in plan.jobs if j.model["kind"] == "demo"}):
        try:
            ensure_demo_model(alias, log=print if progress else (lambda *_: None))
        except Exception as exc:  # the worker will record the failure for each cell
            print(f"could not prepare demo model {alias}: {exc}", file=sys.stderr)
