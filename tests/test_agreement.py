"""Per-document agreement of two levels (explorer/analysis/agreement.py) on hand-made samples."""

from __future__ import annotations

import polars as pl
import pytest

from explorer.analysis.agreement import agreement


def _evals(*cells: tuple[str, str, str, float]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"cell_id": c, "model": "m", "task": t, "quant": q, "status": "ok", "metric": "acc", "value": v}
            for c, t, q, v in cells
        ]  # fmt: skip
    )


def _samples(cell: str, task: str, docs: list[list[float]], hashes: list[str] | None = None) -> pl.DataFrame:
    hashes = hashes or [f"h{i}" for i in range(len(docs))]
    return pl.DataFrame(
        {"cell_id": cell, "task": task, "doc_id": list(range(len(docs))), "doc_hash": hashes, "logliks": docs},
        schema_overrides={"logliks": pl.List(pl.Float64)},
    )


def test_agreement_by_hand() -> None:
    evals = _evals(("a1", "arc", "fp32", 0.5), ("b1", "arc", "gguf-f32", 0.5), ("x", "arc", "int4", 0.1))
    a = _samples("a1", "arc", [[-1.0, -2.0], [-3.0, -2.5], [-1.0, -1.1], [-4.0, -5.0]])
    b = _samples("b1", "arc", [[-1.1, -2.0], [-3.0, -2.6], [-1.2, -1.1], [-4.0, -5.0]], ["h0", "h1", "h2", "other"])
    out = agreement(evals, pl.concat([a, b]), "fp32", "gguf-f32").row(0, named=True)
    # doc 3's text differs between the runs (hash): 3 documents compared; doc 2's pick flips (0 -> 1)
    assert out["n_docs"] == 3 and out["argmax_agreement"] == pytest.approx(2 / 3)
    assert out["max_abs_dloglik"] == pytest.approx(0.2)
    assert out["mean_abs_dloglik"] == pytest.approx(((0.1 + 0) / 2 + (0 + 0.1) / 2 + (0.2 + 0) / 2) / 3)
    assert (out["acc_a"], out["acc_b"]) == (0.5, 0.5)


def test_only_models_and_tasks_measured_at_both_levels() -> None:
    evals = _evals(("a1", "arc", "fp32", 0.5), ("a2", "piqa", "fp32", 0.6), ("b2", "piqa", "gguf-f32", 0.6))
    samples = pl.concat([_samples("a1", "arc", [[-1.0, -2.0]]), _samples("a2", "piqa", [[-1.0, -2.0]]),
                         _samples("b2", "piqa", [[-1.0, -2.0]])])  # fmt: skip
    out = agreement(evals, samples, "fp32", "gguf-f32")
    assert out["task"].to_list() == ["piqa"] and out["argmax_agreement"].to_list() == [1.0]
