"""Serving profiles and device ceilings: plumbing on the tiny model, a real profile of SmolLM2-135M."""

from __future__ import annotations

import math

import polars as pl
import pytest

from explorer.launcher.profiles import ProfileSpec, run_profiles
from explorer.records.store import load_profiles
from explorer.runner.ceilings import measure_ceilings


def test_ceilings_measured_on_cpu() -> None:
    result = measure_ceilings("cpu", dtype="float32", matmul_n=256, copy_bytes=16 << 20, warmup=1, repeats=3)
    assert result["provenance"] == "measured" and result["device_kind"] == "cpu"
    assert 1e8 < result["matmul_flops"] < 1e14  # a CPU core does between 0.1 GFLOP/s and 100 TFLOP/s
    assert 1e8 < result["copy_bytes_per_s"] < 1e13
    assert result["matmul_cv"] >= 0 and result["copy_bytes"] == 16 << 20


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"models": []}, "at least one model"),
        ({"models": ["tiny-random-llama"], "new_tokens": 1}, "new_tokens must be >= 2"),
        ({"models": ["tiny-random-llama"], "batch_sizes": [0]}, "batch sizes must be positive"),
        ({"models": ["tiny-random-llama"], "quantizations": ["int3"]}, "did you mean"),
    ],
)
def test_profile_spec_errors(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        ProfileSpec(**kwargs)


def test_real_smollm2_profile_two_batch_sizes(tmp_path, smollm2_dir) -> None:
    spec = ProfileSpec(
        models=["smollm2-135m"],
        quantizations=["bf16", "nf4"],
        batch_sizes=[1, 4],
        prompt_tokens=32,
        new_tokens=8,
        warmup=1,
        repeats=3,
        device="cpu",
    )
    records = run_profiles(spec, tmp_path, log=lambda *_: None)
    assert [r["status"] for r in records] == ["ok", "failed"]
    assert "not available on cpu" in records[1]["error"]
    frame = load_profiles(tmp_path).filter(pl.col("status") == "ok").sort("batch_size")
    assert frame["batch_size"].to_list() == [1, 4]
    assert frame["model_params"].to_list() == [134515008, 134515008]
    for row in frame.iter_rows(named=True):
        assert 0 < row["prefill_s"] < row["generate_s"]
        assert row["decode_s_per_token"] > 0 and math.isfinite(row["generate_cv"]) and row["generate_cv"] >= 0
        assert row["tokens_per_s"] == pytest.approx(row["batch_size"] * 8 / row["generate_s"])
        assert row["peak_mem_bytes"] > 0 and row["energy_j_per_query"] is None
    # resumable: a second call reuses the finished profile instead of measuring again
    again = run_profiles(spec, tmp_path, log=lambda *_: None)
    assert again[0]["rows"] == records[0]["rows"]
