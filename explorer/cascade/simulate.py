"""Route documents down a chain of configurations (pure Polars).

`docs` is wide: one row per document, with ``correct_k`` and the confidence signals (``max_prob_k``,
``margin_k``) of every tier k = 0..n-1 (`wide_docs`). Tier k < n-1 answers when its signal reaches threshold
``t_k``, else the query goes on; the last tier always answers. Per document: ``answered_by`` (the tier that
answered) and ``correct``. A chain's outcome: accuracy, ``answered_share[k]`` (share of queries answered by
tier k), ``reach_share[k]`` (share that reaches tier k: the traffic its fleet serves; tier 0 sees all) and the
escalation rate of each tier (share of what reached it that it passed on).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import polars as pl

from explorer.cascade.confidence import CascadeError


def wide_docs(per_member: Sequence[pl.DataFrame], labels: Sequence[str]) -> pl.DataFrame:
    """The documents every member answered (joined on doc_hash: the same content), one column set per tier."""
    if len(per_member) < 2:
        raise CascadeError("a cascade needs a chain of at least 2 configurations")
    out = None
    for k, frame in enumerate(per_member):
        part = frame.select(
            "doc_hash", *(pl.col(c).alias(f"{c}_{k}") for c in ("doc_id", "correct", "max_prob", "margin"))
        )
        out = part if out is None else out.join(part, on="doc_hash", how="inner")
    if out.is_empty():
        raise CascadeError(f"{', '.join(labels)}: no document was scored by every member of the chain")
    return out.rename({"doc_id_0": "doc_id"}).drop([f"doc_id_{k}" for k in range(1, len(per_member))]).sort("doc_id")


def n_tiers(docs: pl.DataFrame) -> int:
    return sum(1 for c in docs.columns if c.startswith("correct_"))


def route(docs: pl.DataFrame, thresholds: Sequence[float], signal: str = "max_prob") -> pl.DataFrame:
    """`docs` with ``answered_by`` and ``correct`` for thresholds t_0..t_{n-2} (a tier answers when its
    signal >= its threshold; NaN or +inf: never answers)."""
    n = n_tiers(docs)
    if len(thresholds) != n - 1:
        raise CascadeError(f"a chain of {n} needs {n - 1} threshold(s), got {len(thresholds)}")
    answered = pl.lit(n - 1, dtype=pl.Int64)
    for k in reversed(range(n - 1)):
        t = float(thresholds[k])
        if not math.isnan(t):
            answered = pl.when(pl.col(f"{signal}_{k}") >= t).then(pl.lit(k, dtype=pl.Int64)).otherwise(answered)
    correct = pl.lit(None, dtype=pl.Float64)
    for k in range(n):
        correct = pl.when(pl.col("answered_by") == k).then(pl.col(f"correct_{k}")).otherwise(correct)
    return docs.with_columns(answered.alias("answered_by")).with_columns(correct.alias("correct"))


def outcome(routed: pl.DataFrame) -> dict[str, Any]:
    """Accuracy and the traffic shares of a routed frame (see the module text)."""
    n, total = n_tiers(routed), routed.height
    counts = routed.group_by("answered_by").len()
    answered = [0] * n
    for k, c in counts.iter_rows():
        answered[int(k)] = int(c)
    reach = [sum(answered[k:]) for k in range(n)]
    return {
        "n_docs": total,
        "accuracy": float(routed.get_column("correct").mean()) if total else None,
        "answered_share": [a / total for a in answered],
        "reach_share": [r / total for r in reach],
        "escalation_rate": [(reach[k + 1] / reach[k]) if reach[k] else None for k in range(n - 1)],
    }


def simulate(docs: pl.DataFrame, thresholds: Sequence[float], signal: str = "max_prob") -> dict[str, Any]:
    """`outcome(route(docs, thresholds, signal))` with the thresholds."""
    return {"thresholds": [float(t) for t in thresholds], **outcome(route(docs, thresholds, signal))}
