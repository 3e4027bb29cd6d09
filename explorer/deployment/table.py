"""The deployment table: measured rows -> service time on every hardware option -> fleet and monthly bill.

`deployment_table` is the one function the CLI, the app and the exports call; it is pure over Polars frames
(records, profiles and ceilings are read by the caller). One row per (configuration, task, hardware), plus one
row per (configuration, hardware) with task "__mean__" for the mean over tasks when there are several: its
service time is the mean of the tasks' (a mix of equal shares of each), its latency and memory the largest,
and it is excluded when any task is, or is missing. `excluded_reason` marks what cannot be served; `split`
separates them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from explorer.analysis.columns import column_values, keep_rows
from explorer.analysis.frontier import MEAN_TASK, chance_normalise, select_metric
from explorer.deployment.fleet import add_fleet
from explorer.deployment.options import HardwareOption, hardware_options
from explorer.deployment.service import service_table
from explorer.deployment.workload import Workload
from explorer.hardware.catalog import Catalog
from explorer.hardware.ceilings import measured_overheads

CONFIG = ("model", "quant", "hardware", "provider")
_MEAN = ("value", "accuracy_raw", "service_s_per_query", "service_s_per_query_optimistic", "chance", "efficiency")
_MAX = ("latency_s", "latency_s_optimistic", "need_bytes", "peak_mem_bytes", "weight_bytes", "model_params",
        "ttft_s", "tpot_s")  # fmt: skip
_FIRST = ("hardware_kind", "usd_per_hour", "price_source", "mem_bytes", "tdp_w", "idle_w", "capex_usd",
          "quant_backend", "batch_size_served", "batch_note", "n_layers", "model_ref", "accuracy_provenance",
          "protocol_group", "model_kind", "architecture", "quant_level", "quant_method", "cost_quant",
          "cost_weights", "harness", "num_fewshot", "params_b")  # fmt: skip
_JOINED = ("source", "source_doc")  # every source behind a mean over tasks


def best_run_order(frame: pl.DataFrame) -> pl.DataFrame:
    """Sorted so that the run to keep comes last: the most documents (a smaller `limit` measures the same
    thing less well), then the most recent."""
    keys = [c for c in ("n_docs", "started_at") if c in frame.columns]
    return frame.sort(keys, nulls_last=False, maintain_order=True) if keys else frame  # stable: ties keep input order


def latest_runs(evals: pl.DataFrame) -> pl.DataFrame:
    """One row per (model, quant, task, metric, device, few-shot): the run over the most documents, then the most
    recent, wins, so a results folder that holds other runs (another limit, another batch size) does not count
    a configuration twice, a 10-document rerun never replaces a 100-document run, and a 5-shot run never
    replaces a 0-shot one (both stay, as different protocols)."""
    keys = [c for c in ("model", "quant", "task", "metric", "device_name", "num_fewshot") if c in evals.columns]
    return best_run_order(evals).unique(subset=keys, keep="last", maintain_order=True)


def mean_over_tasks(rows: pl.DataFrame, tasks: Sequence[str] | None = None) -> pl.DataFrame:
    """One "__mean__" row per (configuration, hardware) over `tasks` (default: every task; the tasks of the
    measured rows when reported ones add others), see the module text; one that lacks a task is kept, excluded
    with the tasks it lacks."""
    tasks = pl.Series(sorted(set(tasks if tasks is not None else column_values(rows, "task"))), dtype=pl.String)
    if tasks.len() < 2:
        return rows.clear()
    rows = keep_rows(rows, pl.col("task").is_in(tasks.to_list()))
    keys = [c for c in CONFIG if c in rows.columns]
    have = lambda names: [c for c in names if c in rows.columns]
    energy = pl.col("energy_j_per_query")
    agg = [
        pl.col("task").n_unique().alias("n_tasks"),
        *[pl.col(c).cast(pl.Float64).mean().alias(c) for c in have(_MEAN)],
        *[pl.col(c).max().alias(c) for c in have(_MAX)],
        *[pl.col(c).first().alias(c) for c in have(_FIRST)],
        (pl.col("stderr").cast(pl.Float64).pow(2).sum().sqrt() / pl.len()).alias("stderr"),
        pl.col("n_docs").sum().alias("n_docs"),
        pl.when(pl.col("cost_provenance").eq("measured").all()).then(pl.lit("measured")).otherwise(pl.lit("projected"))
        .alias("cost_provenance"),
        pl.col("service_source").unique().sort().str.join("; ").alias("service_source"),
        pl.concat_str([pl.col("task"), pl.lit(": "), pl.col("excluded_reason")]).drop_nulls().str.join("; ")
        .alias("excluded_reason"),
        pl.when(energy.is_not_null().all()).then(energy.mean()).alias("energy_j_per_query"),
        pl.col("metric").unique().sort().str.join("+").alias("metric"),
        *[pl.col(c).drop_nulls().unique().sort().str.join(" | ").alias(c) for c in have(_JOINED)],
    ]  # fmt: skip
    agg.append(pl.col("task").unique().sort().alias("__tasks"))
    out = rows.group_by(keys, maintain_order=True).agg(agg)
    wanted = sorted(tasks.to_list())
    lacking = pl.lit(wanted).list.set_difference(pl.col("__tasks")).list.sort().list.join(", ")
    reason = (
        pl.when(pl.col("n_tasks") < len(wanted))
        .then(pl.format("not measured on every task (missing: {})", lacking))
        .when(pl.col("excluded_reason") != "")
        .then(pl.col("excluded_reason"))
    )
    return out.with_columns(
        pl.lit(MEAN_TASK).alias("task"),
        pl.format("mean({})", pl.col("metric")).alias("metric"),
        reason.alias("excluded_reason"),
    ).drop("__tasks")


def serve(
    evals: pl.DataFrame,
    catalog: Catalog,
    workload: Workload,
    *,
    ceilings: Mapping[str, Mapping[str, Any]] | None = None,
    profiles: pl.DataFrame | None = None,
    metric: str = "acc",
    options: Sequence[HardwareOption] | None = None,
    extra: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Service rows (no fleet yet): every configuration and task on every hardware option of `workload`. Depends
    only on the fields of `Workload.service_key()`, so a caller may cache it and `bill` it for other prices and
    traffic. `evals`: `load_evals` rows (one metric is selected; the latest run of each cell wins; random-weight
    cells carry no accuracy and are left out); `ceilings`: `read_ceilings`; `profiles`: `load_profiles`
    (generation workloads, and the measured per-layer overhead). `options`: the hardware to serve on (default:
    `hardware_options` of the workload). `extra`: rows whose accuracy comes from elsewhere, with their cost
    columns (reported accuracy beside random-weight cost: `explorer.analysis.reported`)."""
    rows = latest_runs(select_metric(evals, metric)).with_columns(pl.lit("measured").alias("accuracy_provenance"))
    if extra is not None and not extra.is_empty():
        rows = pl.concat([rows, extra], how="diagonal_relaxed")
    if rows.is_empty():
        raise ValueError(f"no ok rows with metric {metric!r} (is it the task's metric? see explorer table DIR)")
    own = rows.filter(pl.col("accuracy_provenance") == "measured")  # the measuring machine is the real rows'
    devices = (own if own.height else rows).filter(pl.col("device_name").is_not_null())
    devices = devices.select("device_name", "device_kind").unique()
    profiles = profiles if profiles is not None else pl.DataFrame()
    overheads = measured_overheads(profiles, ceilings or {})
    if options is None:
        options = hardware_options(catalog, workload, devices["device_name"].to_list(), dict(devices.iter_rows()))
    return service_table(rows, options, workload, ceilings or {}, overheads, profiles)


def measured_values(rows: pl.DataFrame, column: str) -> list:
    """The distinct values of `column` in the rows measured here (all rows when none is: reported only)."""
    own = (
        column_values(rows, column, pl.col("accuracy_provenance") == "measured")
        if "accuracy_provenance" in rows
        else []
    )
    return own or column_values(rows, column)  # a measured row gives at least one value (maybe None)


def bill(
    service: pl.DataFrame,
    catalog: Catalog,
    workload: Workload,
    chance_normalised: bool = False,
    options: Sequence[HardwareOption] | None = None,
) -> pl.DataFrame:
    """Price service rows at `workload`'s prices (provider, price_scale, measured_usd_per_hour; or those of
    `options`), add the mean over tasks and size every fleet. `accuracy_raw` keeps the accuracy before chance
    normalisation (the cost of pass divides by it)."""
    devices = [d for d in measured_values(service, "device_name") if d]
    prices = {o.name: o for o in (options if options is not None else hardware_options(catalog, workload, devices))}
    hw = pl.col("hardware")
    priced = service.with_columns(
        hw.replace_strict({k: o.usd_per_hour for k, o in prices.items()}, return_dtype=pl.Float64).alias(
            "usd_per_hour"
        ),
        hw.replace_strict({k: o.provider for k, o in prices.items()}, return_dtype=pl.String).alias("provider"),
        hw.replace_strict({k: o.price_source for k, o in prices.items()}, return_dtype=pl.String).alias("price_source"),
        pl.col("value").alias("accuracy_raw"),
    )
    if chance_normalised:
        priced = chance_normalise(priced)
    tasks = measured_values(priced, "task")
    table = add_fleet(pl.concat([priced, mean_over_tasks(priced, tasks)], how="diagonal_relaxed"), workload)
    unbilled = pl.col("excluded_reason").is_null() & pl.col("monthly_usd").is_null()
    if workload.billing == "self-hosted":
        why = pl.lit("no capex_usd in the catalog to self-host it")
    else:
        bought = f"no rental price: a device one buys (choose self-hosted billing to price it, not {workload.billing})"
        why = pl.when(pl.col("usd_per_hour").is_null()).then(pl.lit(bought)).otherwise(pl.lit("no bill"))
    return table.with_columns(pl.when(unbilled).then(why).otherwise(pl.col("excluded_reason")).alias("excluded_reason"))


def deployment_table(
    evals: pl.DataFrame,
    catalog: Catalog,
    workload: Workload,
    *,
    ceilings: Mapping[str, Mapping[str, Any]] | None = None,
    profiles: pl.DataFrame | None = None,
    metric: str = "acc",
    chance_normalised: bool = False,
) -> pl.DataFrame:
    """Every configuration on every hardware option of `workload`, with its fleet and bill (see the module
    text): `bill(serve(...))`."""
    service = serve(evals, catalog, workload, ceilings=ceilings, profiles=profiles, metric=metric)
    return bill(service, catalog, workload, chance_normalised)


def split(table: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows that can be served, rows excluded with their reason)."""
    excluded = pl.col("excluded_reason").is_not_null()
    return keep_rows(table, ~excluded), keep_rows(table, excluded)
