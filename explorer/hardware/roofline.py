"""Roofline: the floor time a device allows for some work, and the share of it a measurement reached.

``roofline_floor_s = max(flops / peak_flops, bytes / bandwidth)``; ``efficiency = floor / measured`` (0..1). The
work comes from `explorer.hardware.work` (FLOPs without the input-embedding lookup, weight bytes per forward pass,
KV-cache bytes per decode step).

Which peak: the compute precision of the quantization backend, not the storage type. Weight-only int8/int4/nf4
backends (torchao weight-only, bitsandbytes 4-bit) dequantize and multiply in bf16, so their floor uses the bf16
peak; only backends that multiply in int8 (bitsandbytes LLM.int8, int8 dynamic activation) use the int8 peak.
On catalog hardware (datasheet peaks) a precision the hardware lacks falls back to the type one would serve in
there (int8 -> bf16 -> fp16 -> fp32). On the measuring device only MEASURED ceilings count: a row whose
precision has no measured ceiling gets no efficiency (and says why), never another precision's ceiling.
An efficiency above 1 means the ceilings or the work are wrong: such rows are flagged and not used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from explorer.analysis.columns import require_columns
from explorer.hardware.work import add_work

PRECISIONS = ("bf16", "fp16", "fp32", "int8")
PEAK_COLUMN = {"bf16": "peak_bf16_flops", "fp16": "peak_fp16_flops", "fp32": "peak_fp32_flops", "int8": "peak_int8_ops"}
# when catalog hardware lacks a precision (null peak): what it would run instead
PEAK_FALLBACK = {"int8": ("int8", "bf16", "fp16", "fp32"), "bf16": ("bf16", "fp16", "fp32"), "fp16": ("fp16", "fp32")}
INT8_COMPUTE_BACKENDS = frozenset({"bitsandbytes-llm.int8"})
INT8_COMPUTE_MARKERS = ("int8-dynamic", "int8_dynamic", "w8a8")

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


def precision_expr(frame: pl.DataFrame) -> pl.Expr:
    """`compute_precision` of each row as a Polars expression (same rules)."""
    backend = pl.col("quant_backend") if "quant_backend" in frame.columns else pl.lit(None, dtype=pl.String)
    level = pl.col("quant").cast(pl.String).str.to_lowercase().fill_null("bf16")
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


def peak_for(hardware: Mapping[str, Any], precision: str) -> float | None:
    """Datasheet peak FLOP/s (or int8 op/s) of a catalog row for a compute precision, falling back when the
    hardware lacks it natively; None when it lists none of the fallbacks either."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; known: {', '.join(PRECISIONS)}")
    for candidate in PEAK_FALLBACK.get(precision, (precision,)):
        value = hardware.get(PEAK_COLUMN[candidate])
        if value is not None and value > 0:
            return float(value)
    return None


def peak_expr(peaks: Mapping[str, float | None]) -> pl.Expr:
    """Per row, the peak of its `compute_precision` column (null where `peaks` has none)."""
    expr = pl.lit(None, dtype=pl.Float64)
    for precision, value in peaks.items():
        if value is not None:
            expr = pl.when(pl.col("compute_precision") == precision).then(pl.lit(float(value))).otherwise(expr)
    return expr


def roofline_floor_s(flops: Any, bytes_: Any, peak_flops: Any, bandwidth: Any) -> Any:
    """Lower bound on seconds: max(flops / peak_flops, bytes / bandwidth). Numbers or Polars expressions (null
    where a peak is null: an unknown roof is no floor)."""
    if any(isinstance(v, pl.Expr) for v in (flops, bytes_, peak_flops, bandwidth)):
        lit = lambda v: v if isinstance(v, pl.Expr) else pl.lit(v)
        compute, memory = lit(flops) / peak_flops, lit(bytes_) / bandwidth
        return pl.when(compute.is_not_null() & memory.is_not_null()).then(pl.max_horizontal(compute, memory))
    if peak_flops <= 0 or bandwidth <= 0:
        raise ValueError(f"peak_flops ({peak_flops}) and bandwidth ({bandwidth}) must be > 0")
    if flops < 0 or bytes_ < 0:
        raise ValueError(f"flops ({flops}) and bytes ({bytes_}) must be >= 0")
    return max(flops / peak_flops, bytes_ / bandwidth)


def efficiency(measured_s: Number, floor_s: Number) -> float:
    """Share of the roofline reached: floor_s / measured_s (1 = at the roofline)."""
    if measured_s <= 0:
        raise ValueError(f"measured seconds must be > 0, got {measured_s}")
    if floor_s < 0:
        raise ValueError(f"floor seconds must be >= 0, got {floor_s}")
    return floor_s / measured_s


def _own_efficiency(evals: pl.DataFrame, ceilings: Mapping[str, Any] | None) -> pl.DataFrame:
    """Roofline floor and own efficiency of every row on the device it was measured on.

    `ceilings` (measured there): {"matmul_flops": {precision: FLOP/s}, "copy_bytes_per_s": float}, or None.
    Adds the `add_work` columns plus compute_precision, peak_flops_here, floor_s_per_query, roofline_bound
    ("compute" | "memory"), efficiency (floor / device_s_per_query; null when the precision's ceiling was not
    measured, or when above 1) and efficiency_note (why it is null, or the raw value above 1)."""
    require_columns(evals, ("device_s_per_query", "quant"), "add_efficiency")
    frame = add_work(evals).with_columns(precision_expr(evals).alias("compute_precision"))
    matmul = dict((ceilings or {}).get("matmul_flops") or {})
    bandwidth = float((ceilings or {}).get("copy_bytes_per_s") or 0.0)
    if not matmul or bandwidth <= 0:
        note = "no ceilings measured on this device (explorer ceilings --out RESULTS_DIR, on that machine)"
        nulls = [pl.lit(None, dtype=pl.Float64).alias(c) for c in ("peak_flops_here", "floor_s_per_query")]
        return frame.with_columns(
            *nulls,
            pl.lit(None, dtype=pl.String).alias("roofline_bound"),
            pl.lit(None, dtype=pl.Float64).alias("efficiency"),
            pl.lit(note).alias("efficiency_note"),
        )
    compute_s = pl.col("flops_per_query") / pl.col("peak_flops_here")
    memory_s = pl.col("bytes_per_query") / bandwidth
    raw = pl.col("floor_s_per_query") / pl.col("device_s_per_query")
    measured = pl.col("device_s_per_query") > 0
    return (
        frame.with_columns(peak_expr(matmul).alias("peak_flops_here"))
        .with_columns(
            roofline_floor_s(
                pl.col("flops_per_query"), pl.col("bytes_per_query"), pl.col("peak_flops_here"), bandwidth
            ).alias("floor_s_per_query"),
            pl.when(compute_s >= memory_s)
            .then(pl.lit("compute"))
            .when(compute_s < memory_s)
            .then(pl.lit("memory"))
            .alias("roofline_bound"),
        )
        .with_columns(
            pl.when(measured & (raw <= 1.0)).then(raw).alias("efficiency"),
            pl.when(pl.col("peak_flops_here").is_null())
            .then(pl.format("no {} matmul ceiling measured on this device", pl.col("compute_precision")))
            .when(measured & (raw > 1.0))
            .then(pl.format("efficiency {} > 1: ceilings too low or work overcounted; not used", raw.round(3)))
            .alias("efficiency_note"),
        )
    )


def add_efficiency(evals: pl.DataFrame, ceilings: Mapping[str, Any] | None) -> pl.DataFrame:
    """Roofline floor and efficiency of every row on the device it was measured on (`_own_efficiency`). A row
    with no time of its own (an architecture too large to measure, re-shaped from a measured one) keeps the
    efficiency it borrowed (`efficiency_borrowed`), and `efficiency_note` says so."""
    out = _own_efficiency(evals, ceilings)
    if "efficiency_borrowed" not in out.columns:
        return out
    use = pl.col("efficiency").is_null() & pl.col("efficiency_borrowed").is_not_null()
    return out.with_columns(
        pl.when(use).then(pl.col("efficiency_borrowed")).otherwise(pl.col("efficiency")).alias("efficiency"),
        pl.when(use)
        .then(pl.lit("borrowed from the measured architecture this one was re-shaped from"))
        .otherwise(pl.col("efficiency_note"))
        .alias("efficiency_note"),
    )
