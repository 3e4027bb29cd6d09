"""Generation workloads from serving profiles: interpolation, the batch that meets the targets, by hand."""

from __future__ import annotations

import polars as pl
import pytest

from explorer.deployment.generation import choose_batch, generation_service, interpolate
from explorer.deployment.options import hardware_options, measured_option
from explorer.deployment.workload import Workload
from explorer.hardware.catalog import load_catalog
from explorer.hardware.ceilings import DEFAULT_OVERHEAD

DEVICE = "TestCPU"
# batch -> (prefill_s, decode_s_per_token), 64 prompt tokens, 8 new tokens
POINTS = {1: (0.10, 0.020), 4: (0.30, 0.030), 16: (1.10, 0.080)}


def _profiles(device: str = DEVICE) -> pl.DataFrame:
    n = len(POINTS)
    return pl.DataFrame(
        {
            "model": ["m"] * n, "quant": ["bf16"] * n, "quant_backend": ["torch"] * n, "device_name": [device] * n,
            "device_kind": ["cpu"] * n, "status": ["ok"] * n, "batch_size": list(POINTS),
            "prefill_s": [p for p, _ in POINTS.values()], "decode_s_per_token": [d for _, d in POINTS.values()],
            "prompt_tokens": [64] * n, "new_tokens": [8] * n, "model_params": [100_000_000] * n,
            "weight_bytes": [200_000_000] * n, "peak_mem_bytes": [300_000_000, 350_000_000, 500_000_000],
            "n_layers": [10] * n, "hidden_size": [512] * n, "n_kv_heads": [4] * n, "head_dim": [64] * n,
            "vocab_size": [32_000] * n, "tied_embeddings": [True] * n,
        }
    )  # fmt: skip


def test_interpolate_inside_only() -> None:
    pts = [(1.0, 0.1), (4.0, 0.3), (16.0, 1.1)]
    assert interpolate(pts, 4.0) == pytest.approx(0.3)
    assert interpolate(pts, 10.0) == pytest.approx(0.3 + 6 / 12 * 0.8)
    assert interpolate(pts, 0.5) is None and interpolate(pts, 17.0) is None  # never extrapolated


def test_largest_batch_meeting_both_targets_by_hand() -> None:
    curve = [(b, p, d) for b, (p, d) in POINTS.items()]
    w = Workload(queries_per_day=1e7, output_tokens=8, ttft_s=0.5, tpot_s=0.05)
    got = choose_batch(curve, w, prompt_scale=1.0)
    # TPOT 0.03 + (b - 4) x 0.05 / 12 <= 0.05 -> b <= 8.8; TTFT 0.3 + (b - 4) x 0.8 / 12 <= 0.5 -> b <= 7
    assert got["batch"] == 7 and got["reason"] is None and got["batch_note"] is None
    ttft, tpot = 0.3 + 3 * 0.8 / 12, 0.03 + 3 * 0.05 / 12
    assert (got["ttft_s"], got["tpot_s"]) == (pytest.approx(ttft), pytest.approx(tpot))
    assert got["service_s"] == pytest.approx((ttft + 7 * tpot) / 7)
    # loose targets: the largest profiled batch, said so, nothing beyond it
    loose = choose_batch(curve, w.with_(ttft_s=5.0, tpot_s=1.0), 1.0)
    assert loose["batch"] == 16 and "not extrapolated" in loose["batch_note"]
    # a prompt twice as long doubles the prefill: 2 x (0.1 + (b - 1) x 0.2 / 3) <= 0.5 -> b <= 3.25
    assert choose_batch(curve, w, prompt_scale=2.0)["batch"] == 3
    # too strict: nothing served, and why
    none = choose_batch(curve, w.with_(tpot_s=0.01), 1.0)
    assert none["reason"] == "TPOT 0.02 s > target 0.01 s at batch 1"


def test_batches_hold_no_more_queries_than_are_in_flight() -> None:
    curve = [(b, p, d) for b, (p, d) in POINTS.items()]
    quiet = Workload(queries_per_day=86_400, peak_to_mean=1.0, output_tokens=8, ttft_s=5.0, tpot_s=1.0)
    # 1 query/s at the peak; at batch 1 a query takes 0.1 + 7 x 0.02 = 0.24 s: one in flight
    assert choose_batch(curve, quiet, 1.0)["batch"] == 1


def test_generation_service_measured_and_projected_with_reasons() -> None:
    rows = pl.DataFrame({"model": ["m", "other"], "quant": ["bf16", "bf16"], "task": ["t", "t"], "value": [0.5, 0.6]})
    w = Workload(queries_per_day=1e7, output_tokens=8, ttft_s=0.5, tpot_s=0.05)
    here = measured_option(DEVICE, "cpu", 1.0)
    out = generation_service(rows, _profiles(), here, w, {}, {})
    m = out.filter(pl.col("model") == "m").row(0, named=True)
    assert m["batch_size_served"] == 7 and m["cost_provenance"] == "measured"
    assert m["service_s_per_query"] == pytest.approx(m["service_s_per_query_optimistic"])
    # memory at batch 7: the profile's interpolated peak (400 MB) vs weights + KV of 7 x 72 tokens
    kv = 7 * (64 + 8) * 2 * 10 * 4 * 64 * 2
    assert m["need_bytes"] == pytest.approx(max(350e6 + 3 / 12 * 150e6, 200e6 + kv))
    other = out.filter(pl.col("model") == "other").row(0, named=True)
    assert other["service_s_per_query"] is None and other["gen_reason"].startswith("no serving profile")
    # on an L4 the steps are projected: a range, never below the launch floor of one forward
    l4 = next(o for o in hardware_options(load_catalog(), w.with_(hardware=("L4",)), [DEVICE]) if o.name == "L4")
    proj = generation_service(rows, _profiles(), l4, w, {}, {}).filter(pl.col("model") == "m").row(0, named=True)
    gpu = DEFAULT_OVERHEAD["gpu"]  # no GPU profile: one decode step costs at least 10 layers of launches
    assert proj["cost_provenance"] == "projected" and proj["tpot_s"] == pytest.approx(10 * gpu.conservative_s)
    assert proj["service_s_per_query_optimistic"] <= proj["service_s_per_query"]
    lo = choose_batch([(b, p, d) for b, (p, d) in POINTS.items()], w, 1.0)  # the measured curve, for scale
    assert proj["service_s_per_query_optimistic"] < lo["service_s"]  # an L4 is faster than this CPU


def test_the_smallest_profiled_batch_runs_under_filled_when_few_queries_are_in_flight() -> None:
    curve = [(4, 0.05, 0.01), (8, 0.08, 0.012)]
    w = Workload(queries_per_day=100, output_tokens=8, ttft_s=1.0, tpot_s=0.2)
    got = choose_batch(curve, w, 1.0)
    e2e = 0.05 + 7 * 0.01  # one query in flight at a time
    assert got["reason"] is None and got["batch"] == 4 and got["service_s"] == pytest.approx(e2e)
    assert got["batch_note"] == "under-filled: about 1 queries in flight for a batch of 4"


def test_a_shorter_prompt_keeps_the_prefill_above_its_launch_floor() -> None:
    curve = [(b, p, d) for b, (p, d) in POINTS.items()]
    w = Workload(queries_per_day=86_400, peak_to_mean=1.0, output_tokens=8, ttft_s=5.0, tpot_s=1.0)
    got = choose_batch(curve, w, prompt_scale=0.01, prefill_floor_s=0.05)
    assert got["batch"] == 1 and got["ttft_s"] == pytest.approx(0.05)  # not 0.1 x 0.01


def test_one_profile_per_curve_when_a_device_was_profiled_at_two_prompt_lengths() -> None:
    rows = pl.DataFrame({"model": ["m"], "quant": ["bf16"], "task": ["t"], "value": [0.5]})
    longer = _profiles().with_columns(pl.lit(512, dtype=pl.Int64).alias("prompt_tokens"), pl.col("prefill_s") * 8)
    profiles = pl.concat([_profiles(), longer])
    here = measured_option(DEVICE, "cpu", 1.0)
    w = Workload(queries_per_day=1e7, output_tokens=8, ttft_s=0.5, tpot_s=0.05)
    short = generation_service(rows, profiles, here, w.with_(prompt_tokens=64.0), {}, {}).row(0, named=True)
    assert short["batch_size_served"] == 7 and "scaled" not in short["service_source"]  # the 64-token profile
    long_w = w.with_(prompt_tokens=500.0, ttft_s=5.0)  # the closest profile: 512 tokens, prefill x 500 / 512
    long = generation_service(rows, profiles, here, long_w, {}, {}).row(0, named=True)
    assert long["ttft_s"] == pytest.approx((0.3 + 4 / 12 * 0.8) * 8 * 500 / 512) and long["batch_size_served"] == 8
    # the workload keeps the profile's prompt: the profile with the most batch sizes, then the longer prompt
    kept = generation_service(rows, profiles, here, w.with_(ttft_s=5.0), {}, {}).row(0, named=True)
    assert kept["ttft_s"] == pytest.approx((0.3 + 4 / 12 * 0.8) * 8)
