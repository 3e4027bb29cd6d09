"""Seconds on catalog hardware where nothing was measured: a range that never goes below physical floors.

For some work (FLOPs, bytes, forward passes of an L-layer model) on a target:

- floors: ``compute_s = flops / datasheet peak`` (the row's compute precision), ``memory_s = bytes / datasheet
  bandwidth``, ``overhead_s = forwards x L x per-layer overhead`` (`explorer.hardware.ceilings`);
- optimistic = ``max(compute_s, memory_s, forwards x L x optimistic overhead)``: the target at its roofline
  with fused, graph-launched kernels;
- conservative = ``max(optimistic, roofline floor / efficiency measured where the row ran, forwards x L x
  conservative overhead)``: the same share of the roofline as measured, and eager-framework launch costs.
  Without a usable efficiency (no ceilings there, or one above 1) the conservative end uses the floors and
  the conservative overhead only, and `projection_note` says so.

Both ends carry `cost_provenance: projected`; a datasheet peak is an upper bound few kernels reach, so even the
conservative end can be optimistic for compute-bound work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from explorer.analysis.columns import require_columns
from explorer.hardware.ceilings import Overhead
from explorer.hardware.roofline import PRECISIONS, peak_expr, peak_for, precision_expr


def project_seconds(
    frame: pl.DataFrame,
    target: Mapping[str, Any],
    overhead: Overhead,
    *,
    flops: str = "flops_per_query",
    bytes_: str = "bytes_per_query",
    forwards: str = "forwards_per_query",
    efficiency: str = "efficiency",
    out: str = "projected_s",
) -> pl.DataFrame:
    """Add `{out}_optimistic`, `{out}` (the conservative end), `{out}_bound` (which floor set the optimistic
    end: compute | memory | overhead) and `projection_note` for work on catalog row `target` (Catalog.get).
    Rows whose precision the target lists no peak for get nulls and a note."""
    require_columns(frame, (flops, bytes_, forwards, "n_layers", "quant"), "project_seconds")
    bandwidth = target.get("mem_bw_bytes_per_s")
    if not bandwidth:
        raise ValueError(f"target hardware {target.get('name')!r} lacks mem_bw_bytes_per_s; pass a Catalog.get row")
    peaks = {p: peak_for(target, p) for p in PRECISIONS}
    data = (
        frame
        if "compute_precision" in frame.columns
        else frame.with_columns(precision_expr(frame).alias("compute_precision"))
    )
    layers = pl.col("n_layers").cast(pl.Float64)
    compute = pl.col(flops) / peak_expr(peaks)
    memory = pl.col(bytes_) / float(bandwidth)
    launch = pl.col(forwards) * layers
    eff = pl.col(efficiency) if efficiency in data.columns else pl.lit(None, dtype=pl.Float64)
    usable = eff.is_not_null() & (eff > 0) & (eff <= 1)
    optimistic = pl.max_horizontal(compute, memory, launch * overhead.optimistic_s)
    from_efficiency = pl.when(usable).then(pl.max_horizontal(compute, memory) / eff)
    conservative = pl.max_horizontal(optimistic, from_efficiency, launch * overhead.conservative_s)
    missing = compute.is_null() | layers.is_null() | memory.is_null()  # max_horizontal would skip a null floor
    bound = (
        pl.when(launch * overhead.optimistic_s >= pl.max_horizontal(compute, memory))
        .then(pl.lit("overhead"))
        .when(compute >= memory)
        .then(pl.lit("compute"))
        .otherwise(pl.lit("memory"))
    )
    note = (
        pl.when(layers.is_null())
        .then(pl.lit("layer count unknown (no architecture in the record or the published configs)"))
        .when(memory.is_null())
        .then(pl.lit("bytes read unknown (no weight_bytes in the record)"))
        .when(compute.is_null())
        .then(pl.format("{} lists no peak for {}", pl.lit(str(target["name"])), pl.col("compute_precision")))
        .when(~usable)
        .then(pl.lit("no usable efficiency where it ran: conservative end = floors + conservative overhead"))
    )
    return data.with_columns(
        pl.when(~missing).then(optimistic).alias(f"{out}_optimistic"),
        pl.when(~missing).then(conservative).alias(out),
        pl.when(~missing).then(bound).alias(f"{out}_bound"),
        note.alias("projection_note"),
    )
