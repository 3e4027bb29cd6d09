"""Roofline estimates from measured records: work per query, the floor time a device allows, efficiency, projection.

Per query (one lm-eval document) the records give the model's dense parameter count, the tokens read and generated,
the bytes of the stored weights and the number of model calls. From them:

- ``flops_per_query = 2 x model_params x (tokens_read_per_query + tokens_out_per_query)``: the dense matmul work
  (tokens_read: what the forwards really held; tokens_in_per_query where a record lacks it)
  (attention score FLOPs and the embedding lookup are ignored; both are small at these context lengths).
- ``bytes_per_query = weight_bytes x weight_passes_per_query``: weight traffic only (activations and KV cache are
  ignored). A forward pass over a batch reads the weights once, so
  ``weight_passes_per_query = calls_per_query x (1 + tokens_out_per_query)`` with ``calls_per_query =
  model_calls / n_docs`` when the record has `model_calls` (batching amortises the weight reads), else 1 (one
  forward per log-likelihood document). Each generate call runs one prefill and then about `tokens_out` decode
  steps per document, every step reading the weights once for the whole batch.
- ``roofline_floor_s = max(flops / peak_flops, bytes / mem_bw_bytes_per_s)``: no device can do better.
- ``efficiency = floor / measured`` (0..1): the share of the roofline reached.

Which peak: the compute precision of the quantization backend, not the storage type. Weight-only int8/int4/nf4
backends (torchao weight-only, bitsandbytes 4-bit) dequantize to bf16 and multiply in bf16, so their floor uses
the bf16 peak; only backends that multiply in int8 (bitsandbytes LLM.int8, int8 dynamic activation) use the int8
peak. Hardware without native bf16 (T4, Ice Lake CPUs) falls back to fp16, then fp32 - the type one would serve in
there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from explorer.analysis.columns import require_columns as _require

PRECISIONS = ("bf16", "fp16", "fp32", "int8")
PEAK_COLUMN = {"bf16": "peak_bf16_flops", "fp16": "peak_fp16_flops", "fp32": "peak_fp32_flops", "int8": "peak_int8_ops"}
# when the hardware lacks a precision (null peak): what it would run instead
PEAK_FALLBACK = {"int8": ("int8", "bf16", "fp16", "fp32"), "bf16": ("bf16", "fp16", "fp32"), "fp16": ("fp16", "fp32")}
INT8_COMPUTE_BACKENDS = frozenset({"bitsandbytes-llm.int8"})
INT8_COMPUTE_MARKERS = ("int8-dynamic", "int8_dynamic", "w8a8")
PROJECTED = "projected"
WORK_COLUMNS = ("model_params", "tokens_in_per_query", "tokens_out_per_query", "weight_bytes", "n_docs")

Number = float | int


def compute_precision(quant: str | None, quant_backend: str | None = None) -> str:
    """The precision the matmuls run in for a quantization level and backend (bf16 for weight-only schemes)."""
    level = (quant or "bf16").lower()
    backend = (quant_backend or "").lower()
    if level in ("fp32", "fp16", "bf16"):
        return level
    if level == "int8" and (backend in INT8_COMPUTE_BACKENDS or any(m in backend for m in INT8_COMPUTE_MARKERS)):
        return "int8"
    return "bf16"


def peak_for(hardware: Mapping[str, Any], precision: str) -> float:
    """Peak FLOP/s (or int8 op/s) of a catalog row for a compute precision, falling back when not native."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; known: {', '.join(PRECISIONS)}")
    for candidate in PEAK_FALLBACK.get(precision, (precision,)):
        value = hardware.get(PEAK_COLUMN[candidate])
        if value is not None and value > 0:
            return float(value)
    raise ValueError(f"hardware {hardware.get('name')!r} lists no peak usable for {precision}")


def _precision_expr(quant: pl.Expr, backend: pl.Expr) -> pl.Expr:
    """`compute_precision` as a Polars expression (same rules)."""
    level = quant.cast(pl.String).str.to_lowercase().fill_null("bf16")
    back = backend.cast(pl.String).str.to_lowercase().fill_null("")
    int8_compute = back.is_in(list(INT8_COMPUTE_BACKENDS))
    for marker in INT8_COMPUTE_MARKERS:
        int8_compute = int8_compute | back.str.contains(marker, literal=True)
    return (
        pl.when(level.is_in(["fp32", "fp16", "bf16"]))
        .then(level)
        .when((level == "int8") & int8_compute)
        .then(pl.lit("int8"))
        .otherwise(pl.lit("bf16"))
    )


def _lit(value: Any) -> pl.Expr:
    return value if isinstance(value, pl.Expr) else pl.lit(value)


def _is_expr(*values: Any) -> bool:
    return any(isinstance(v, pl.Expr) for v in values)


def roofline_floor_s(
    flops: Number | pl.Expr,
    bytes_: Number | pl.Expr,
    peak_flops: Number | pl.Expr,
    mem_bw_bytes_per_s: Number | pl.Expr,
) -> float | pl.Expr:
    """Lower bound on seconds: max(flops / peak_flops, bytes / mem_bw_bytes_per_s). Numbers or Polars expressions."""
    if _is_expr(flops, bytes_, peak_flops, mem_bw_bytes_per_s):
        return pl.max_horizontal(_lit(flops) / peak_flops, _lit(bytes_) / mem_bw_bytes_per_s)
    if peak_flops <= 0 or mem_bw_bytes_per_s <= 0:
        raise ValueError(f"peak_flops ({peak_flops}) and mem_bw_bytes_per_s ({mem_bw_bytes_per_s}) must be > 0")
    if flops < 0 or bytes_ < 0:
        raise ValueError(f"flops ({flops}) and bytes ({bytes_}) must be >= 0")
    return max(flops / peak_flops, bytes_ / mem_bw_bytes_per_s)


def efficiency(measured_s: Number | pl.Expr, floor_s: Number | pl.Expr) -> float | pl.Expr:
    """Share of the roofline reached: floor_s / measured_s (1 = at the roofline). Above 1 means the ceilings used
    for the floor are too low for this device."""
    if _is_expr(measured_s, floor_s):
        return _lit(floor_s) / measured_s
    if measured_s <= 0:
        raise ValueError(f"measured seconds must be > 0, got {measured_s}")
    if floor_s < 0:
        raise ValueError(f"floor seconds must be >= 0, got {floor_s}")
    return floor_s / measured_s


def add_work(evals: pl.DataFrame) -> pl.DataFrame:
    """Add flops_per_query, bytes_per_query, weight_passes_per_query and compute_precision (all input columns kept)."""
    _require(evals, WORK_COLUMNS, "add_work")
    if "model_calls" in evals.columns:
        calls = (
            pl.when(pl.col("model_calls").is_not_null() & (pl.col("n_docs") > 0))
            .then(pl.col("model_calls").cast(pl.Float64) / pl.col("n_docs"))
            .otherwise(1.0)
        )
    else:
        calls = pl.lit(1.0)
    tokens_out = pl.col("tokens_out_per_query").cast(pl.Float64).fill_null(0.0)
    # the tokens the model really read (lm-eval shares one forward between one-token choices of a context);
    # records without that count fall back to the requests' tokens
    read = pl.col("tokens_read_per_query") if "tokens_read_per_query" in evals.columns else pl.lit(None)
    tokens = pl.coalesce(read.cast(pl.Float64), pl.col("tokens_in_per_query").cast(pl.Float64)) + tokens_out
    backend = pl.col("quant_backend") if "quant_backend" in evals.columns else pl.lit(None, dtype=pl.String)
    return evals.with_columns(
        (2.0 * pl.col("model_params").cast(pl.Float64) * tokens).alias("flops_per_query"),
        (calls * (1.0 + tokens_out)).alias("weight_passes_per_query"),
        _precision_expr(pl.col("quant"), backend).alias("compute_precision"),
    ).with_columns(
        (pl.col("weight_bytes").cast(pl.Float64) * pl.col("weight_passes_per_query")).alias("bytes_per_query")
    )


def _peak_expr(peaks: Mapping[str, float]) -> pl.Expr:
    expr = pl.lit(None, dtype=pl.Float64)
    for precision, value in peaks.items():
        expr = pl.when(pl.col("compute_precision") == precision).then(pl.lit(value)).otherwise(expr)
    return expr


def add_efficiency(evals: pl.DataFrame, ceilings: Mapping[str, Any]) -> pl.DataFrame:
    """Roofline floor and efficiency of every measured row on the device at hand.

    `ceilings` are measured on that device: {"matmul_flops": float or {precision: float}, "copy_bytes_per_s": float}.
    A single matmul_flops is used for every precision. Adds the `add_work` columns plus peak_flops_here,
    floor_s_per_query, roofline_bound ("compute" | "memory") and efficiency (floor / device_s_per_query)."""
    if "matmul_flops" not in ceilings or "copy_bytes_per_s" not in ceilings:
        raise ValueError(f"ceilings need 'matmul_flops' and 'copy_bytes_per_s', got {sorted(ceilings)}")
    matmul = ceilings["matmul_flops"]
    bandwidth = float(ceilings["copy_bytes_per_s"])
    if bandwidth <= 0:
        raise ValueError(f"copy_bytes_per_s must be > 0, got {bandwidth}")
    peaks = {p: float(matmul) for p in PRECISIONS} if not isinstance(matmul, Mapping) else dict(matmul)
    if any(v <= 0 for v in peaks.values()):
        raise ValueError(f"matmul_flops must be > 0, got {matmul}")
    _require(evals, ("device_s_per_query",), "add_efficiency")
    frame = add_work(evals)
    unknown = set(frame.get_column("compute_precision").unique()) - set(peaks)
    if unknown:
        raise ValueError(f"ceilings give no matmul_flops for precision(s) {', '.join(sorted(unknown))}")
    compute_s = pl.col("flops_per_query") / pl.col("peak_flops_here")
    memory_s = pl.col("bytes_per_query") / bandwidth
    measured = pl.col("device_s_per_query")
    return (
        frame.with_columns(_peak_expr(peaks).alias("peak_flops_here"))
        .with_columns(
            roofline_floor_s(
                pl.col("flops_per_query"), pl.col("bytes_per_query"), pl.col("peak_flops_here"), bandwidth
            ).alias("floor_s_per_query"),
            pl.when(compute_s >= memory_s).then(pl.lit("compute")).otherwise(pl.lit("memory")).alias("roofline_bound"),
        )
        .with_columns(
            pl.when(measured > 0).then(efficiency(measured, pl.col("floor_s_per_query"))).alias("efficiency"),
        )
    )


def project(evals: pl.DataFrame, target: Mapping[str, Any], efficiency_here: float | None = None) -> pl.DataFrame:
    """Projected device seconds per query on catalog hardware `target` (a `Catalog.get(name)` row).

    Assumption: the workload reaches the same fraction of the roofline on the target as it did here, so
    ``projected = target floor / efficiency_here``. The target floor uses the target's datasheet peak for the row's
    compute precision and its datasheet memory bandwidth. `efficiency_here` is one number for every row, or None to
    use each row's `efficiency` column (from `add_efficiency`). Efficiency is capped at 1, so a projection never
    beats the target's roofline. Adds target_hardware, target_peak_flops, target_floor_s_per_query,
    projection_efficiency, projected_device_s_per_query, fits_in_memory (weight_bytes <= target mem_bytes) and
    projection_provenance = "projected"; every input column is kept."""
    for key in ("name", "mem_bw_bytes_per_s"):
        if target.get(key) is None:
            raise ValueError(f"target hardware row lacks {key!r}; pass a Catalog.get(name) row")
    frame = add_work(evals)
    if efficiency_here is None:
        if "efficiency" not in frame.columns:
            raise ValueError("project: no 'efficiency' column; call add_efficiency(evals, ceilings) first or pass one")
        eff = pl.col("efficiency")
    else:
        if not efficiency_here > 0:
            raise ValueError(f"efficiency_here must be > 0, got {efficiency_here}")
        eff = pl.lit(float(efficiency_here))
    peaks = {p: peak_for(target, p) for p in PRECISIONS if _has_peak(target, p)}
    eff = pl.when(eff > 0).then(pl.min_horizontal(eff, pl.lit(1.0)))
    mem_bytes = target.get("mem_bytes")
    fits = pl.col("weight_bytes") <= mem_bytes if mem_bytes is not None else pl.lit(None, dtype=pl.Boolean)
    return (
        frame.with_columns(
            pl.lit(target["name"]).alias("target_hardware"),
            _peak_expr(peaks).alias("target_peak_flops"),
            eff.alias("projection_efficiency"),
        )
        .with_columns(
            roofline_floor_s(
                pl.col("flops_per_query"),
                pl.col("bytes_per_query"),
                pl.col("target_peak_flops"),
                float(target["mem_bw_bytes_per_s"]),
            ).alias("target_floor_s_per_query"),
            fits.alias("fits_in_memory"),
        )
        .with_columns(
            (pl.col("target_floor_s_per_query") / pl.col("projection_efficiency")).alias(
                "projected_device_s_per_query"
            ),
            pl.lit(PROJECTED).alias("projection_provenance"),
        )
    )


def _has_peak(target: Mapping[str, Any], precision: str) -> bool:
    try:
        peak_for(target, precision)
    except ValueError:
        return False
    return True
