"""Accuracy rows and their Pareto frontier (pure Polars): the metric per task, chance normalisation, the
non-dominated points and accuracy / cost relative to the best.

Every function takes a frame with one row per (configuration, task) point: at least `task`, an accuracy column
(default `value`) and, for the frontier, a cost column (default `monthly_usd`); all other columns are kept.
Rows whose cost or accuracy is null, NaN or infinite (failed cells) are excluded. A configuration is
(model, quant) plus `hardware` and `provider` where those columns exist (see `config_columns`). The answer
built on them (cheapest deployment reaching a target) is `explorer.analysis.recommend`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from explorer.analysis.columns import require_columns as _require

COST = "monthly_usd"
ACCURACY = "value"
CONFIG_CANDIDATES = ("model", "quant", "hardware", "provider")
MEAN_TASK = "__mean__"
DEFAULT_TASK_METRICS: dict[str, str] = {"gsm8k": "exact_match,strict-match"}
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
    """One accuracy row per (cell, task): ok rows of `metric` (or the task's own metric from `per_task`), never
    a random-weight cell's.

    `per_task` defaults to DEFAULT_TASK_METRICS (e.g. gsm8k -> "exact_match,strict-match"); pass {} to use
    `metric` for every task. Rows with a null value are dropped.
    """
    _require(evals, ("task", "metric", "value"), "select_metric")
    mapping = dict(DEFAULT_TASK_METRICS if per_task is None else per_task)
    frame = evals.filter(pl.col("status") == "ok") if "status" in evals.columns else evals
    if "weights" in frame.columns:  # random weights measure cost; their accuracy means nothing
        frame = frame.filter(pl.col("weights").ne_missing("random"))
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
