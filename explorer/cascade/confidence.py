"""How sure a configuration was of each document: from the per-choice log-likelihoods lm-eval scored.

- ``max_prob``: the largest softmax probability over the choices' log-likelihoods (the choice lm-eval picked);
- ``margin``: that probability minus the second largest (1 with a single choice).

Generation tasks have no per-choice log-likelihoods in the samples (lm-eval logs the generated text only), so a
confidence cascade is not supported for them: `doc_signals` says so.
"""

from __future__ import annotations

import polars as pl

SIGNALS = ("max_prob", "margin")


class CascadeError(ValueError):
    """A chain, task or setting a cascade cannot be built from (one line saying what to fix)."""


def check_signal(signal: str) -> str:
    from explorer.hints import did_you_mean

    if signal not in SIGNALS:
        known = ", ".join(SIGNALS)
        raise CascadeError(f"unknown confidence signal {signal!r}{did_you_mean(signal, SIGNALS)}; known: {known}")
    return signal


def doc_signals(samples: pl.DataFrame, label: str = "configuration") -> pl.DataFrame:
    """One row per document (doc_hash, doc_id, correct, max_prob, margin) from one cell's sample rows."""
    if samples.is_empty():
        raise CascadeError(f"{label}: no per-document samples on disk (samples/<cell_id>.jsonl)")
    rows = samples.unique(subset=["doc_hash"], keep="first", maintain_order=True)
    if rows.get_column("logliks").null_count() == rows.height:
        task = rows.get_column("task")[0]
        raise CascadeError(
            f"{label}: {task} is a generation task (no per-choice log-likelihoods in its samples): confidence "
            "cascades are only supported for multiple-choice tasks"
        )
    rows = rows.filter(pl.col("logliks").is_not_null() & pl.col("correct").is_not_null())
    finite = pl.col("logliks").list.eval(pl.element().fill_null(float("-inf")))  # the worker stores -inf as null
    shifted = finite.list.eval((pl.element() - pl.element().max()).exp())
    probs = rows.with_columns(shifted.alias("__e")).with_columns(
        pl.col("__e").list.eval(pl.element() / pl.element().sum()).alias("__p")
    )
    top = pl.col("__p").list.sort(descending=True)
    second = pl.when(pl.col("__p").list.len() > 1).then(top.list.get(1, null_on_oob=True)).otherwise(0.0)
    return probs.select(
        "doc_hash",
        "doc_id",
        pl.col("correct").cast(pl.Float64),
        top.list.first().alias("max_prob"),
        (top.list.first() - second).alias("margin"),
    )
