"""Work per query, roofline efficiency, measured overheads and projections onto catalog hardware, by hand."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from explorer.hardware.catalog import load_catalog
from explorer.hardware.ceilings import DEFAULT_OVERHEAD, Overhead, measured_overheads, overhead_for, read_ceilings
from explorer.hardware.projection import project_seconds
from explorer.hardware.roofline import add_efficiency, compute_precision, peak_for
from explorer.hardware.work import add_work

SHIPPED = Path(__file__).resolve().parents[1] / "data" / "demo_cpu"
CEIL = {"matmul_flops": {"bf16": 1e12}, "copy_bytes_per_s": 1e10}


def _rows(**over) -> pl.DataFrame:
    base = {
        "model": ["m"],
        "quant": ["bf16"],
        "quant_backend": ["torch"],
        "model_params": [1_000_000_000],
        "weight_bytes": [2_000_000_000],
        "n_docs": [10],
        "model_calls": [5],
        "tokens_in_per_query": [100.0],
        "tokens_read_per_query": [80.0],
        "tokens_out_per_query": [0.0],
        "device_s_per_query": [1.0],
        "n_layers": [20],
        "hidden_size": [1000],
        "n_kv_heads": [4],
        "head_dim": [64],
        "vocab_size": [100_000],
        "tied_embeddings": [False],
    }
    base.update(over)
    return pl.DataFrame(base)


def test_work_leaves_out_an_untied_input_embedding() -> None:
    row = add_work(_rows()).row(0, named=True)
    matmul = 1e9 - 100_000 * 1000  # the 1e8 lookup parameters do no matmul
    assert row["matmul_params"] == pytest.approx(matmul)
    assert row["flops_per_query"] == pytest.approx(2 * matmul * 80)  # the tokens the forwards really held
    assert row["forwards_per_query"] == pytest.approx(0.5)  # 5 batched forwards for 10 documents
    assert row["pass_bytes"] == pytest.approx(2e9 * matmul / 1e9)
    assert row["bytes_per_query"] == pytest.approx(2e9 * 0.9 * 0.5)
    tied = add_work(_rows(tied_embeddings=[True])).row(0, named=True)
    assert tied["matmul_params"] == pytest.approx(1e9)  # the tied matrix is also the output head


def test_decode_traffic_counts_the_steps_of_each_batch_and_the_kv_cache() -> None:
    # generation: 10 documents in 5 generate calls whose batches ran 9 steps each (longest sequence), mean 6 tokens
    rows = _rows(tokens_out_per_query=[6.0], forward_passes=[45], tokens_read_per_query=[100.0])
    row = add_work(rows).row(0, named=True)
    assert row["forwards_per_query"] == pytest.approx(4.5)  # not 0.5 x (1 + 6) = 3.5: steps, not mean tokens
    kv_token = 2 * 20 * 4 * 64 * 2  # K and V x layers x KV heads x head size x bf16
    assert row["kv_bytes_per_query"] == pytest.approx(kv_token * 6 * (100 + 3))
    assert row["bytes_per_query"] == pytest.approx(1.8e9 * 4.5 + kv_token * 6 * 103)
    old = add_work(rows.drop("forward_passes")).row(0, named=True)  # older records: the documented fallback
    assert old["forwards_per_query"] == pytest.approx(0.5 * 7)


def test_architecture_from_published_configs_for_old_records() -> None:
    rows = _rows(model=["gemma3-270m"]).drop("n_layers", "hidden_size", "n_kv_heads", "head_dim", "vocab_size",
                                              "tied_embeddings")  # fmt: skip
    row = add_work(rows).row(0, named=True)
    assert (row["n_layers"], row["n_kv_heads"], row["head_dim"], row["tied_embeddings"]) == (18, 1, 256, True)
    assert row["architecture_source"] == "published config"
    unknown = add_work(rows.with_columns(pl.lit("mystery").alias("model"))).row(0, named=True)
    assert unknown["n_layers"] is None and unknown["architecture_source"] is None


def test_efficiency_uses_measured_ceilings_only_and_flags_above_one() -> None:
    row = add_efficiency(_rows(), CEIL).row(0, named=True)
    floor = max(2 * 9e8 * 80 / 1e12, 0.9e9 / 1e10)  # compute 0.144 s vs memory 0.09 s
    assert row["floor_s_per_query"] == pytest.approx(floor) and row["roofline_bound"] == "compute"
    assert row["efficiency"] == pytest.approx(floor / 1.0) and row["efficiency_note"] is None
    fp32 = add_efficiency(_rows(quant=["fp32"]), CEIL).row(0, named=True)  # no fp32 ceiling: never bf16's
    assert fp32["efficiency"] is None and fp32["efficiency_note"] == "no fp32 matmul ceiling measured on this device"
    fast = add_efficiency(_rows(device_s_per_query=[0.1]), CEIL).row(0, named=True)
    assert fast["efficiency"] is None and "> 1" in fast["efficiency_note"]
    assert add_efficiency(_rows(), None).row(0, named=True)["efficiency_note"].startswith("no ceilings measured")


def test_read_ceilings_keeps_only_what_was_measured() -> None:
    ceilings = read_ceilings(SHIPPED)
    (device,) = ceilings
    assert sorted(ceilings[device]["matmul_flops"]) == ["bf16", "fp32"]  # no fp16 / int8 borrowed from bf16


def test_projection_never_goes_below_the_fixed_overhead_floor() -> None:
    h100 = load_catalog().get("H100-SXM")
    overhead = Overhead(optimistic_s=25e-6, conservative_s=1e-3, source="test", provenance="default")
    rows = add_efficiency(_rows(), CEIL)
    row = project_seconds(rows, h100, overhead).row(0, named=True)
    compute = 2 * 9e8 * 80 / 989e12
    memory = 0.9e9 / 3350e9
    launches = 0.5 * 20  # forwards per query x layers
    assert row["projected_s_optimistic"] == pytest.approx(max(compute, memory, launches * 25e-6))
    assert row["projected_s_optimistic"] >= launches * 25e-6 and row["projected_s_bound"] == "memory"
    # conservative: the same share of the roofline as measured, or eager launch costs, whichever is slower
    eff = rows["efficiency"][0]
    assert row["projected_s"] == pytest.approx(max(max(compute, memory) / eff, launches * 1e-3))
    assert row["projected_s"] >= row["projected_s_optimistic"]
    # a tiny model: launch-bound, and the projection says so
    tiny = project_seconds(add_efficiency(_rows(model_params=[1_000_000], weight_bytes=[2_000_000],
                                                vocab_size=[10], hidden_size=[10]), CEIL), h100, overhead)  # fmt: skip
    assert tiny["projected_s_bound"][0] == "overhead"
    assert tiny["projected_s_optimistic"][0] == pytest.approx(launches * 25e-6)


def test_projection_without_efficiency_or_peak_says_why() -> None:
    t4 = load_catalog().get("T4")  # no bf16: fp16 is what one would serve in
    assert peak_for(t4, "bf16") == pytest.approx(65e12)
    row = project_seconds(add_efficiency(_rows(), None), t4, DEFAULT_OVERHEAD["gpu"]).row(0, named=True)
    eager = 10 * DEFAULT_OVERHEAD["gpu"].conservative_s
    assert row["projected_s"] == pytest.approx(max(row["projected_s_optimistic"], eager))
    assert row["projection_note"].startswith("no usable efficiency")
    nolayers = project_seconds(add_efficiency(_rows(n_layers=[None], model=["x"]), None), t4, DEFAULT_OVERHEAD["gpu"])
    assert nolayers["projected_s"][0] is None and "layer count unknown" in nolayers["projection_note"][0]


def test_compute_precision_of_weight_only_and_int8_compute_backends() -> None:
    assert compute_precision("int4", "torchao-int4-prototype-opaque") == "bf16"
    assert compute_precision("int8", "bitsandbytes-llm.int8") == "int8"
    assert compute_precision("fp32") == "fp32"


def test_cpu_default_overhead_is_what_the_shipped_profiles_measure() -> None:
    from explorer.records.store import load_profiles

    measured = measured_overheads(load_profiles(SHIPPED), read_ceilings(SHIPPED))
    (device,) = measured
    got = measured[device]
    assert (got["model"], got["quant"]) == ("gemma3-270m", "bf16")
    assert got["per_layer_s"] == pytest.approx(DEFAULT_OVERHEAD["cpu"].conservative_s, rel=0.02)
    # by hand: 51.8 ms batch-1 decode minus 536 MB / 30.8 GB/s, over 18 layers
    assert got["per_layer_s"] == pytest.approx((0.051809 - 536198402 / 30768064537.7) / 18, rel=1e-3)
    cpu = overhead_for("cpu", measured)
    assert cpu.provenance == "measured" and cpu.conservative_s == pytest.approx(got["per_layer_s"])
    assert overhead_for("gpu", measured) == DEFAULT_OVERHEAD["gpu"]  # a CPU measurement says nothing of GPUs
