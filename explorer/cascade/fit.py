"""No cheating in threshold choice: a seeded split of the documents, thresholds fitted on one part only.

- `split_docs`: each document's place is decided by sha256("<seed>:<doc_hash>") (its content, not its order), so
  the split is the same for every member and on every machine; the first `fit_fraction` of the documents in that
  order are the fit part, the rest the held-out part. The split (seed, sizes, the fit documents' ids) is recorded.
- `fit_thresholds`: over a grid of thresholds (the distinct confidences of the fit part for a tier, thinned to
  200 quantiles for 2 tiers, 21 for 3, 8 for 4, plus "never answers here"; at most 4 tiers), the cheapest bill
  whose accuracy on the fit part reaches `target_accuracy`; if none does, the most accurate (``target_met:
  false``). Ties: the more accurate, then the smaller first threshold.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

from explorer.cascade.confidence import CascadeError
from explorer.cascade.simulate import n_tiers, simulate

NEVER = math.inf  # a threshold no confidence reaches: the tier always escalates


def split_docs(docs: pl.DataFrame, seed: int = 0, fit_fraction: float = 0.5) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """(fit part, held-out part, the split's record)."""
    if not 0 < fit_fraction < 1:
        raise CascadeError(f"fit_fraction must be in (0, 1), got {fit_fraction}")
    if docs.height < 2:
        raise CascadeError(f"{docs.height} document(s): a fit and a held-out part need at least 2")
    key = [hashlib.sha256(f"{seed}:{h}".encode()).hexdigest() for h in docs.get_column("doc_hash")]
    ordered = docs.with_columns(pl.Series("__key", key)).sort("__key")
    n_fit = min(max(1, round(docs.height * fit_fraction)), docs.height - 1)
    fit, held = ordered.head(n_fit).drop("__key"), ordered.tail(docs.height - n_fit).drop("__key")
    record = {
        "method": "sha256(seed:doc_hash) order, first fit_fraction fit, rest held out",
        "seed": seed,
        "fit_fraction": fit_fraction,
        "n_fit": fit.height,
        "n_held_out": held.height,
        "fit_doc_ids": sorted(fit.get_column("doc_id").to_list()),
    }
    return fit.sort("doc_id"), held.sort("doc_id"), record


def candidates(docs: pl.DataFrame, tier: int, signal: str, max_n: int | None = None) -> list[float]:
    """Thresholds worth trying for one tier: its distinct confidences (thinned to `max_n` quantiles), and NEVER."""
    values = sorted(set(docs.get_column(f"{signal}_{tier}").drop_nulls().to_list()))
    if max_n is not None and len(values) > max_n:
        step = (len(values) - 1) / (max_n - 1)
        values = sorted({values[round(i * step)] for i in range(max_n)})
    return [*values, NEVER]


MAX_TIERS = 4
PER_TIER = {2: 200, 3: 21, 4: 8}  # thresholds tried per tier: at most ~500 chains to simulate


def grid(docs: pl.DataFrame, signal: str, max_per_tier: int | None = None) -> list[tuple[float, ...]]:
    n = n_tiers(docs)
    if n > MAX_TIERS:
        raise CascadeError(f"a chain of {n}: at most {MAX_TIERS} tiers can be fitted (give --thresholds instead)")
    per = [candidates(docs, k, signal, max(2, max_per_tier or PER_TIER[n])) for k in range(n - 1)]
    return list(itertools.product(*per))


def fit_thresholds(
    fit: pl.DataFrame,
    bill: Callable[[Sequence[float]], float],
    target_accuracy: float,
    signal: str = "max_prob",
    max_per_tier: int | None = None,
) -> dict[str, Any]:
    """The chosen thresholds and their outcome on the fit part (see the module text); `bill(reach_share)` prices
    a chain's traffic shares."""
    best: tuple | None = None
    for thresholds in grid(fit, signal, max_per_tier):
        result = simulate(fit, thresholds, signal)
        usd = bill(result["reach_share"])
        met = result["accuracy"] >= target_accuracy - 1e-12
        key = (not met, usd if met else -result["accuracy"], -result["accuracy"] if met else usd, thresholds[0])
        if best is None or key < best[0]:
            best = (key, thresholds, result, usd, met)
    _, thresholds, result, usd, met = best
    return {**result, "monthly_usd": usd, "target_accuracy": target_accuracy, "target_met": met}
