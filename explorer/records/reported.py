"""Reported results: published accuracies as a first-class input (provenance `reported`), validated on load.

A reported file is a CSV with one row per (model, quantization, task, metric) as a source printed it; the columns
are `COLUMNS` below (name: required?, meaning). `load_reported(path)` reads one file or every *.csv of a folder
and returns one row per reported figure, in the long shape of `load_evals` (model, quant, task, metric, value,
stderr, num_fewshot) plus the reported columns and `accuracy_provenance = "reported"`. A row that does not
validate raises `ReportedError` with one line naming the file, the line, the field and the problem: a missing
source, a value outside [0, 1], an lm-eval task name lm-eval does not know (rows of other harnesses keep their
own task names), an unknown model kind or architecture.

Reported rows never merge with measured cells: they keep their own model ids (`org/name`), provenance and source.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import polars as pl

from explorer.hints import did_you_mean

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "data" / "reported"
REPORTED = "reported"
MODEL_KINDS = ("base", "instruct")
# name: (required, meaning)
COLUMNS: dict[str, tuple[bool, str]] = {
    "model": (True, "model id as published (org/name)"),
    "params_b": (True, "nominal size in billions of parameters (from the name)"),
    "quant": (True, "quantization level: bf16, fp16, int8, w8a16, fp8, int4, int3, int2, gguf_q4_k_m, ..."),
    "method": (True, "how it was quantized, as the source says (e.g. 'GPTQ W4A16 g128'); 'none ...' for baselines"),
    "task": (True, "lm-eval task name (or the harness's own name; 'avg:<tasks>' for a source's average)"),
    "metric": (True, "acc, acc_norm, ... as the source reports it"),
    "value": (True, "the accuracy, a fraction in [0, 1]"),
    "stderr": (False, "its standard error, where the source gives one"),
    "num_fewshot": (True, "few-shot examples (0 = zero-shot); 'mixed' for an average over tasks of different shots"),
    "harness": (True, "evaluation harness and version, e.g. 'lm-eval 0.4.5' (rows from lm-eval start 'lm-eval')"),
    "source": (True, "where the number was read: repository + path + commit + section, or a page"),
    "source_date": (True, "date of the source (YYYY-MM-DD)"),
    "protocol_group": (True, "rows of one group were measured alike and compare with each other (data/reported)"),
    "notes": (False, "anything a reader must know (inferred metric, label mapping, ...)"),
    "model_kind": (False, "base | instruct (default: instruct when the id says Instruct/-it/-chat)"),
    "architecture": (False, "explorer architecture of its shape (explorer.models.architectures) for its cost"),
}
SCHEMA: dict[str, Any] = {
    "model": pl.String,
    "params_b": pl.Float64,
    "quant": pl.String,
    "quant_method": pl.String,
    "task": pl.String,
    "metric": pl.String,
    "value": pl.Float64,
    "stderr": pl.Float64,
    "num_fewshot": pl.Int64,
    "harness": pl.String,
    "source": pl.String,
    "source_date": pl.String,
    "protocol_group": pl.String,
    "notes": pl.String,
    "model_kind": pl.String,
    "architecture": pl.String,
    "accuracy_provenance": pl.String,
    "source_file": pl.String,
    "source_line": pl.Int64,
}
_INSTRUCT = re.compile(r"(instruct|-it\b|-chat\b)", re.IGNORECASE)


class ReportedError(ValueError):
    """A reported file or row that does not validate (message: one readable line)."""


def _fail(path: Path, line: int, field: str | None, problem: str) -> ReportedError:
    where = f"field {field!r}: " if field else ""
    return ReportedError(f"{path}:{line}: {where}{problem}".replace("\n", " "))


def lm_eval_task_names() -> frozenset[str]:
    """Every task, group and tag name lm-eval knows (computed once per lm-eval version, ~10 s; then cached)."""
    import lm_eval

    from explorer.paths import sub_cache

    cache = sub_cache("tasks") / f"lm_eval_names_{getattr(lm_eval, '__version__', 'unknown')}.json"
    if cache.is_file():
        return frozenset(json.loads(cache.read_text()))
    from lm_eval.tasks import TaskManager

    names = sorted(TaskManager().all_tasks)
    cache.write_text(json.dumps(names))
    return frozenset(names)


def _number(path: Path, line: int, field: str, text: str, required: bool) -> float | None:
    if text is None or not str(text).strip():
        if required:
            raise _fail(path, line, field, "is empty; a number is required")
        return None
    try:
        return float(text)
    except ValueError:
        raise _fail(path, line, field, f"{text!r} is not a number") from None


def _row(path: Path, line: int, raw: dict[str, str], tasks: frozenset[str], arches: set[str]) -> dict[str, Any]:
    for name, (required, _) in COLUMNS.items():
        if required and name not in ("value", "params_b", "num_fewshot") and not (raw.get(name) or "").strip():
            raise _fail(
                path, line, name, "is missing or empty" + (" (every row names its source)" if name == "source" else "")
            )
    value = _number(path, line, "value", raw.get("value"), True)
    if not 0.0 <= value <= 1.0:
        raise _fail(path, line, "value", f"{value} is outside [0, 1] (give fractions, not percentages)")
    task, harness = raw["task"].strip(), raw["harness"].strip()
    if harness.lower().startswith("lm-eval") and not task.startswith("avg:") and task not in tasks:
        raise _fail(path, line, "task", f"unknown lm-eval task {task!r}{did_you_mean(task, sorted(tasks))}")
    kind = (raw.get("model_kind") or "").strip() or ("instruct" if _INSTRUCT.search(raw["model"]) else "base")
    if kind not in MODEL_KINDS:
        raise _fail(path, line, "model_kind", f"{kind!r} is not base or instruct")
    arch = (raw.get("architecture") or "").strip() or None
    if arch is not None and arch not in arches:
        raise _fail(path, line, "architecture", f"unknown architecture {arch!r}{did_you_mean(arch, sorted(arches))}")
    shots = (raw.get("num_fewshot") or "").strip()
    fewshot = None if shots == "mixed" else _number(path, line, "num_fewshot", shots, True)
    return {
        "model": raw["model"].strip(),
        "params_b": _number(path, line, "params_b", raw.get("params_b"), True),
        "quant": raw["quant"].strip(),
        "quant_method": raw["method"].strip(),
        "task": task,
        "metric": raw["metric"].strip(),
        "value": value,
        "stderr": _number(path, line, "stderr", raw.get("stderr"), False),
        "num_fewshot": None if fewshot is None else int(fewshot),
        "harness": harness,
        "source": raw["source"].strip(),
        "source_date": raw["source_date"].strip(),
        "protocol_group": raw["protocol_group"].strip(),
        "notes": (raw.get("notes") or "").strip() or None,
        "model_kind": kind,
        "architecture": arch,
        "accuracy_provenance": REPORTED,
        "source_file": str(path),
        "source_line": line,
    }


def _read_file(path: Path, tasks: frozenset[str], arches: set[str]) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReportedError(f"{path}: cannot read: {exc.strerror or exc}") from None
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    for name in header:  # a misspelt column first: its hint says more than "missing"
        if name not in COLUMNS:
            raise _fail(path, 1, name, f"unknown column{did_you_mean(name, list(COLUMNS))}")
    for name, (required, _) in COLUMNS.items():
        if required and name not in header:
            raise _fail(path, 1, name, f"column missing from the header (have: {', '.join(header) or 'none'})")
    return [_row(path, i + 2, raw, tasks, arches) for i, raw in enumerate(reader)]


def load_reported(path: str | Path | None = None) -> pl.DataFrame:
    """Reported rows of one CSV file, or of every *.csv in a folder (default: the shipped data/reported/)."""
    from explorer.models.architectures import ARCHITECTURES

    src = Path(path) if path is not None else DEFAULT_DIR
    files = sorted(src.glob("*.csv")) if src.is_dir() else [src]
    if not files or not all(f.is_file() for f in files):
        raise ReportedError(f"{src}: no reported CSV file there")
    tasks, arches = lm_eval_task_names(), set(ARCHITECTURES)
    rows = [row for f in files for row in _read_file(f, tasks, arches)]
    return pl.DataFrame(rows, schema=SCHEMA)
