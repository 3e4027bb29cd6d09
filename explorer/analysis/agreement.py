"""Per-document agreement of two quantization levels of the same model on the same documents (pure Polars).

For each (model, task) measured at both levels: the share of documents where both picked the same choice (the
argmax of the choices' log-likelihoods, as lm-eval scores `acc`), and the largest and mean absolute difference
of the choices' log-likelihoods, matched by document id and content hash. It is how the llama.cpp backend is
checked against transformers on the same weights (`gguf-f32` vs `fp32`: scripts/backend_agreement.py).
"""

from __future__ import annotations

import polars as pl

AGREEMENT_COLUMNS = ("model", "task", "n_docs", "argmax_agreement", "max_abs_dloglik", "mean_abs_dloglik",
                     "acc_a", "acc_b")  # fmt: skip


def _cells(evals: pl.DataFrame, quant: str) -> pl.DataFrame:
    ok = evals.filter((pl.col("quant") == quant) & (pl.col("status") == "ok") & (pl.col("metric") == "acc"))
    return ok.select("cell_id", "model", "task", pl.col("value").alias("acc")).unique("cell_id")


def _docs(samples: pl.DataFrame, cells: pl.DataFrame, side: str) -> pl.DataFrame:
    rows = samples.join(cells, on=["cell_id", "task"], how="inner")
    return rows.select(
        "model", "task", "doc_id", "doc_hash",
        pl.col("logliks").alias(f"logliks_{side}"),
        pl.col("logliks").list.arg_max().alias(f"pick_{side}"),
        pl.col("acc").alias(f"acc_{side}"),
    )  # fmt: skip


def agreement(evals: pl.DataFrame, samples: pl.DataFrame, quant_a: str, quant_b: str) -> pl.DataFrame:
    """One row per (model, task) with ok `acc` cells at both levels (AGREEMENT_COLUMNS); documents matched by
    id and hash (a document whose text differs between the runs is not compared). `evals`: `load_evals`;
    `samples`: `load_samples` of the same folders."""
    a = _docs(samples, _cells(evals, quant_a), "a")
    b = _docs(samples, _cells(evals, quant_b), "b")
    both = a.join(b, on=["model", "task", "doc_id", "doc_hash"], how="inner")
    both = both.filter(pl.col("logliks_a").list.len() == pl.col("logliks_b").list.len())
    diff = (
        both.with_row_index("__doc")
        .explode("logliks_a", "logliks_b")
        .group_by("__doc")
        .agg((pl.col("logliks_a") - pl.col("logliks_b")).abs().max().alias("__max"),
             (pl.col("logliks_a") - pl.col("logliks_b")).abs().mean().alias("__mean"))
    )  # fmt: skip
    both = both.with_row_index("__doc").join(diff, on="__doc")
    out = both.group_by("model", "task", maintain_order=True).agg(
        pl.len().alias("n_docs"),
        (pl.col("pick_a") == pl.col("pick_b")).mean().alias("argmax_agreement"),
        pl.col("__max").max().alias("max_abs_dloglik"),
        pl.col("__mean").mean().alias("mean_abs_dloglik"),
        pl.col("acc_a").first(),
        pl.col("acc_b").first(),
    )
    return out.select(AGREEMENT_COLUMNS).sort("model", "task")
