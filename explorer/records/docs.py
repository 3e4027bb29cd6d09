"""The text of each evaluated document, for the app: `docs/<task>.jsonl` in a results folder, shared by every cell
of that task (explorer/records/files.py `docs_path`).

One JSON line per document: task, doc_id, doc_hash (lm-eval's sha256 of the document, the key: the samples carry
it too), question (lm-eval's `doc_to_text`, what the model saw of the question), choices (`doc_to_choice`, [] for
generation tasks), gold (the gold answer as text). Texts longer than `MAX_TEXT_CHARS` keep their start and end
with " … " between (a BoolQ passage comes before its question). The worker merges each finished cell's documents
into the file (`write_cell_docs`); `load_docs` and `doc_texts` read them. The writers use only the standard
library and duck-typed lm-eval task objects (the runner imports this on bare GPU nodes); the readers use Polars.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from explorer.records import files
from explorer.records.files import docs_path

if TYPE_CHECKING:
    import polars as pl

MAX_TEXT_CHARS = 600
_ELLIPSIS = " … "
SHOWN = ("task", "doc_id", "question", "gold", "pred", "correct", "confidence")
DOC_KINDS = {"task": str, "doc_id": int, "doc_hash": str, "question": str, "choices": list, "gold": str}


def trim_text(text: str, max_chars: int = MAX_TEXT_CHARS) -> str:
    """`text` when it fits in `max_chars`, else its start and end joined by " … " (exactly `max_chars` long)."""
    if len(text) <= max_chars:
        return text
    keep = max_chars - len(_ELLIPSIS)
    head = keep // 2
    return text[:head] + _ELLIPSIS + text[len(text) - (keep - head) :]


def _gold_text(task_obj: Any, doc: Mapping[str, Any], choices: list[str]) -> str:
    """The gold answer as text: lm-eval's gold (doc_to_target; doc_to_text for multiple-input tasks such as
    Winogrande), an index into the choices mapped to that choice, several golds joined by " | "."""
    multiple_input = bool(getattr(task_obj, "multiple_input", 0))
    gold = task_obj.doc_to_text(doc) if multiple_input else task_obj.doc_to_target(doc)

    def one(value: Any) -> str:
        if choices and isinstance(value, int) and 0 <= value < len(choices):
            return choices[value]
        return str(value)

    return " | ".join(one(g) for g in gold) if isinstance(gold, list) else one(gold)


def doc_row(task_obj: Any, task: str, doc_id: int, doc_hash: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The docs-file row of one document, from lm-eval's own task object (doc_to_text / doc_to_choice /
    doc_to_target); multiple-input tasks (the choices are contexts) show the shared continuation as question."""
    mc = getattr(task_obj, "OUTPUT_TYPE", None) == "multiple_choice"
    choices = [trim_text(str(c)) for c in task_obj.doc_to_choice(doc)] if mc else []
    if getattr(task_obj, "multiple_input", 0):
        question = "… " + str(task_obj.doc_to_target(doc))
    else:
        question = str(task_obj.doc_to_text(doc))
    gold = trim_text(_gold_text(task_obj, doc, choices))
    question = trim_text(question)
    return {
        "task": task,
        "doc_id": int(doc_id),
        "doc_hash": doc_hash,
        "question": question,
        "choices": choices,
        "gold": gold,
    }


def cell_doc_rows(
    task_objs: Mapping[str, Any], lm_eval_name: str, task: str, samples: Mapping[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Docs rows of one cell's lm-eval logged samples ({sub-task: [sample]}, each with doc_id, doc_hash, doc);
    named like the worker's sample rows: `task` for the task run, the sub-task's name for a group's members."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for sub, logged in samples.items():
        name = task if sub == lm_eval_name else sub
        for s in logged:
            if s.get("doc_hash") and (name, s["doc_hash"]) not in rows:  # one sample per doc and filter
                rows[name, s["doc_hash"]] = doc_row(task_objs[sub], name, s["doc_id"], s["doc_hash"], s["doc"])
    return list(rows.values())


def _normal(row: Any) -> dict[str, Any] | None:
    """A docs-file line as a row (task and integer doc_id required; doc_hash, question and gold may be null,
    choices missing or null read as []), or None when it is not one."""
    if not isinstance(row, dict) or not isinstance(row.get("task"), str):
        return None
    if not isinstance(row.get("doc_id"), int) or isinstance(row["doc_id"], bool):
        return None
    choices = row.get("choices") or []
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        return None
    if not all(row.get(k) is None or isinstance(row[k], str) for k in ("doc_hash", "question", "gold")):
        return None
    return {k: row.get(k) for k in DOC_KINDS} | {"choices": choices}


def _key(row: dict[str, Any]) -> tuple[str, Any]:
    return ("hash", row["doc_hash"]) if row["doc_hash"] is not None else ("id", row["doc_id"])


def read_docs(path: Path) -> list[dict[str, Any]]:
    """The rows of one docs file ([] when it is missing or unreadable); lines that are not a row are skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    rows = []
    for line in text.splitlines():
        try:
            row = _normal(json.loads(line))
        except ValueError:
            continue
        if row is not None:
            rows.append(row)
    return rows


def write_docs(out_dir: Path, rows: Iterable[dict[str, Any]]) -> list[Path]:
    """Merge rows into `docs/<task>.jsonl` per task (a row replaces the one of its doc_hash), each file written
    atomically (files.atomic_write_bytes) and sorted by doc_id; returns the files written. Every row needs all of
    `DOC_KINDS` with their types."""
    by_task: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if not isinstance(row, dict) or not all(isinstance(row.get(k), t) for k, t in DOC_KINDS.items()):
            raise ValueError(f"not a docs row (fields {', '.join(DOC_KINDS)}): {str(row)[:120]}")
        by_task.setdefault(row["task"], []).append({k: row[k] for k in DOC_KINDS})
    written = []
    for task, new in sorted(by_task.items()):
        path = docs_path(out_dir, task)
        merged = {_key(r): r for r in read_docs(path)} | {_key(r): r for r in new}
        ordered = sorted(merged.values(), key=lambda r: (r["doc_id"], r["doc_hash"] or ""))
        data = "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in ordered)
        files.atomic_write_bytes(path, data.encode("utf-8"))
        written.append(path)
    return written


def write_cell_docs(
    out_dir: Path, tm: Any, lm_eval_name: str, task: str, samples: Mapping[str, list[dict[str, Any]]]
) -> list[Path]:
    """The worker's call when a cell finished: load the task's lm-eval objects with the sweep's TaskManager as
    `simple_evaluate` does (`TaskManager.load`: every leaf task by name) and merge the documents of its logged
    samples into the docs files."""
    task_objs = tm.load([lm_eval_name])["tasks"]
    return write_docs(out_dir, cell_doc_rows(task_objs, lm_eval_name, task, samples))


def doc_schema() -> dict[str, Any]:
    """The Polars schema of `load_docs` (a function: Polars is not imported on the runner side)."""
    import polars as pl

    strings = {k: pl.String for k in DOC_KINDS}
    return strings | {"doc_id": pl.Int64, "choices": pl.List(pl.String)}


def load_docs(out_dir: str | Path, task: str | None = None) -> pl.DataFrame:
    """The docs rows of a results folder, one task's when `task` is given (empty with the schema when there are
    none: results from before docs/ existed); damaged lines are left out."""
    import polars as pl

    folder = Path(out_dir) / "docs"
    paths = [docs_path(out_dir, task)] if task is not None else sorted(folder.glob("*.jsonl"))
    rows = [r for path in paths for r in read_docs(path) if task is None or r["task"] == task]
    return pl.DataFrame(rows, schema=doc_schema())


def _texts(samples: pl.DataFrame, docs: pl.DataFrame) -> pl.DataFrame:
    """`samples` with question, choices and gold (docs_gold) of their document: by (task, doc_hash), or by
    (task, doc_id) for a sample without doc_hash."""
    import polars as pl

    cols = ["question", "choices", "docs_gold"]
    docs = docs.rename({"gold": "docs_gold"})
    by_hash = docs.filter(pl.col("doc_hash").is_not_null()).unique(["task", "doc_hash"], keep="last")
    by_id = docs.unique(["task", "doc_id"], keep="last").select(
        "task", "doc_id", *[pl.col(c).alias(c + "_id") for c in cols]
    )
    hashed = by_hash.select("task", "doc_hash", *cols)
    joined = samples.join(hashed, on=["task", "doc_hash"], how="left", maintain_order="left")
    joined = joined.join(by_id, on=["task", "doc_id"], how="left", maintain_order="left")
    no_hash = pl.col("doc_hash").is_null()
    return joined.with_columns(pl.when(no_hash).then(pl.col(c + "_id")).otherwise(pl.col(c)).alias(c) for c in cols)


def doc_texts(samples: pl.DataFrame, docs: pl.DataFrame | None) -> pl.DataFrame:
    """The rows the app shows per document, in the samples' order: task, doc_id, question, gold (text), pred (the
    chosen choice's text when pred is an index into the choices, else pred itself), correct, confidence.
    Documents are found by (task, doc_hash), by (task, doc_id) for a sample without doc_hash. gold is the docs
    file's, else the choice the target indexes, else the target itself; a document without a docs row (no
    docs/ in older folders) has a null question and its pred and target as they are."""
    import polars as pl

    docs = pl.DataFrame(schema=doc_schema()) if docs is None else docs
    joined = _texts(samples, docs.select(list(doc_schema())))

    def choice(col: str) -> pl.Expr:
        idx = pl.col(col).cast(pl.Int64, strict=False)
        inside = idx.is_not_null() & (idx >= 0) & (idx < pl.col("choices").list.len().fill_null(0))
        return pl.when(inside).then(pl.col("choices").list.get(idx, null_on_oob=True)).otherwise(pl.col(col))

    out = joined.with_columns(pl.coalesce("docs_gold", choice("target")).alias("gold"), choice("pred").alias("pred"))
    return out.select([c for c in SHOWN if c in out.columns])
