"""One worker process per (model, quantization): load -> quantize -> evaluate each task -> one record each.

Run through `python -m explorer.runner JOB.json` (an `EvalJob`, explorer/runner/jobs.py). A fresh process per
job keeps one run's memory and energy from leaking into the next. Every task is evaluated with lm-eval's
`simple_evaluate` on the same loaded model, one task at a time so timers and memory are attributed to that
task alone. A failure is written as a failed record with a one-line reason; the worker goes on with the next
task. A record is `ok` only when its samples were written: it stores their line count and sha256
(explorer/records/integrity.py checks them).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import sys
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any

from explorer.runner.jobs import Cell, EvalJob


def _versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for pkg in ("torch", "transformers", "lm_eval", "torchao", "bitsandbytes", "llama_cpp_python", "explorer"):
        try:
            out[pkg] = metadata.version(pkg if pkg != "explorer" else "llm-cost-explorer")
        except metadata.PackageNotFoundError:
            if pkg == "explorer":
                from explorer import __version__

                out[pkg] = __version__
    return out


def weights_kind(model: dict[str, Any]) -> str:
    """'random' for random-weight models (accuracy meaningless, cost real), else 'real'."""
    return "random" if model["kind"] in ("random", "tiny") else "real"


def one_line(exc: BaseException, limit: int = 400) -> str:
    """A readable single-line reason for a failure."""
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text}"[:limit]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _base_record(job: EvalJob, cell: Cell) -> dict[str, Any]:
    return {
        "cell_id": cell.cell_id,
        "run_id": job.run_id,
        "key": cell.key,
        "model": job.model_name,
        "model_ref": job.model["ref"],
        "quant": job.quant,
        "task": cell.task,
        "task_source": cell.task_source,
        "num_fewshot": job.num_fewshot,
        "limit": job.limit,
        "batch_size": job.batch_size,
        "device_kind": job.device.split(":")[0],
        "device": job.device,
        "lm_eval_task": cell.lm_eval_task,  # what lm-eval ran, and where its YAML is (to reproduce it)
        "include_path": list(job.include_path),
        "model_source": job.model,
        "provenance": "measured",
        "weights": weights_kind(job.model),
        "versions": _versions(),
    }


def failed_record(job: EvalJob, cell: Cell, reason: str, extra: dict[str, Any]) -> dict[str, Any]:
    """The record of a cell that failed (the worker's, and the launcher's for a worker that died)."""
    return {**_base_record(job, cell), **extra, "status": "failed", "error": reason, "started_at": _now()}


def _finite(value: float) -> float | None:
    """JSON has no NaN/inf (and Polars rejects them): non-finite numbers are written as null."""
    return value if math.isfinite(value) else None


def _softmax_conf(logliks: list[float]) -> float | None:
    top = max(logliks)
    if not math.isfinite(top):
        return None
    z = sum(math.exp(v - top) for v in logliks if math.isfinite(v))
    return _finite(1.0 / z)


def sample_rows(cell_id: str, task: str, samples: list[dict[str, Any]], mc: bool) -> list[dict[str, Any]]:
    """Per-document rows from lm-eval's logged samples (multiple choice: log-likelihoods + confidence)."""
    rows = []
    for s in samples:
        row: dict[str, Any] = {
            "cell_id": cell_id,
            "task": task,
            "doc_id": s["doc_id"],
            "doc_hash": s.get("doc_hash"),
            "filter": s.get("filter", "none"),  # lm-eval logs one sample per doc and filter
            "target": str(s.get("target")),
        }
        if mc:
            logliks = [float(r[0]) for r in s["filtered_resps"]]
            row.update(
                logliks=[_finite(v) for v in logliks],
                pred=str(max(range(len(logliks)), key=logliks.__getitem__)),
                confidence=_softmax_conf(logliks),
                correct=float(s["acc"]) if "acc" in s else None,
            )
        else:
            resp = s["filtered_resps"][0] if s["filtered_resps"] else ""
            metric = next((k for k in ("exact_match", "acc") if k in s), None)
            row.update(logliks=None, pred=str(resp), confidence=None, correct=float(s[metric]) if metric else None)
        rows.append(row)
    return rows


def lm_eval_settings(lm: Any) -> dict[str, Any]:
    """The settings of lm-eval's HFLM that change a score (`batch_size` and `dtype` repeat the record's
    `batch_size` and `compute_dtype` as HFLM really used them)."""

    def read(name: str) -> Any:
        try:
            value = getattr(lm, name, None)
        except Exception:  # a property that cannot be resolved (no config, no tokenizer) is unknown, not fatal
            return None
        return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)

    names = ("backend", "batch_size", "max_length", "max_gen_toks", "softmax_dtype", "mixed_precision_dtype")
    out = {n: read(n) for n in names + ("add_bos_token", "truncation", "logits_cache", "prefix_token_id")}
    dtype = getattr(getattr(lm, "model", None), "dtype", None)
    out["dtype"] = None if dtype is None else str(dtype)
    return out


def _metrics(result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, value in result.items():
        if "," not in name or "_stderr," in name or not isinstance(value, (int, float)):
            continue
        metric, filt = name.split(",", 1)
        stderr = result.get(f"{metric}_stderr,{filt}")
        out.append(
            {
                "metric": metric if filt == "none" else f"{metric},{filt}",
                "value": float(value),
                "stderr": float(stderr) if isinstance(stderr, (int, float)) else None,
            }
        )
    return out


def _simple_evaluate(lm: Any, job: EvalJob, task: str, tm: Any) -> dict[str, Any]:
    import lm_eval

    return lm_eval.simple_evaluate(
        model=lm,
        tasks=[task],
        num_fewshot=job.num_fewshot,
        limit=job.limit,
        task_manager=tm,
        log_samples=True,
        random_seed=job.seed,
        numpy_random_seed=job.seed,
        torch_random_seed=job.seed,
        fewshot_random_seed=job.seed,
        verbosity="ERROR",
    )


def _write_samples(job: EvalJob, cell: Cell, res: dict[str, Any], tm: Any) -> tuple[list, Any, str | None]:
    """Per-document rows of a finished evaluation, written (then the documents' text, which never fails the
    cell); returns (rows, the written file or None, the reason it was not written)."""
    from explorer.records.docs import write_cell_docs
    from explorer.records.files import write_samples

    rows: list[dict[str, Any]] = []
    try:
        for sub, samples in res.get("samples", {}).items():
            sub_mc = res["configs"].get(sub, {}).get("output_type") == "multiple_choice"
            rows += sample_rows(cell.cell_id, cell.task if sub == cell.lm_eval_task else sub, samples, sub_mc)
        written = write_samples(Path(job.out_dir), cell.cell_id, rows)
    except Exception as exc:
        traceback.print_exc()
        return rows, None, one_line(exc)
    try:
        write_cell_docs(Path(job.out_dir), tm, cell.lm_eval_task, cell.task, res.get("samples", {}))
    except Exception:
        traceback.print_exc()
    return rows, written, None


def _cost_fields(lm: Any, win: Any, n_docs: int) -> dict[str, Any]:
    """What the trackers and the LM's counters measured, per query where it says so."""
    per_q = lambda v: v / n_docs if n_docs else None
    return {
        "device_s": lm.device_s,
        "device_s_per_query": per_q(lm.device_s),
        "tokens_in_per_query": per_q(lm.tokens_in),
        "tokens_out_per_query": per_q(lm.tokens_out),
        "padded_tokens_per_query": per_q(lm.padded_tokens),
        "tokens_read_per_query": per_q(lm.tokens_read),
        "model_calls": lm.model_calls,
        "forward_passes": lm.forward_passes,
        "peak_mem_bytes": win.peak_mem_bytes,
        "peak_mem_kind": win.peak_mem_kind,
        "energy_j": win.energy_j,
        "energy_j_per_query": per_q(win.energy_j) if win.energy_j is not None else None,
        "wall_s": win.wall_s,
    }


def evaluate_cell(lm: Any, job: EvalJob, cell: Cell, tm: Any, energy: Any, common: dict[str, Any]) -> dict[str, Any]:
    """Evaluate one task on the loaded model; returns the record: ok when its samples were written first, else
    failed with the reason (its metrics kept for diagnosis)."""
    from explorer.runner.trackers import Trackers

    name = cell.lm_eval_task
    started = _now()
    lm.reset_counters()
    with Trackers(job.device, energy, weight_bytes=common.get("weight_bytes") or 0) as win:
        res = _simple_evaluate(lm, job, name, tm)
    result = res["results"].get(name) or res.get("groups", {}).get(name) or {}
    n_docs = sum(int(v["effective"]) for v in res["n-samples"].values())
    mc = res["configs"].get(name, {}).get("output_type") == "multiple_choice"
    metrics = _metrics(result)
    if not metrics:
        raise RuntimeError(f"lm-eval returned no metric for task {name!r} (results keys: {sorted(res['results'])})")
    rows, written, samples_error = _write_samples(job, cell, res, tm)
    docs = {r["doc_id"]: r for r in rows if r.get("logliks")}
    chance = (sum(1.0 / len(r["logliks"]) for r in docs.values()) / len(docs)) if mc and docs else 0.0
    return _guarded(job, rows, {
        **_base_record(job, cell),
        **common,
        "status": "ok" if written is not None else "failed",
        "error": None if written is not None else f"per-document samples not written: {samples_error}",
        "started_at": started,
        "metrics": metrics,
        "samples_error": samples_error,
        "samples_lines": written.lines if written is not None else None,
        "samples_sha256": written.sha256 if written is not None else None,
        "n_docs": n_docs,
        "chance": chance,
        "output_type": "multiple_choice" if mc else "other",
        **_cost_fields(lm, win, n_docs),
    })  # fmt: skip


def _guarded(job: EvalJob, rows: list[dict[str, Any]], record: dict[str, Any]) -> dict[str, Any]:
    """A llama.cpp cell whose scores look like the silent chance-level failure is failed (runner/guards.py)."""
    if record.get("quant_backend") != "llama.cpp":
        return record
    from explorer.records.files import read_records
    from explorer.runner.guards import chance_reason

    reason = chance_reason(record, rows, read_records(Path(job.out_dir)))
    return {**record, "status": "failed", "error": reason} if reason else record


def limit_memory(headroom: str | None) -> None:
    """EXPLORER_WORKER_MEMORY_BYTES: the address space this worker may add once its libraries are loaded (an
    operator's cap, and how the tests make a cell run out of memory); an allocation beyond it fails that cell
    with MemoryError / "can't allocate memory" instead of waking the OOM killer."""
    if not headroom:
        return
    import resource

    from explorer.runner.measure import proc_status_bytes

    cap = (proc_status_bytes("VmSize") or 0) + int(float(headroom))
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _load(job: EvalJob, header: dict[str, Any]) -> tuple[Any, Any, Any]:
    """Import, load and quantize the model once; returns (the timed LM, lm-eval's task manager, the energy
    tracker) and fills `header` with what every record of the job shares."""
    import lm_eval  # noqa: F401  (imported before the baseline: library memory is not the model's)
    import torch
    import transformers  # noqa: F401

    from explorer.quant.registry import GGUF_LEVELS
    from explorer.runner.loading import load_quantized, preimport
    from explorer.runner.measure import device_name, rss_bytes
    from explorer.runner.timed_lm import TimedHFLM
    from explorer.runner.trackers import EnergyTracker
    from explorer.tasks.offline import task_manager

    tm = task_manager(job.include_path)  # the task index is not the model's memory either
    preimport(job.quant, job.device)
    baseline_rss = rss_bytes()
    limit_memory(os.environ.get("EXPLORER_WORKER_MEMORY_BYTES"))
    torch.manual_seed(job.seed)
    header["device_name"] = device_name(job.device)
    if job.quant in GGUF_LEVELS:  # llama.cpp on a GGUF file (explorer/runner/llamacpp_lm.py)
        from explorer.runner.llamacpp_lm import LlamaCppLM
        from explorer.runner.loading import load_gguf

        llm, info = load_gguf(job.model, job.quant, baseline_rss)
        lm: Any = LlamaCppLM(llm)
    else:
        model, tokenizer, info = load_quantized(job.model, job.quant, job.device, baseline_rss)
        lm = TimedHFLM(
            pretrained=model, tokenizer=tokenizer, batch_size=job.batch_size, device=job.device, softmax_dtype="float32"
        )
    header.update(info)
    print(
        f"[{job.job_name}] loaded {job.model_name} {job.quant} via {info['quant_backend']} "
        f"in {info['load_s']:.1f}+{info['quantize_s']:.1f} s",
        flush=True,
    )
    header["lm_eval_settings"] = lm_eval_settings(lm)
    return lm, tm, EnergyTracker(job.device)


def run_job(job: EvalJob) -> int:
    """Run every cell of a job; returns the number of failed cells."""
    from explorer.records.files import write_record

    out_dir = Path(job.out_dir)
    header: dict[str, Any] = {"quant_backend": None, "quant_settings": None, "model_params": None}
    try:
        lm, tm, energy = _load(job, header)
    except Exception as exc:  # load / quantize failed: every cell of the job fails with the reason
        traceback.print_exc()
        for cell in job.cells:
            write_record(out_dir, failed_record(job, cell, one_line(exc), header))
        return len(job.cells)
    failed = 0
    for cell in job.cells:
        try:
            record = evaluate_cell(lm, job, cell, tm, energy, header)
            summary = ", ".join(f"{m['metric']}={m['value']:.3f}" for m in record["metrics"][:2])
            print(f"[{job.job_name}] {cell.task}: {summary} ({record['wall_s']:.1f} s)", flush=True)
        except Exception as exc:
            traceback.print_exc()
            record = failed_record(job, cell, one_line(exc), header)
        write_record(out_dir, record)
        if record["status"] != "ok":  # after the except block: its frames no longer pin CUDA memory
            failed += 1
            print(f"[{job.job_name}] {cell.task}: failed: {record['error']}", flush=True)
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
    return failed
