"""Pareto frontier, aggregation over tasks and "cheapest config that reaches X% of the best" (pure Polars).

Every function takes a frame with one row per (configuration, task) point: at least `model`, `quant`, `task`,
an accuracy column (default `value`) and a cost column (default `usd_per_query`); all other columns are kept.
Rows whose cost or accuracy is null, NaN or infinite (failed cells) are excluded. A configuration is
(model, quant) plus `hardware` and `provider` where those columns exist (see `config_columns`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from explorer.analysis.columns import require_columns as _require

COST = "usd_per_query"
ACCURACY = "value"
CONFIG_CANDIDATES = ("model", "quant", "hardware", "provider")
MEAN_TASK = "__mean__"
DEFAULT_TASK_METRICS: dict[str, str] = {"gsm8k": "exact_match,strict-match"}
# relative slack on "accuracy >= threshold" so that 0.9 x 0.5 reaches an accuracy of exactly 0.45
_REL_EPS = 1e-12
_GROUP = "__group__"


def _valid(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """Rows where every named column is a finite number (null / NaN / inf excluded)."""
    cond = pl.lit(True)
    for col in columns:
        value = pl.col(col).cast(pl.Float64)
        cond = cond & value.is_not_null() & value.is_finite()
    return frame.filter(cond)


def _groups(frame: pl.DataFrame, by: Sequence[str]) -> tuple[pl.DataFrame, list[str]]:
    """`by` as a list usable in `over`/`group_by`; an empty `by` becomes one constant helper column."""
    if by:
        return frame, list(by)
    return frame.with_columns(pl.lit(0).alias(_GROUP)), [_GROUP]


def config_columns(frame: pl.DataFrame) -> list[str]:
    """The columns that name a configuration: model and quant, plus hardware and provider when present."""
    return [c for c in CONFIG_CANDIDATES if c in frame.columns]


def select_metric(
    evals: pl.DataFrame,
    metric: str = "acc",
    per_task: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """One accuracy row per (cell, task): ok rows of `metric` (or the task's own metric from `per_task`).

    `per_task` defaults to DEFAULT_TASK_METRICS (e.g. gsm8k -> "exact_match,strict-match"); pass {} to use
    `metric` for every task. Rows with a null value are dropped.
    """
    _require(evals, ("task", "metric", "value"), "select_metric")
    mapping = dict(DEFAULT_TASK_METRICS if per_task is None else per_task)
    frame = evals.filter(pl.col("status") == "ok") if "status" in evals.columns else evals
    wanted = pl.col("task").replace_strict(mapping, default=pl.lit(metric), return_dtype=pl.String)
    return frame.filter((pl.col("metric") == wanted) & pl.col("value").is_not_null())


def pareto_frontier(
    frame: pl.DataFrame,
    cost: str = COST,
    accuracy: str = ACCURACY,
    by: Sequence[str] = ("task",),
) -> pl.DataFrame:
    """Add boolean `on_frontier`: no other point of the group has cost <= and accuracy >= with one strict.

    Identical (cost, accuracy) points are all on the frontier. Rows without a finite cost and accuracy are
    dropped. Sorted by group, then cost ascending, then accuracy descending.
    """
    _require(frame, [*by, cost, accuracy], "pareto_frontier")
    columns = frame.columns
    data, keys = _groups(_valid(frame, (cost, accuracy)), by)
    c, a = pl.col(cost).cast(pl.Float64), pl.col(accuracy).cast(pl.Float64)
    # best accuracy at each distinct cost, and the best among strictly cheaper costs of the group
    levels = (
        data.group_by([*keys, cost])
        .agg(a.max().alias("__best_here"))
        .sort([*keys, cost])
        .with_columns(pl.col("__best_here").cum_max().shift(1).over(keys).alias("__best_cheaper"))
    )
    out = data.join(levels, on=[*keys, cost], how="left", nulls_equal=True)
    on = (a >= pl.col("__best_here")) & (pl.col("__best_cheaper").is_null() | (a > pl.col("__best_cheaper")))
    out = out.with_columns(on.alias("on_frontier")).sort([*keys, c, a], descending=[False] * len(keys) + [False, True])
    return out.select([*[col for col in columns if col != "on_frontier"], "on_frontier"])


def chance_normalise(frame: pl.DataFrame, accuracy: str = ACCURACY) -> pl.DataFrame:
    """(acc - chance) / (1 - chance) per row, stderr scaled alike; a null chance counts as 0 (generation)."""
    _require(frame, (accuracy, "chance"), "chance_normalise")
    chance = pl.col("chance").cast(pl.Float64).fill_null(0.0).fill_nan(0.0)
    denom = pl.when(chance < 1.0).then(1.0 - chance).otherwise(None)
    out = frame.with_columns(((pl.col(accuracy).cast(pl.Float64) - chance) / denom).alias(accuracy))
    if "stderr" in frame.columns:
        out = out.with_columns((pl.col("stderr").cast(pl.Float64) / denom).alias("stderr"))
    return out


def _summary_expr(name: str, dtype: pl.DataType, n_tasks: pl.Expr) -> pl.Expr | None:
    col = pl.col(name)
    if name == "stderr":
        return (col.cast(pl.Float64).pow(2).sum().sqrt() / n_tasks).alias(name)
    if dtype.is_numeric():
        if name == "n_docs":
            return col.sum().alias(name)
        if name.endswith("_bytes") or name == "model_params":
            return col.max().alias(name)
        return col.cast(pl.Float64).mean().alias(name)
    if dtype == pl.String:
        joined = col.drop_nulls().unique().sort().str.join("+")
        if "provenance" in name:
            return joined.alias(name)
        return pl.when(col.n_unique() == 1).then(col.first()).otherwise(None).alias(name)
    return None  # booleans (a stale on_frontier), lists, structs: not meaningful as a mean over tasks


def aggregate(
    frame: pl.DataFrame,
    chance_normalised: bool = False,
    cost: str = COST,
    accuracy: str = ACCURACY,
    config: Sequence[str] | None = None,
    tasks: Sequence[str] | None = None,
) -> pl.DataFrame:
    """One row per configuration: mean accuracy and mean cost over tasks, task = "__mean__".

    Only configurations that have every task (`tasks`, default: every task with a valid row) are kept;
    `n_tasks` says how many. With `chance_normalised`, each task's accuracy becomes
    (acc - chance) / (1 - chance) before averaging. stderr = sqrt(sum stderr^2) / n_tasks; n_docs is
    summed; *_bytes and model_params take the max; other numbers the mean; text columns are kept where
    constant within the configuration, provenance columns become the sorted "+"-joined set.
    Raises ValueError when a configuration has several rows for one task (call select_metric first).
    """
    keys = list(config) if config is not None else config_columns(frame)
    _require(frame, [*keys, "task", cost, accuracy], "aggregate")
    data = _valid(frame, (cost, accuracy))
    if chance_normalised:
        data = _valid(chance_normalise(data, accuracy), (accuracy,))
    wanted = sorted(set(tasks) if tasks is not None else set(data.get_column("task").drop_nulls().to_list()))
    data = data.filter(pl.col("task").is_in(wanted))
    dup = data.group_by([*keys, "task"]).len().filter(pl.col("len") > 1)
    if not dup.is_empty():
        row = dup.row(0, named=True)
        raise ValueError(
            f"aggregate: {row['len']} rows for one (configuration, task) {row}: select one metric per task "
            "(select_metric) or pass config= with the columns that tell them apart"
        )
    n_tasks = pl.col("task").n_unique()
    exprs = [n_tasks.alias("n_tasks")]
    for name, dtype in data.schema.items():
        if name in (*keys, "task", "metric", "n_tasks"):
            continue
        expr = _summary_expr(name, dtype, n_tasks)
        if expr is not None:
            exprs.append(expr)
    metric_label = "mean"
    if "metric" in data.columns:
        metric_label += "(" + "+".join(sorted(data.get_column("metric").unique().drop_nulls().to_list())) + ")"
    if chance_normalised:
        metric_label += " chance-normalised"
    out = (
        data.group_by(keys, maintain_order=True)
        .agg(exprs)
        .filter(pl.col("n_tasks") == len(wanted))
        .with_columns(pl.lit(MEAN_TASK).alias("task"), pl.lit(metric_label).alias("metric"))
    )
    lead = [*keys, "task", "metric", accuracy, cost, "n_tasks"]
    return out.select([*lead, *[c for c in out.columns if c not in lead]]).sort([cost, *keys])


def relative_to_best(
    frame: pl.DataFrame,
    cost: str = COST,
    accuracy: str = ACCURACY,
    by: Sequence[str] = ("task",),
) -> pl.DataFrame:
    """Add `relative_accuracy` (acc / best acc of the group) and `relative_cost` (cost / cost of the most
    accurate point; the cheapest one when several tie for best accuracy). Invalid rows are dropped."""
    _require(frame, [*by, cost, accuracy], "relative_to_best")
    data, keys = _groups(_valid(frame, (cost, accuracy)), by)
    c, a = pl.col(cost).cast(pl.Float64), pl.col(accuracy).cast(pl.Float64)
    best_acc = a.max().over(keys)
    best_cost = c.filter(a == a.max()).min().over(keys)
    out = data.with_columns((a / best_acc).alias("relative_accuracy"), (c / best_cost).alias("relative_cost"))
    return out.drop(_GROUP) if _GROUP in out.columns else out


def _check_fraction(name: str, value: float) -> None:
    if not (0.0 < value <= 1.0) or math.isnan(value):
        raise ValueError(f"{name} must be in (0, 1], got {value}")


def cheapest_reaching(
    frame: pl.DataFrame,
    fraction_of_best: float = 0.9,
    by: Sequence[str] = ("task",),
    cost: str = COST,
    accuracy: str = ACCURACY,
    config: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Per group, the cheapest point whose accuracy >= fraction_of_best x the group's best accuracy.

    One row per group: the chosen point (all its columns) plus `best_<config col>`, `best_<accuracy>`,
    `best_<cost>` of the most accurate point (the cheapest of those tied), `threshold`, `accuracy_ratio`
    (chosen / best accuracy), `cost_ratio` (chosen / best cost) and `savings_x` (best cost / chosen cost).
    Ties on cost go to the more accurate point. Accuracies are used as given (apply chance normalisation
    first if wanted; a fraction of a negative best is not meaningful).
    """
    _check_fraction("fraction_of_best", fraction_of_best)
    keys = list(config) if config is not None else config_columns(frame)
    _require(frame, [*by, *keys, cost, accuracy], "cheapest_reaching")
    data, groups = _groups(_valid(frame, (cost, accuracy)), by)
    c, a = pl.col(cost).cast(pl.Float64), pl.col(accuracy).cast(pl.Float64)
    best_cols = [*keys, accuracy, cost]
    best = (
        data.sort([*groups, a, c], descending=[False] * len(groups) + [True, False])
        .group_by(groups, maintain_order=True)
        .agg(pl.col(col).first().alias(f"best_{col}") for col in best_cols)
    )
    threshold = pl.col(f"best_{accuracy}").cast(pl.Float64) * fraction_of_best
    chosen = (
        data.join(best, on=groups, how="left", nulls_equal=True)
        .with_columns(threshold.alias("threshold"))
        .filter(a >= pl.col("threshold") - _REL_EPS * pl.col("threshold").abs())
        .sort([*groups, c, a], descending=[False] * len(groups) + [False, True])
        .group_by(groups, maintain_order=True)
        .first()
    )
    best_c, best_a = pl.col(f"best_{cost}").cast(pl.Float64), pl.col(f"best_{accuracy}").cast(pl.Float64)
    out = chosen.with_columns(
        (a / best_a).alias("accuracy_ratio"),
        (c / best_c).alias("cost_ratio"),
        (best_c / c).alias("savings_x"),
    )
    return out.drop(_GROUP) if _GROUP in out.columns else out


def cheapest_within_reference(
    frame: pl.DataFrame,
    tolerance: float = 0.01,
    reference_quant: str = "bf16",
    by: Sequence[str] = ("task", "model"),
    cost: str = COST,
    accuracy: str = ACCURACY,
) -> pl.DataFrame:
    """MLPerf-style "99% of reference": per (task, model), the cheapest point (quantization, and hardware
    where present) whose accuracy >= (1 - tolerance) x the model's `reference_quant` accuracy.

    The reference accuracy is the mean over the group's reference rows (several hardware rows of one
    measurement agree); groups without a reference row are left out. Adds `reference_<accuracy>`,
    `reference_<cost>` (cheapest reference row), `threshold`, `accuracy_ratio` and `savings_x`
    (reference cost / chosen cost). The reference itself always qualifies.
    """
    if not (0.0 <= tolerance < 1.0) or math.isnan(tolerance):
        raise ValueError(f"tolerance must be in [0, 1), got {tolerance}")
    _require(frame, [*by, "quant", cost, accuracy], "cheapest_within_reference")
    data, groups = _groups(_valid(frame, (cost, accuracy)), by)
    c, a = pl.col(cost).cast(pl.Float64), pl.col(accuracy).cast(pl.Float64)
    ref_acc, ref_cost = f"reference_{accuracy}", f"reference_{cost}"
    reference = (
        data.filter(pl.col("quant") == reference_quant)
        .group_by(groups)
        .agg(a.mean().alias(ref_acc), c.min().alias(ref_cost))
    )
    threshold = pl.col(ref_acc) * (1.0 - tolerance)
    chosen = (
        data.join(reference, on=groups, how="inner", nulls_equal=True)
        .with_columns(threshold.alias("threshold"))
        .filter(a >= pl.col("threshold") - _REL_EPS * pl.col("threshold").abs())
        .sort([*groups, c, a], descending=[False] * len(groups) + [False, True])
        .group_by(groups, maintain_order=True)
        .first()
    )
    out = chosen.with_columns((a / pl.col(ref_acc)).alias("accuracy_ratio"), (pl.col(ref_cost) / c).alias("savings_x"))
    out = out.drop(_GROUP) if _GROUP in out.columns else out
    return out.sort(list(by)) if by else out


def _per_1k(row: Mapping[str, Any], cost: str, prefix: str = "") -> float | None:
    if f"{prefix}usd_per_1k_queries" in row and row[f"{prefix}usd_per_1k_queries"] is not None:
        return float(row[f"{prefix}usd_per_1k_queries"])
    value = row.get(f"{prefix}{cost}")
    return None if value is None else float(value) * 1000.0


def recommend(
    frame: pl.DataFrame,
    target_fraction: float = 0.9,
    task: str | None = None,
    chance_normalised: bool = False,
    cost: str = COST,
    accuracy: str = ACCURACY,
) -> dict[str, Any]:
    """The CLI's recommendation: the cheapest configuration reaching `target_fraction` of the best accuracy.

    `task` picks one task; otherwise a frame with several tasks is first averaged with `aggregate`
    (configurations with every task only). Returns a flat dict: task, target_fraction, n_configs,
    chosen / best (dicts of the configuration columns), accuracy, usd_per_query, usd_per_1k_queries,
    monthly_usd (None without that column), cost_provenance (None without it), the same `best_` figures,
    accuracy_ratio, cost_ratio, savings_x. Raises ValueError when no configuration has both figures.
    """
    _check_fraction("target_fraction", target_fraction)
    _require(frame, ["task", "model", "quant", cost, accuracy], "recommend")
    data = frame.filter(pl.col("task") == task) if task is not None else frame
    if task is None and data.get_column("task").n_unique() > 1:
        data = aggregate(data, chance_normalised=chance_normalised, cost=cost, accuracy=accuracy)
    elif chance_normalised:
        data = chance_normalise(data, accuracy)
    data = _valid(data, (cost, accuracy))
    if data.is_empty():
        raise ValueError(
            f"recommend: no configuration with both {accuracy!r} and {cost!r}" + (f" for {task}" if task else "")
        )
    keys = config_columns(data)
    best_row = data.sort([pl.col(accuracy), pl.col(cost)], descending=[True, False]).row(0, named=True)
    row = cheapest_reaching(data, target_fraction, by=(), cost=cost, accuracy=accuracy, config=keys).row(0, named=True)
    return {
        "task": row["task"],
        "target_fraction": target_fraction,
        "chance_normalised": chance_normalised,
        "n_configs": data.select(keys).unique().height,
        "chosen": {k: row[k] for k in keys},
        "accuracy": row[accuracy],
        "usd_per_query": row[cost],
        "usd_per_1k_queries": _per_1k(row, cost),
        "monthly_usd": row.get("monthly_usd"),
        "cost_provenance": row.get("cost_provenance"),
        "best": {k: best_row[k] for k in keys},
        "best_accuracy": best_row[accuracy],
        "best_usd_per_query": best_row[cost],
        "best_usd_per_1k_queries": _per_1k(best_row, cost),
        "best_monthly_usd": best_row.get("monthly_usd"),
        "accuracy_ratio": row["accuracy_ratio"],
        "cost_ratio": row["cost_ratio"],
        "savings_x": row["savings_x"],
    }


def format_recommendation(rec: Mapping[str, Any]) -> str:
    """Two lines for a terminal: the chosen configuration and how it compares with the most accurate one."""

    def name(cfg: Mapping[str, Any]) -> str:
        return " / ".join(str(v) for v in cfg.values() if v is not None)

    def money(v: float | None, unit: str) -> str:
        return "n/a" if v is None else f"${v:,.4g}{unit}"

    monthly = f", {money(rec['monthly_usd'], '/month')}" if rec.get("monthly_usd") is not None else ""
    prov = f" ({rec['cost_provenance']})" if rec.get("cost_provenance") else ""
    task = "all tasks (mean)" if rec["task"] == MEAN_TASK else rec["task"]
    return (
        f"cheapest at >= {rec['target_fraction']:.0%} of best on {task}: {name(rec['chosen'])}: "
        f"accuracy {rec['accuracy']:.3f}, {money(rec['usd_per_1k_queries'], '/1k queries')}{monthly}{prov}\n"
        f"most accurate: {name(rec['best'])}: accuracy {rec['best_accuracy']:.3f}, "
        f"{money(rec['best_usd_per_1k_queries'], '/1k queries')}; "
        f"{rec['accuracy_ratio']:.0%} of its accuracy at {rec['cost_ratio']:.2%} of its cost "
        f"({rec['savings_x']:.3g}x cheaper)"
    )
