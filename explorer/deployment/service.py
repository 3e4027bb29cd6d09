"""Service time, latency and memory of every configuration on every hardware option (pure Polars).

One output row per (measured row, hardware option). Where the row was measured on that very hardware its
in-situ device seconds are used as measured (`cost_provenance: measured`); otherwise they are projected from the
latest measurement of the configuration (`explorer.hardware.projection`: an optimistic..conservative range,
`cost_provenance: projected`). Scored tasks are served as lm-eval ran them: the service time of a query is its
device seconds at the measured batch, and its latency the time of the forward passes that hold it
(``service x max(1, documents per model call)``). Generation workloads take their times from the serving
profiles instead (`explorer.deployment.generation`).

A row that cannot be served on an option is kept with `excluded_reason`: no service time (unknown layer count,
no peak for its precision, no datasheet), weights + working memory over the hardware's memory, or latency over
the target. The working memory is the measured peak of the task where it ran (`peak_mem_bytes`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from explorer.deployment.options import HardwareOption, same_class
from explorer.deployment.workload import Workload
from explorer.hardware.ceilings import overhead_for
from explorer.hardware.projection import project_seconds
from explorer.hardware.roofline import add_efficiency

SERVICE = "service_s_per_query"
KEYS = ("model", "quant", "task", "metric")
GB = 1e9


def with_efficiency(rows: pl.DataFrame, ceilings: Mapping[str, Mapping[str, Any]]) -> pl.DataFrame:
    """`add_efficiency` of each row against the ceilings measured on its own device (none: null + note)."""
    parts = [
        add_efficiency(part, ceilings.get(dev)) for (dev,), part in rows.group_by(["device_name"], maintain_order=True)
    ]
    return pl.concat(parts, how="diagonal_relaxed") if parts else add_efficiency(rows, None)


def _option_columns(opt: HardwareOption) -> list[pl.Expr]:
    spec = opt.spec or {}
    num = lambda key: pl.lit(spec.get(key), dtype=pl.Float64)
    return [
        pl.lit(opt.name).alias("hardware"),
        pl.lit(opt.kind).alias("hardware_kind"),
        pl.lit(opt.provider, dtype=pl.String).alias("provider"),
        pl.lit(opt.usd_per_hour, dtype=pl.Float64).alias("usd_per_hour"),
        pl.lit(opt.price_source).alias("price_source"),
        num("mem_bytes").alias("mem_bytes"),
        num("tdp_w").alias("tdp_w"),
        num("idle_w").alias("idle_w"),
        num("capex_usd").alias("capex_usd"),
    ]


def split_measured(rows: pl.DataFrame, opt: HardwareOption) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows measured on `opt`, one measurement elsewhere of every other configuration and task: the latest of
    a device of the option's class where there is one, else the latest)."""
    here = pl.col("device_name").is_in(list(opt.measured_devices)).fill_null(False)
    measured = rows.filter(here)
    keys = [k for k in KEYS if k in rows.columns]
    other = rows.filter(~here).join(measured.select(keys).unique(), on=keys, how="anti", nulls_equal=True)
    order = [c for c in ("__same", "started_at") if c == "__same" or c in other.columns]
    kind = same_class(opt.kind).fill_null(False) if "device_kind" in other.columns else pl.lit(False)
    other = other.with_columns(kind.alias("__same")).sort(order, nulls_last=False, maintain_order=True)
    return measured, other.unique(subset=keys, keep="last", maintain_order=True).drop("__same")


def _token_scale(workload: Workload) -> pl.Expr:
    """Workload prompt tokens / the tokens the measured forwards held (1 when the workload keeps the task's)."""
    if workload.prompt_tokens is None:
        return pl.lit(1.0)
    read = pl.coalesce(pl.col("tokens_read_per_query"), pl.col("tokens_in_per_query")).cast(pl.Float64)
    return pl.lit(float(workload.prompt_tokens)) / read


def _no_energy(frame: pl.DataFrame) -> list[pl.Expr]:
    """Measured joules do not carry over to other hardware or other token counts: null them."""
    return [pl.lit(None, dtype=pl.Float64).alias("energy_j_per_query")] if "energy_j_per_query" in frame.columns else []


def _measured(rows: pl.DataFrame, opt: HardwareOption, workload: Workload, overheads: Mapping) -> pl.DataFrame:
    """In-situ seconds. Scaled to the workload's prompt tokens linearly, but never below the launch floor of
    its forward passes (forwards x layers x the conservative per-layer overhead; the measured time itself where
    it was faster than that)."""
    measured = pl.col("device_s_per_query").cast(pl.Float64)
    if workload.prompt_tokens is None:
        seconds, prov, how, extra = measured, "measured", "measured in situ on {}", []
    else:
        launch = pl.col("forwards_per_query") * pl.col("n_layers") * overhead_for(opt.kind, overheads).conservative_s
        floor = pl.min_horizontal(measured, launch.fill_null(0.0))
        seconds = pl.max_horizontal(measured * _token_scale(workload), floor)
        prov, extra = "projected", _no_energy(rows)
        how = f"measured in situ on {{}}, scaled to {workload.prompt_tokens:g} prompt tokens"
    return rows.with_columns(
        seconds.alias(SERVICE),
        seconds.alias(SERVICE + "_optimistic"),
        pl.lit(prov).alias("cost_provenance"),
        pl.format(how, pl.col("device_name")).alias("service_source"),
        *extra,
    )


def _projected(rows: pl.DataFrame, opt: HardwareOption, workload: Workload, overheads: Mapping) -> pl.DataFrame:
    """Projected seconds (`project_seconds`); a workload's prompt tokens scale the FLOPs and KV bytes of the
    work before the floors are applied (weight reads and launches stay per forward pass)."""
    suffix = f", scaled to {workload.prompt_tokens:g} prompt tokens" if workload.prompt_tokens is not None else ""
    source = pl.format("projected from {}" + suffix, pl.col("device_name")).alias("service_source")
    tagged = [pl.lit("projected").alias("cost_provenance"), source, *_no_energy(rows)]
    if opt.spec is None:
        note = pl.format("measured on {}; {} has no datasheet to project onto", pl.col("device_name"), pl.lit(opt.name))
        nulls = [pl.lit(None, dtype=pl.Float64).alias(c) for c in (SERVICE, SERVICE + "_optimistic")]
        return rows.with_columns(*nulls, note.alias("projection_note"), *tagged)
    r = _token_scale(workload)
    work = rows.with_columns(
        pl.col("flops_per_query") * r,
        (pl.col("pass_bytes") * pl.col("forwards_per_query") + pl.col("kv_bytes_per_query") * r).alias(
            "bytes_per_query"
        ),
    )
    return project_seconds(work, opt.spec, overhead_for(opt.kind, overheads), out=SERVICE).with_columns(*tagged)


def _in_situ(rows: pl.DataFrame, opt: HardwareOption, workload: Workload, overheads: Mapping) -> pl.DataFrame:
    measured, other = split_measured(rows, opt)
    parts = []
    if not measured.is_empty():
        parts.append(_measured(measured, opt, workload, overheads))
    if not other.is_empty():
        parts.append(_projected(other, opt, workload, overheads))
    if not parts:
        return pl.DataFrame()
    out = pl.concat(parts, how="diagonal_relaxed").with_columns(_option_columns(opt))
    docs_per_call = pl.col("n_docs").cast(pl.Float64) / pl.col("model_calls").cast(pl.Float64)
    hold = pl.max_horizontal(pl.lit(1.0), docs_per_call.fill_null(1.0).fill_nan(1.0))
    need = pl.coalesce(pl.col("peak_mem_bytes"), pl.col("weight_bytes")).cast(pl.Float64)
    return out.with_columns(
        (pl.col(SERVICE) * hold).alias("latency_s"),
        (pl.col(SERVICE + "_optimistic") * hold).alias("latency_s_optimistic"),
        need.alias("need_bytes"),
        (pl.col("batch_size") if "batch_size" in out.columns else pl.lit(None, dtype=pl.Int64)).alias(
            "batch_size_served"
        ),
    )


def exclusion_reason(latency_target_s: float | None) -> pl.Expr:
    """Why a row cannot be served (null: it can): no service time, memory, or latency over the target."""
    mem_gb = pl.col("mem_bytes") / GB
    reason = (
        pl.when(pl.col("cost_note").is_not_null())
        .then(pl.col("cost_note"))
        .when(pl.col(SERVICE).is_null())
        .then(pl.concat_str(pl.lit("no service time: "), pl.col("projection_note").fill_null("not measured")))
        .when(pl.col("mem_bytes").is_not_null() & (pl.col("need_bytes") > pl.col("mem_bytes")))
        .then(
            pl.format(
                "needs {} GB (weights + working memory), {} has {} GB",
                (pl.col("need_bytes") / GB).round(2),
                pl.col("hardware"),
                mem_gb.round(1),
            )
        )
    )
    if latency_target_s is not None:
        reason = reason.when(pl.col("latency_s") > latency_target_s).then(
            pl.format(
                "latency {} s > target {} s (optimistic {} s)",
                pl.col("latency_s").round_sig_figs(3),
                pl.lit(latency_target_s),
                pl.col("latency_s_optimistic").round_sig_figs(3),
            )
        )
    return reason.otherwise(pl.lit(None, dtype=pl.String))


def latest_per_config(rows: pl.DataFrame) -> pl.DataFrame:
    """One row per (model, quant, task, metric, few-shot): the run over the most documents, then the latest,
    whatever device it ran on (see `table.latest_runs`)."""
    from explorer.deployment.table import best_run_order

    keys = [k for k in (*KEYS, "num_fewshot") if k in rows.columns]
    return best_run_order(rows).unique(subset=keys, keep="last", maintain_order=True)


def service_table(
    rows: pl.DataFrame,
    options: Sequence[HardwareOption],
    workload: Workload,
    ceilings: Mapping[str, Mapping[str, Any]],
    overheads: Mapping[str, Mapping[str, Any]] | None = None,
    profiles: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Every row on every option: service_s_per_query (+ _optimistic), latency_s (+ _optimistic), need_bytes,
    the option's price and datasheet columns, cost_provenance, service_source, excluded_reason. A generation
    workload (`workload.output_tokens`) times every (model, quant) from its serving profiles instead."""
    from explorer.deployment.generation import generation_service

    rows = with_efficiency(rows, ceilings)
    parts = []
    for opt in options:
        if workload.is_generation:
            part = generation_service(latest_per_config(rows), profiles if profiles is not None else pl.DataFrame(),
                                      opt, workload, ceilings, overheads or {})  # fmt: skip
            part = part.with_columns(_option_columns(opt))
        else:
            part = _in_situ(rows, opt, workload, overheads or {})
        if not part.is_empty():
            parts.append(part)
    if not parts:
        return pl.DataFrame()
    table = pl.concat(parts, how="diagonal_relaxed")
    for col in ("projection_note", "gen_reason", "cost_note"):
        if col not in table.columns:
            table = table.with_columns(pl.lit(None, dtype=pl.String).alias(col))
    target = None if workload.is_generation else workload.latency_s
    table = table.with_columns(pl.coalesce(pl.col("gen_reason"), exclusion_reason(target)).alias("excluded_reason"))
    return _say_random(table)


def _say_random(table: pl.DataFrame) -> pl.DataFrame:
    """A cost timed on random weights of the same shape (reported accuracy beside it) says so in service_source;
    one re-shaped from another architecture names it."""
    if "cost_weights" not in table.columns:
        return table
    random = pl.col("cost_weights") == "random"
    origin = pl.col("cost_origin") if "cost_origin" in table.columns else pl.lit(None, dtype=pl.String)
    source = (
        pl.when(origin.is_not_null() & pl.col("service_source").fill_null("projected").is_in(["projected"]))
        .then(origin)
        .when(origin.is_not_null())
        .then(pl.format("{}; {}", pl.col("service_source"), origin))
        .when(random)
        .then(pl.concat_str(pl.col("service_source"), pl.lit(" (random weights of this shape)")))
        .otherwise(pl.col("service_source"))
    )
    return table.with_columns(source.alias("service_source"))
