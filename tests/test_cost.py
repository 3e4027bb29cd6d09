"""Cost arithmetic, self-hosted cost, serving profiles, roofline floor / efficiency / projection (pure Polars)."""

from __future__ import annotations

import math
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from explorer.analysis import cost, roofline
from explorer.analysis.hardware import load_catalog

# ---------------------------------------------------------------- rented cost


def test_cost_arithmetic_by_hand() -> None:
    # 0.5 s at 3.60 USD/h = 1e-3 USD/s x 0.5 s
    assert cost.usd_per_query(0.5, 3.60) == pytest.approx(0.0005)
    assert cost.usd_per_1k_queries(0.5, 3.60) == pytest.approx(0.50)
    assert cost.monthly_usd(0.0005, 10_000) == pytest.approx(150.0)
    assert cost.monthly_usd(0.0005, 10_000, days=1) == pytest.approx(5.0)
    # half the paid time idle doubles the cost of each query
    assert cost.usd_per_query(0.5, 3.60, utilisation=0.5) == pytest.approx(0.001)


@pytest.mark.parametrize(
    "call",
    [
        lambda: cost.usd_per_query(-0.1, 1.0),
        lambda: cost.usd_per_query(0.1, -1.0),
        lambda: cost.usd_per_query(0.1, float("nan")),
        lambda: cost.usd_per_query(0.1, 1.0, utilisation=0.0),
        lambda: cost.usd_per_query(0.1, 1.0, utilisation=1.5),
        lambda: cost.monthly_usd(0.1, -3),
    ],
)
def test_bad_inputs_raise(call) -> None:
    with pytest.raises(ValueError):
        call()


seconds = st.floats(min_value=0, max_value=1e4, allow_nan=False)
prices = st.floats(min_value=0, max_value=1e3, allow_nan=False)


@given(seconds, seconds, prices, prices)
def test_cost_monotone_in_time_and_price(s1: float, s2: float, p1: float, p2: float) -> None:
    (s_lo, s_hi), (p_lo, p_hi) = sorted((s1, s2)), sorted((p1, p2))
    assert cost.usd_per_query(s_lo, p_lo) <= cost.usd_per_query(s_hi, p_lo) <= cost.usd_per_query(s_hi, p_hi)
    assert cost.usd_per_query(s_lo, p_hi) <= cost.usd_per_query(s_hi, p_hi)


@given(seconds, prices, st.floats(min_value=0, max_value=1e7, allow_nan=False))
def test_per_1k_and_monthly_are_linear(s: float, p: float, q: float) -> None:
    per_query = cost.usd_per_query(s, p)
    assert cost.usd_per_1k_queries(s, p) == pytest.approx(1000 * per_query)
    assert cost.monthly_usd(per_query, 2 * q) == pytest.approx(2 * cost.monthly_usd(per_query, q))


def _evals(**over: Any) -> pl.DataFrame:
    base: dict[str, Any] = {
        "cell_id": ["a", "b", "c"],
        "model": ["m", "m", "m"],
        "quant": ["bf16", "int8", "bf16"],
        "quant_backend": ["torch", "torchao-int8-weight-only", "torch"],
        "task": ["t", "t", "u"],
        "metric": ["acc", "acc", None],
        "value": [0.5, 0.4, None],
        "status": ["ok", "ok", "failed"],
        "device_kind": ["cpu"] * 3,
        "device_name": ["AMD EPYC (2 threads)"] * 3,
        "device_s_per_query": [0.5, 0.25, None],
        "energy_j_per_query": [None, None, None],
        "model_params": [100_000_000] * 3,
        "tokens_in_per_query": [300.0, 300.0, None],
        "tokens_out_per_query": [0.0, 0.0, None],
        "weight_bytes": [200_000_000, 100_000_000, 200_000_000],
        "n_docs": [100, 100, None],
    }
    base.update(over)
    return pl.DataFrame(base, schema_overrides={"energy_j_per_query": pl.Float64})


def test_add_costs_values_provenance_and_kept_columns() -> None:
    evals = _evals()
    out = cost.add_costs(evals, usd_per_hour=3.60, queries_per_day=10_000, provider="aws")
    assert out.columns[: len(evals.columns)] == evals.columns
    assert out.select(evals.columns).equals(evals)
    assert out.get_column("usd_per_query").to_list()[:2] == pytest.approx([0.0005, 0.00025])
    assert out.get_column("usd_per_1k_queries").to_list()[:2] == pytest.approx([0.5, 0.25])
    assert out.get_column("monthly_usd").to_list()[:2] == pytest.approx([150.0, 75.0])
    # the failed cell: no time, no cost, no provenance
    assert out.row(2, named=True)["usd_per_query"] is None
    assert out.get_column("cost_provenance").to_list() == ["measured", "measured", None]
    assert out.get_column("hardware").to_list() == ["AMD EPYC (2 threads)"] * 3
    assert out.get_column("provider").to_list() == ["aws"] * 3


def test_add_costs_other_hardware_is_projected_unless_catalog_matches() -> None:
    catalog = load_catalog()
    out = cost.add_costs(_evals(), 1.0, hardware="H100-SXM", catalog=catalog)
    assert out.get_column("cost_provenance").to_list()[:2] == ["projected", "projected"]
    assert set(out.get_column("hardware")) == {"H100-SXM"}
    on_h100 = _evals(device_name=["NVIDIA H100 80GB HBM3"] * 3, device_kind=["cuda"] * 3)
    out = cost.add_costs(on_h100, 1.0, hardware="H100-SXM", catalog=catalog)
    assert out.get_column("cost_provenance").to_list()[:2] == ["measured", "measured"]
    out = cost.add_costs(on_h100, 1.0, hardware="H100-SXM")  # no catalog: names differ, so projected
    assert out.get_column("cost_provenance").to_list()[:2] == ["projected", "projected"]


# ---------------------------------------------------------------- self-hosted


def test_self_hosted_with_measured_energy() -> None:
    # capex spread over one busy year: 31557.6 USD / 31557600 s = 1e-3 USD per busy second
    got = cost.self_hosted_usd_per_query(
        device_s_per_query=0.5,
        energy_j_per_query=360.0,
        usd_per_kwh=0.10,
        capex_usd=31_557.6,
        lifetime_years=1.0,
        utilisation=1.0,
    )
    assert got.energy_usd_per_query == pytest.approx(1e-5)  # 360 J = 1e-4 kWh
    assert got.hardware_usd_per_query == pytest.approx(0.0005)
    assert got.usd_per_query == pytest.approx(0.00051)
    assert got.energy_provenance == "measured"
    half_busy = cost.self_hosted_usd_per_query(0.5, 360.0, 0.10, 31_557.6, 1.0, 0.5)
    assert half_busy.hardware_usd_per_query == pytest.approx(0.001)


def test_self_hosted_without_energy_falls_back_to_tdp_and_says_projected() -> None:
    got = cost.self_hosted_usd_per_query(0.5, None, 0.20, 0.0, 3.0, 1.0, tdp_w=720.0)
    assert got.energy_j_per_query == pytest.approx(360.0)
    assert got.usd_per_query == pytest.approx(2e-5)
    assert got.energy_provenance == "projected"
    with pytest.raises(ValueError, match="tdp_w"):
        cost.self_hosted_usd_per_query(0.5, None, 0.20, 0.0, 3.0, 1.0)


def test_add_self_hosted_costs_frame() -> None:
    hw = {"name": "box", "tdp_w": 720.0, "capex_usd": 31_557.6}
    evals = _evals(energy_j_per_query=[360.0, None, None])
    out = cost.add_self_hosted_costs(evals, hw, usd_per_kwh=0.10, lifetime_years=1.0, utilisation=1.0)
    # row 0: measured energy 360 J; row 1: 720 W x 0.25 s = 180 J from the TDP
    assert out.get_column("energy_usd_per_query").to_list()[:2] == pytest.approx([1e-5, 5e-6])
    assert out.get_column("usd_per_query").to_list()[:2] == pytest.approx([0.00051, 0.000255])
    assert out.get_column("energy_provenance").to_list()[:2] == ["measured", "projected"]
    assert out.get_column("cost_provenance").to_list() == ["measured", "projected", None]
    with pytest.raises(ValueError, match="capex_usd"):
        cost.add_self_hosted_costs(evals, {"name": "rented", "tdp_w": 70.0}, 0.1)


# ---------------------------------------------------------------- serving profiles


def _profiles() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "model": ["m", "m", "m"],
            "quant": ["bf16"] * 3,
            "device_name": ["AMD EPYC (2 threads)"] * 3,
            "batch_size": [1, 8, 8],
            "prompt_tokens": [128] * 3,
            "new_tokens": [10] * 3,
            "prefill_s": [0.1, 0.35, 0.45],  # batch 8 profiled twice: mean 0.4
            "decode_s_per_token": [0.02, 0.04, 0.04],
        }
    )


def test_device_s_at_batch_measured_interpolated_and_outside() -> None:
    at8 = cost.device_s_at_batch(_profiles(), 8).row(0, named=True)
    assert at8["device_s_per_query"] == pytest.approx((0.4 + 9 * 0.04) / 8)  # 10 tokens: prefill + 9 steps
    assert at8["device_s_provenance"] == "measured"
    at1 = cost.device_s_at_batch(_profiles(), 1, new_tokens=0).row(0, named=True)
    assert at1["device_s_per_query"] == pytest.approx(0.1)
    at4 = cost.device_s_at_batch(_profiles(), 4).row(0, named=True)
    w = 3 / 7
    prefill, decode = 0.1 + w * 0.3, 0.02 + w * 0.02
    assert at4["device_s_per_query"] == pytest.approx((prefill + 9 * decode) / 4)
    assert at4["device_s_provenance"] == "projected"
    at16 = cost.device_s_at_batch(_profiles(), 16).row(0, named=True)
    assert at16["device_s_per_query"] is None


def test_apply_serving_profile_keeps_in_situ_where_no_profile() -> None:
    evals = _evals()
    out = cost.apply_serving_profile(evals, _profiles(), 8)
    assert out.get_column("cell_id").to_list() == ["a", "b", "c"]
    assert out.get_column("device_s_per_query").to_list()[0] == pytest.approx((0.4 + 9 * 0.04) / 8)  # profiled
    assert out.get_column("device_s_per_query").to_list()[1] == pytest.approx(0.25)  # int8: in situ
    assert out.get_column("device_s_provenance").to_list()[:2] == ["measured", "measured"]
    assert out.get_column("in_situ_device_s_per_query").to_list()[0] == pytest.approx(0.5)


# ---------------------------------------------------------------- roofline


def test_roofline_floor_and_efficiency_by_hand() -> None:
    # compute-bound: 2e12 FLOP at 1e12 FLOP/s = 2 s, 1e9 B at 1e12 B/s = 1 ms
    assert roofline.roofline_floor_s(2e12, 1e9, 1e12, 1e12) == pytest.approx(2.0)
    # memory-bound: 1e9 FLOP -> 1 ms; 4e9 B at 2e9 B/s = 2 s
    assert roofline.roofline_floor_s(1e9, 4e9, 1e12, 2e9) == pytest.approx(2.0)
    assert roofline.efficiency(4.0, 2.0) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        roofline.efficiency(0.0, 1.0)
    with pytest.raises(ValueError):
        roofline.roofline_floor_s(1.0, 1.0, 0.0, 1.0)


def test_work_per_query_by_hand() -> None:
    frame = _evals(tokens_out_per_query=[0.0, 10.0, None], model_calls=[13, 25, None], n_docs=[100, 100, None]).head(2)
    out = roofline.add_work(frame)
    # 2 x 1e8 params x 300 tokens; 2 x 1e8 x 310
    assert out.get_column("flops_per_query").to_list() == pytest.approx([6e10, 6.2e10])
    # log-likelihood: 13 calls / 100 docs; generation: 25 / 100 x (1 prefill + 10 decode steps)
    assert out.get_column("weight_passes_per_query").to_list() == pytest.approx([0.13, 2.75])
    assert out.get_column("bytes_per_query").to_list() == pytest.approx([2e8 * 0.13, 1e8 * 2.75])
    # without model_calls: one forward per document
    assert roofline.add_work(frame.drop("model_calls")).get_column("weight_passes_per_query")[0] == 1.0


@pytest.mark.parametrize(
    ("quant", "backend", "precision"),
    [
        ("bf16", "torch", "bf16"),
        ("fp32", "torch", "fp32"),
        ("int8", "torchao-int8-weight-only", "bf16"),
        ("int8", "bitsandbytes-llm.int8", "int8"),
        ("int8", "torchao-int8-dynamic", "int8"),
        ("int4", "torchao-int4-weight-only", "bf16"),
        ("nf4", "bitsandbytes-nf4", "bf16"),
    ],
)
def test_compute_precision(quant: str, backend: str, precision: str) -> None:
    assert roofline.compute_precision(quant, backend) == precision
    frame = pl.DataFrame({"quant": [quant], "quant_backend": [backend]})
    assert frame.select(roofline._precision_expr(pl.col("quant"), pl.col("quant_backend"))).item() == precision


def test_peak_by_precision_with_fallback() -> None:
    catalog = load_catalog()
    h100, t4 = catalog.get("H100-SXM"), catalog.get("T4")
    assert roofline.peak_for(h100, "int8") == pytest.approx(1979e12)
    assert roofline.peak_for(h100, "bf16") == pytest.approx(989e12)
    assert roofline.peak_for(t4, "bf16") == pytest.approx(65e12)  # no bf16 on Turing: fp16


def test_add_efficiency_and_projection_labelled_projected() -> None:
    evals = _evals(model_calls=[100, 100, None]).head(2)  # one pass per document
    ceilings = {"matmul_flops": 1e11, "copy_bytes_per_s": 1e9}
    eff = roofline.add_efficiency(evals, ceilings)
    # row 0: 6e10 FLOP / 1e11 = 0.6 s vs 2e8 B / 1e9 = 0.2 s -> 0.6 s compute-bound; measured 0.5 s
    # row 1 (int8 weight-only -> bf16 peak): 0.6 s vs 0.1 s -> 0.6 s; measured 0.25 s
    assert eff.get_column("floor_s_per_query").to_list() == pytest.approx([0.6, 0.6])
    assert eff.get_column("roofline_bound").to_list() == ["compute", "compute"]
    assert eff.get_column("efficiency").to_list() == pytest.approx([1.2, 2.4])
    eff = roofline.add_efficiency(evals, {"matmul_flops": 1e12, "copy_bytes_per_s": 1e9})
    # now 0.06 s compute vs 0.2 / 0.1 s memory -> memory-bound; efficiency 0.4 and 0.4
    assert eff.get_column("roofline_bound").to_list() == ["memory", "memory"]
    assert eff.get_column("efficiency").to_list() == pytest.approx([0.4, 0.4])

    target = {"name": "T", "peak_bf16_flops": 1e14, "mem_bw_bytes_per_s": 1e11, "mem_bytes": 1.5e8}
    out = roofline.project(eff, target)
    # target floor: max(6e10/1e14, 2e8/1e11) = 2 ms; / 0.4 = 5 ms. Row 1: 1e8/1e11 = 1 ms / 0.4
    assert out.get_column("target_floor_s_per_query").to_list() == pytest.approx([0.002, 0.001])
    assert out.get_column("projected_device_s_per_query").to_list() == pytest.approx([0.005, 0.0025])
    assert out.get_column("fits_in_memory").to_list() == [False, True]
    assert set(out.get_column("projection_provenance")) == {"projected"}
    # a single efficiency for every row; capped at 1 so a projection never beats the target's floor
    capped = roofline.project(evals, target, efficiency_here=3.0)
    assert capped.get_column("projected_device_s_per_query").to_list() == pytest.approx([0.002, 0.001])
    with pytest.raises(ValueError, match="add_efficiency"):
        roofline.project(evals, target)


def test_project_device_s_then_costs_are_projected() -> None:
    catalog = load_catalog()
    evals = _evals(model_calls=[100, 100, None], energy_j_per_query=[5.0, 5.0, None])
    eff = roofline.add_efficiency(evals, {"matmul_flops": 1e12, "copy_bytes_per_s": 1e9})
    h100 = catalog.get("H100-SXM")
    moved = cost.project_device_s(eff, h100)
    floor0 = max(6e10 / 989e12, 2e8 / 3.35e12)
    assert moved.get_column("device_s_per_query")[0] == pytest.approx(floor0 / 0.4)
    assert moved.get_column("measured_device_s_per_query")[0] == pytest.approx(0.5)
    assert set(moved.get_column("device_s_provenance")) == {"projected"}
    assert moved.get_column("energy_j_per_query").null_count() == moved.height
    assert set(moved.get_column("hardware")) == {"H100-SXM"}
    price = catalog.price("H100-SXM", "lambda")["usd_per_hour"]
    costed = cost.add_costs(moved, price, hardware="H100-SXM", provider="lambda", catalog=catalog)
    assert costed.get_column("cost_provenance").to_list()[:2] == ["projected", "projected"]
    assert costed.get_column("usd_per_query")[0] == pytest.approx(floor0 / 0.4 * price / 3600)
    assert not math.isnan(costed.get_column("usd_per_query")[1])
