"""Polars views of a results folder: evals (long format, one row per metric), per-sample results, serving profiles.

Every loader uses only the files that pass explorer/records/integrity.py; the `*_checked` variants also return the
damaged ones (`Damage(path, reason)`), for callers that report them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from explorer.records import files
from explorer.records.integrity import Damage, check_folder, check_profiles
from explorer.records.schema import EvalRecord, field_kinds

# the record's `architecture` block, flattened (records without one: nulls; the analysis fills them from the
# published configs, explorer.hardware.work.add_architecture)
ARCH_COLUMNS: dict[str, Any] = {
    "n_layers": pl.Int64,
    "hidden_size": pl.Int64,
    "n_kv_heads": pl.Int64,
    "head_dim": pl.Int64,
    "vocab_size": pl.Int64,
    "tied_embeddings": pl.Boolean,
}

# the columns of the evals table (types from the typed record, explorer/records/schema.py; objects as JSON text)
_POLARS = {"str": pl.String, "int": pl.Int64, "num": pl.Float64, "dict": pl.String, "bool": pl.Boolean}
_METRIC_COLUMNS = {"metric": pl.String, "value": pl.Float64, "stderr": pl.Float64}
EVAL_COLUMNS = (
    "cell_id",
    "run_id",
    "model",
    "model_ref",
    "model_params",
    "quant",
    "quant_backend",
    "task",
    "metric",
    "value",
    "stderr",
    "n_docs",
    "num_fewshot",
    "limit",
    "chance",
    "device_kind",
    "device_name",
    "batch_size",
    "device_s_per_query",
    "tokens_in_per_query",
    "tokens_out_per_query",
    "peak_mem_bytes",
    "weight_bytes",
    "energy_j_per_query",
    "status",
    "error",
    "started_at",
    "wall_s",
    "load_s",
    "provenance",
    "task_source",
    "weights",
    "peak_mem_kind",
    "quantize_s",
    "device_s",
    "energy_j",
    "output_type",
    "compute_dtype",
    "model_rss_bytes",
    "samples_error",
    "padded_tokens_per_query",
    "tokens_read_per_query",
    "model_calls",
    "quant_settings",
    "versions",
    "forward_passes",
    "tokenizer",
    "lm_eval_settings",
    "record_schema",
)
EVAL_SCHEMA: dict[str, Any] = {
    n: _METRIC_COLUMNS.get(n) or _POLARS[field_kinds(EvalRecord)[n]] for n in EVAL_COLUMNS
} | ARCH_COLUMNS

SAMPLE_SCHEMA: dict[str, Any] = {
    "cell_id": pl.String,
    "task": pl.String,
    "doc_id": pl.Int64,
    "doc_hash": pl.String,
    "filter": pl.String,
    "target": pl.String,
    "correct": pl.Float64,
    "pred": pl.String,
    "confidence": pl.Float64,
    "logliks": pl.List(pl.Float64),
}

TABLE_COLUMNS = [
    "model",
    "model_params",
    "quant",
    "quant_backend",
    "task",
    "metric",
    "value",
    "stderr",
    "n_docs",
    "device_s_per_query",
    "peak_mem_bytes",
    "energy_j_per_query",
    "status",
]


def _architecture(record: dict[str, Any]) -> dict[str, Any]:
    arch = record.get("architecture") if isinstance(record.get("architecture"), dict) else {}
    return {k: arch.get(k) for k in ARCH_COLUMNS}


def _rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    base = {k: record.get(k) for k in EVAL_SCHEMA if k not in ("metric", "value", "stderr")}
    base.update(_architecture(record))
    for k in ("quant_settings", "versions", "lm_eval_settings"):
        base[k] = json.dumps(record.get(k), sort_keys=True) if record.get(k) is not None else None
    metrics = record.get("metrics") or []
    if record.get("status") != "ok" or not metrics:
        return [{**base, "metric": None, "value": None, "stderr": None}]
    return [{**base, "metric": m["metric"], "value": m["value"], "stderr": m.get("stderr")} for m in metrics]


def evals_frame(records: list[dict[str, Any]]) -> pl.DataFrame:
    """Long-format evals from record dicts (failed cells keep one row with status, error and no metric)."""
    rows = [row for rec in records for row in _rows(rec)]
    return pl.DataFrame(rows, schema=EVAL_SCHEMA, strict=False).sort(["task", "model", "quant", "metric"])


def load_evals_checked(out_dir: str | Path) -> tuple[pl.DataFrame, list[Damage]]:
    """(the long evals table of the good records, the damaged records and samples that were left out)."""
    good, damaged = check_folder(Path(out_dir))
    return evals_frame(good), damaged


def load_evals(out_dir: str | Path) -> pl.DataFrame:
    """Every good record of a results folder as the long evals table."""
    return load_evals_checked(out_dir)[0]


def load_samples_checked(out_dir: str | Path, cell_ids: list[str] | None = None) -> tuple[pl.DataFrame, list[Damage]]:
    """(per-document results of the good ok records, optionally only some cells; the damaged files left out).
    A samples file without a good ok record (a failed cell's leftover, a moved record) is not used."""
    out_dir = Path(out_dir)
    good, damaged = check_folder(out_dir, cell_ids)
    wanted = set(cell_ids) if cell_ids is not None else None
    frames = []
    for rec in good:
        path = files.samples_path(out_dir, rec["cell_id"])
        if rec["status"] != "ok" or (wanted is not None and rec["cell_id"] not in wanted) or not path.is_file():
            continue
        if path.stat().st_size == 0:
            continue
        try:  # the integrity check admits only what parses; this is the last guard, never a crash
            frames.append(pl.read_ndjson(path, schema=SAMPLE_SCHEMA))
        except (pl.exceptions.PolarsError, OSError) as exc:
            damaged.append(Damage(str(path), f"samples cannot be read: {' '.join(str(exc).split())[:120]}"))
    if not frames:
        return pl.DataFrame(schema=SAMPLE_SCHEMA), damaged
    return pl.concat(frames, how="vertical"), damaged


def load_samples(out_dir: str | Path, cell_ids: list[str] | None = None) -> pl.DataFrame:
    """Per-document results (doc id, correct, prediction, log-likelihoods, confidence) of good ok cells."""
    return load_samples_checked(out_dir, cell_ids)[0]


def evals_table(evals: pl.DataFrame, metrics: tuple[str, ...] | None = None) -> pl.DataFrame:
    """The CLI's table: the main columns, optionally only some metrics (failed rows always kept). A random-weight
    cell's accuracy is blanked: it measures cost, its accuracy means nothing."""
    frame = evals
    if metrics:
        frame = frame.filter(pl.col("metric").is_in(list(metrics)) | (pl.col("status") != "ok"))
    random = pl.col("weights").eq_missing("random")
    frame = frame.with_columns(pl.when(~random).then(pl.col(c)).alias(c) for c in ("value", "stderr"))
    return frame.select(TABLE_COLUMNS)


PROFILE_SCHEMA: dict[str, Any] = {
    "profile_id": pl.String,
    "model": pl.String,
    "model_ref": pl.String,
    "model_params": pl.Int64,
    "quant": pl.String,
    "quant_backend": pl.String,
    "device_kind": pl.String,
    "device_name": pl.String,
    "weights": pl.String,
    "weight_bytes": pl.Int64,
    "batch_size": pl.Int64,
    "prompt_tokens": pl.Int64,
    "new_tokens": pl.Int64,
    "status": pl.String,
    "error": pl.String,
    "prefill_s": pl.Float64,
    "prefill_cv": pl.Float64,
    "generate_s": pl.Float64,
    "generate_cv": pl.Float64,
    "decode_s": pl.Float64,
    "decode_s_per_token": pl.Float64,
    "prefill_tokens_per_s": pl.Float64,
    "decode_tokens_per_s": pl.Float64,
    "tokens_per_s": pl.Float64,
    "device_s_per_query": pl.Float64,
    "peak_mem_bytes": pl.Int64,
    "energy_j": pl.Float64,
    "energy_j_per_query": pl.Float64,
    "repeats": pl.Int64,
    "provenance": pl.String,
    "compute_dtype": pl.String,
    "tokenizer": pl.String,
    **ARCH_COLUMNS,
}


def load_profiles_checked(out_dir: str | Path) -> tuple[pl.DataFrame, list[Damage]]:
    """(the serving profiles of the good profile files, the damaged ones left out)."""
    good, damaged = check_profiles(Path(out_dir))
    rows: list[dict[str, Any]] = []
    for rec in good:
        head = {**{k: rec.get(k) for k in PROFILE_SCHEMA}, **_architecture(rec)}
        points = rec.get("rows") or [{"status": rec.get("status"), "error": rec.get("error")}]
        rows += [{**head, **{k: v for k, v in p.items() if k in PROFILE_SCHEMA}} for p in points]
    return pl.DataFrame(rows, schema=PROFILE_SCHEMA, strict=False), damaged


def load_profiles(out_dir: str | Path) -> pl.DataFrame:
    """Serving profiles: one row per (profile, batch size); a failed profile keeps one row with its error."""
    return load_profiles_checked(out_dir)[0]
