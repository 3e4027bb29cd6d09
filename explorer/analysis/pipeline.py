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


def read_ceilings(out_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Ceilings measured into out_dir/ceilings/*.json, per device name, as add_efficiency's mappings."""
    folder = Path(out_dir) / "ceilings"
    found = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    out: dict[str, dict[str, Any]] = {}
    for device in sorted({c["device_name"] for c in found}):
        mine = [c for c in found if c["device_name"] == device]
        matmul: dict[str, float] = {}
        for c in mine:  # several files of one dtype (re-measured): the best is the ceiling
            prec = DTYPE_PRECISION.get(c["dtype"], c["dtype"])
            matmul[prec] = max(matmul.get(prec, 0.0), float(c["matmul_flops"]))
        fallback = matmul.get("bf16") or max(matmul.values())
        for missing in roofline.PRECISIONS:  # not measured: the bf16 roof (int8 on a GPU has a higher one)
            matmul.setdefault(missing, fallback)
        out[device] = {"matmul_flops": matmul, "copy_bytes_per_s": max(float(c["copy_bytes_per_s"]) for c in mine)}
    return out


def latest_runs(evals: pl.DataFrame) -> pl.DataFrame:
    """One row per (model, quant, task, metric, device): the most recent record wins, so a results folder that
    holds older runs (another limit, another batch size) does not count a configuration twice."""
    if "started_at" not in evals.columns:
        return evals
    keys = [c for c in ("model", "quant", "task", "metric", "device_name") if c in evals.columns]
    return evals.sort("started_at", nulls_last=False).unique(subset=keys, keep="last", maintain_order=True)


def _with_efficiency(rows: pl.DataFrame, ceilings: Mapping[str, Mapping[str, Any]]) -> pl.DataFrame:
    """Efficiency of each row against the ceilings of the device it ran on (devices without any: null)."""
    parts = []
    for (device,), part in rows.group_by(["device_name"], maintain_order=True):
        if device in ceilings:
            parts.append(roofline.add_efficiency(part, ceilings[device]))
        else:
            parts.append(part.with_columns(pl.lit(None, dtype=pl.Float64).alias("efficiency")))
    return pl.concat(parts, how="diagonal_relaxed") if parts else rows


def cost_table(
    evals: pl.DataFrame,
    catalog: Catalog,
    hardware: str | None = None,
    provider: str | None = None,
    usd_per_hour: float | None = None,
    ceilings: Mapping[str, Mapping[str, Any]] | None = None,
    queries_per_day: float = cost.DEFAULT_QUERIES_PER_DAY,
    metric: str = "acc",
) -> pl.DataFrame:
    """One row per configuration and task with accuracy, device seconds, $ and provenance on `hardware`.

    hardware None: the machine the rows were measured on (one machine only), priced at `usd_per_hour`.
    Otherwise the catalog entry: its price (cheapest, or `provider`'s) unless `usd_per_hour` overrides.
    `ceilings` maps device name -> measured ceilings (`read_ceilings`); rows of a device without ceilings
    cannot be projected. Configurations whose weights do not fit the target's memory are dropped.
    """
    rows = latest_runs(frontier.select_metric(evals, metric))
    if ceilings:
        rows = _with_efficiency(rows, ceilings)
    if hardware is None:
        if usd_per_hour is None:
            raise ValueError("give a catalog hardware name (--hardware) or the machine's price (--usd-per-hour)")
        devices = rows["device_name"].unique().to_list()
        if len(devices) > 1:
            raise ValueError(
                f"rows come from {len(devices)} machines ({', '.join(map(str, devices))}): one price cannot fit "
                "them all; pick a catalog --hardware"
            )
        return cost.add_costs(rows, usd_per_hour, queries_per_day, provider=provider)
    target = catalog.get(hardware)
    price = usd_per_hour if usd_per_hour is not None else catalog.price(target["name"], provider)["usd_per_hour"]
    on_target = {d: catalog.match_device(d) == target["name"] for d in rows["device_name"].unique().to_list()}
    here = rows["device_name"].replace_strict(on_target, return_dtype=pl.Boolean, default=False)
    measured, other = rows.filter(here), rows.filter(~here)
    if not measured.is_empty():  # measured on the target beats any projection of the same configuration
        keys = [c for c in ("model", "quant", "task", "metric") if c in rows.columns]
        other = other.join(measured.select(keys).unique(), on=keys, how="anti")
    if not other.is_empty():
        lacking = other.filter(pl.col("efficiency").is_null()) if "efficiency" in other.columns else other
        if not lacking.is_empty():
            raise ValueError(
                f"rows measured on {lacking['device_name'][0]!r} must be projected to {target['name']}: measure the "
                "ceilings of that machine first (explorer ceilings --out RESULTS_DIR, on that machine)"
            )
        other = cost.project_device_s(other, target).filter(pl.col("fits_in_memory").fill_null(True))
    parts = [p for p in (measured, other) if not p.is_empty()]
    merged = pl.concat(parts, how="diagonal_relaxed") if parts else rows
    if not other.is_empty():  # one configuration projected from several machines: the latest measurement wins
        keys = [c for c in ("model", "quant", "task", "metric") if c in merged.columns]
        merged = merged.sort("started_at", nulls_last=False).unique(subset=keys, keep="last", maintain_order=True)
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
