"""Glue of the analysis steps: evals -> (efficiency) -> device seconds on the chosen hardware -> $ -> frontier.

Pure over Polars frames (the ceilings are passed in). Rows measured on the chosen hardware keep their
measured device seconds; every other row is projected through the roofline with the efficiency measured
where it ran, and says so in `cost_provenance`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from explorer.analysis import cost, frontier, roofline
from explorer.analysis.hardware import Catalog

DTYPE_PRECISION = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}


def read_ceilings(out_dir: str | Path, device_name: str | None = None) -> dict[str, Any] | None:
    """Ceilings measured earlier into out_dir/ceilings/*.json, as add_efficiency's mapping (None if none)."""
    folder = Path(out_dir) / "ceilings"
    found = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    found = [c for c in found if device_name is None or c.get("device_name") == device_name]
    if not found:
        return None
    matmul = {DTYPE_PRECISION.get(c["dtype"], c["dtype"]): float(c["matmul_flops"]) for c in found}
    for missing in roofline.PRECISIONS:  # a precision not measured: use the best measured roof (conservative)
        matmul.setdefault(missing, max(matmul.values()))
    return {
        "matmul_flops": matmul,
        "copy_bytes_per_s": max(float(c["copy_bytes_per_s"]) for c in found),
        "device_name": found[0].get("device_name"),
    }


def cost_table(
    evals: pl.DataFrame,
    catalog: Catalog,
    hardware: str | None = None,
    provider: str | None = None,
    usd_per_hour: float | None = None,
    ceilings: Mapping[str, Any] | None = None,
    queries_per_day: float = cost.DEFAULT_QUERIES_PER_DAY,
    metric: str = "acc",
) -> pl.DataFrame:
    """One row per configuration and task with accuracy, device seconds, $ and provenance on `hardware`.

    hardware None: the machine each row was measured on, priced at `usd_per_hour` (required then).
    Otherwise the catalog entry: its price (cheapest, or `provider`'s) unless `usd_per_hour` overrides.
    """
    rows = frontier.select_metric(evals, metric)
    if ceilings is not None:
        rows = roofline.add_efficiency(rows, ceilings)
    if hardware is None:
        if usd_per_hour is None:
            raise ValueError("give a catalog hardware name (--hardware) or the machine's price (--usd-per-hour)")
        return cost.add_costs(rows, usd_per_hour, queries_per_day, provider=provider)
    target = catalog.get(hardware)
    price = usd_per_hour if usd_per_hour is not None else catalog.price(target["name"], provider)["usd_per_hour"]
    here = pl.Series(
        [catalog.match_device(d) == target["name"] for d in rows.get_column("device_name")], dtype=pl.Boolean
    )
    measured, other = rows.filter(here), rows.filter(~here)
    if not other.is_empty():
        if "efficiency" not in other.columns:
            raise ValueError(
                f"rows measured on {other['device_name'][0]!r} must be projected to {target['name']}: measure the "
                "ceilings of that machine first (explorer ceilings --out RESULTS_DIR)"
            )
        other = cost.project_device_s(other, target)
    parts = [p for p in (measured, other) if not p.is_empty()]
    merged = pl.concat(parts, how="diagonal_relaxed") if parts else rows
    return cost.add_costs(merged, price, queries_per_day, provider=provider, hardware=target["name"], catalog=catalog)


def frontier_report(
    table: pl.DataFrame, task: str | None = None, target_fraction: float = 0.9, chance_normalised: bool = False
) -> dict[str, Any]:
    """Frontier per task, the aggregate frontier (mean over tasks) and the recommendation."""
    data = table.filter(pl.col("task") == task) if task else table
    per_task = frontier.pareto_frontier(data)
    agg = frontier.aggregate(data, chance_normalised=chance_normalised) if data["task"].n_unique() > 1 else None
    return {
        "per_task": per_task,
        "aggregate": frontier.pareto_frontier(agg) if agg is not None and not agg.is_empty() else None,
        "recommendation": frontier.recommend(data, target_fraction, task=task, chance_normalised=chance_normalised),
    }
