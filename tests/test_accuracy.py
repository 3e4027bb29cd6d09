"""Real model, real benchmark: SmolLM2-135M on ARC-Easy (first 50 test items) through the explorer.

- bf16 accuracy equals lm-eval's own `simple_evaluate` on the same model, task, limit and batch size;
- int8 and int4 really change the weights (log-likelihoods move), int8 stays within 5 points of bf16.
"""

from __future__ import annotations

import polars as pl
import pytest

from explorer.config.spec import SweepSpec
from explorer.launcher.sweep import run_sweep
from explorer.records.store import load_evals, load_samples

LIMIT, BATCH, SEED = 50, 8, 1234


@pytest.fixture(scope="module")
def arc_sweep(tmp_path_factory, data_dir, smollm2_dir):
    out = tmp_path_factory.mktemp("arc")
    spec = SweepSpec(
        models=["smollm2-135m"],
        quantizations=["bf16", "int8", "int4"],
        tasks=["arc_easy"],
        limit=LIMIT,
        batch_size=BATCH,
        device="cpu",
        data_dir=str(data_dir),
        seed=SEED,
    )
    counts = run_sweep(spec, out, progress=False)
    assert counts["ok"] == 3, load_evals(out).select("quant", "status", "error").unique()
    evals = load_evals(out)
    samples = load_samples(out).join(evals.select("cell_id", "quant").unique(), on="cell_id")
    return evals, samples


def _acc(evals: pl.DataFrame, quant: str, metric: str = "acc") -> float:
    return evals.filter((pl.col("quant") == quant) & (pl.col("metric") == metric))["value"].item()


def test_bf16_equals_lm_eval_simple_evaluate(arc_sweep, data_dir, smollm2_dir) -> None:
    import lm_eval

    from explorer.paths import sub_cache
    from explorer.tasks.offline import prepare_tasks, task_manager

    evals, samples = arc_sweep
    prepared = prepare_tasks(["arc_easy"], data_dir, sub_cache("tasks"))
    ref = lm_eval.simple_evaluate(
        model="hf",
        model_args={"pretrained": str(smollm2_dir), "dtype": "bfloat16", "softmax_dtype": "float32"},
        tasks=["arc_easy"],
        task_manager=task_manager(prepared.include_path),
        limit=LIMIT,
        batch_size=BATCH,
        device="cpu",
        random_seed=SEED,
        numpy_random_seed=SEED,
        torch_random_seed=SEED,
        fewshot_random_seed=SEED,
        log_samples=True,
    )
    result = ref["results"]["arc_easy"]
    assert _acc(evals, "bf16") == result["acc,none"]
    assert _acc(evals, "bf16", "acc_norm") == result["acc_norm,none"]
    stderr = evals.filter((pl.col("quant") == "bf16") & (pl.col("metric") == "acc"))["stderr"].item()
    assert stderr == result["acc_stderr,none"]
    ours = samples.filter(pl.col("quant") == "bf16").sort("doc_id")["logliks"].to_list()
    theirs = [
        [r[0] for r in s["filtered_resps"]] for s in sorted(ref["samples"]["arc_easy"], key=lambda s: s["doc_id"])
    ]
    assert ours == theirs  # the very same log-likelihoods, not just the same accuracy
    assert 0.35 <= result["acc,none"] <= 0.75  # SmolLM2-135M on ARC-Easy (FACTS: 0.50 on the first 100)


def test_quantized_cells_change_the_model(arc_sweep) -> None:
    evals, samples = arc_sweep
    by_quant = {
        q: samples.filter(pl.col("quant") == q).sort("doc_id")["logliks"].to_list() for q in ("bf16", "int8", "int4")
    }
    for quant in ("int8", "int4"):
        diffs = [abs(a - b) for ra, rb in zip(by_quant["bf16"], by_quant[quant]) for a, b in zip(ra, rb)]
        assert len(diffs) == LIMIT * 4
        assert sum(diffs) / len(diffs) > 1e-3, f"{quant} log-likelihoods equal bf16's: weights unchanged?"
    assert abs(_acc(evals, "int8") - _acc(evals, "bf16")) <= 0.05
    int4 = evals.filter((pl.col("quant") == "int4") & (pl.col("metric") == "acc")).row(0, named=True)
    assert int4["quant_backend"] == "torchao-int4-prototype-opaque" and int4["stderr"] > 0
    weights = {q: evals.filter(pl.col("quant") == q)["weight_bytes"][0] for q in ("bf16", "int8", "int4")}
    assert weights["int4"] < weights["int8"] < weights["bf16"]
