"""The documents' text beside the per-document results: results/docs/<task>.jsonl, one row per document (task,
doc_id, doc_hash, question, choices, gold), shared by every cell of the task. Read here; `doc_texts` joins it with
per-document results into what the app shows (question, gold answer and the model's choice as text). A folder
without docs/ (results from before it was written) shows the documents by id, with no text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

DOC_SCHEMA: dict[str, Any] = {
    "task": pl.String,
    "doc_id": pl.Int64,
    "doc_hash": pl.String,
    "question": pl.String,
    "choices": pl.List(pl.String),
    "gold": pl.String,
}
SHOWN = ("task", "doc_id", "question", "gold", "pred", "correct", "confidence")


def docs_path(out_dir: str | Path, task: str) -> Path:
    return Path(out_dir) / "docs" / f"{task.replace('/', '_')}.jsonl"


def load_docs(out_dir: str | Path, task: str) -> pl.DataFrame:
    """The task's documents (empty, with the schema, when the folder has none or the file cannot be read)."""
    path = docs_path(out_dir, task)
    if not path.is_file() or path.stat().st_size == 0:
        return pl.DataFrame(schema=DOC_SCHEMA)
    try:
        return pl.read_ndjson(path, schema=DOC_SCHEMA)
    except (pl.exceptions.PolarsError, OSError):
        return pl.DataFrame(schema=DOC_SCHEMA)


def _choice_text(index: str | None, choices: list[str] | None) -> str | None:
    """The text of choice `index` ('2' -> choices[2]); anything else as it is."""
    if index is None or not choices or not str(index).isdigit() or int(index) >= len(choices):
        return index
    return choices[int(index)]


def doc_texts(samples: pl.DataFrame, docs: pl.DataFrame | None) -> pl.DataFrame:
    """Per-document rows with text: `question`, `gold` (the gold answer's text), `pred` (the chosen choice's
    text), joined on the task and document hash (on the id where a sample has no hash)."""
    if docs is None or docs.is_empty():
        return samples.with_columns(pl.lit(None, dtype=pl.String).alias("question"),
                                    pl.col("target").alias("gold")).select([c for c in SHOWN if c in samples.columns
                                                                            or c in ("question", "gold")])  # fmt: skip
    key = "doc_hash" if samples.get_column("doc_hash").null_count() == 0 else "doc_id"
    joined = samples.join(docs.select("task", key, "question", "choices", "gold").rename({"gold": "gold_text"}),
                          on=["task", key], how="left")  # fmt: skip
    rows = [
        {**r, "gold": r["gold_text"] or _choice_text(r["target"], r["choices"]),
         "pred": _choice_text(r["pred"], r["choices"])}
        for r in joined.iter_rows(named=True)
    ]  # fmt: skip
    out = pl.DataFrame(rows, schema_overrides={"question": pl.String, "gold": pl.String, "pred": pl.String})
    return out.select([c for c in SHOWN if c in out.columns])
