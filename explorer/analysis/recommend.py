"""The answer: for a workload and an accuracy target, the cheapest deployment, and what it saves (pure Polars).

Over the servable rows of a deployment table (`explorer.deployment.table`) in one scope (one task, or the mean
over tasks):

- the target is `target_fraction` x the best accuracy any servable configuration reaches;
- the answer is the cheapest row (on the chosen cost axis; ties: the more accurate, then the smaller bill) at or
  above the target, over every hardware option: (model, quant, hardware, replicas) with its bill, utilisation
  and idle share;
- per hardware, the same choice restricted to that hardware (or why none qualifies);
- the baseline is the "default to the biggest" deployment: the most accurate servable configuration on the
  baseline hardware (`Workload.baseline_hardware`, default the catalog's most powerful GPU), with the saving
  ``baseline monthly_usd - answer monthly_usd`` (and the ratio).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from explorer.analysis.columns import column_values, keep_rows
from explorer.analysis.frontier import MEAN_TASK, pareto_frontier
from explorer.hints import did_you_mean

COST_AXES: dict[str, str] = {
    "monthly_usd": "USD per month",
    "effective_usd_per_query": "USD per query (bill / queries)",
    "usd_per_correct": "USD per correct answer",
}
ROW_FIELDS = (
    "model",
    "quant",
    "hardware",
    "provider",
    "task",
    "value",
    "stderr",
    "replicas",
    "batch_size_served",
    "usd_per_hour",
    "monthly_usd",
    "monthly_usd_optimistic",
    "effective_usd_per_query",
    "effective_usd_per_query_optimistic",
    "marginal_usd_per_query",
    "usd_per_correct",
    "utilisation",
    "idle_share",
    "idle_usd_per_month",
    "service_s_per_query",
    "service_s_per_query_optimistic",
    "latency_s",
    "cost_provenance",
    "service_source",
    "price_source",
    "accuracy_provenance",
    "source_doc",
)
_REL_EPS = 1e-12


def check_fraction(value: float, name: str = "target fraction") -> float:
    """A share of an accuracy, in (0, 1]; else one line saying so."""
    if not 0 < value <= 1 or math.isnan(value):
        raise ValueError(f"{name} must be in (0, 1], got {value}")
    return value


def check_cost_axis(cost: str) -> str:
    if cost not in COST_AXES:
        raise ValueError(
            f"unknown cost axis {cost!r}{did_you_mean(cost, list(COST_AXES))}; known: {', '.join(COST_AXES)}"
        )
    return cost


def scope_of(table: pl.DataFrame, task: str | None) -> str:
    """The task the answer is about: `task`, else the mean over the measured rows' tasks (the only one when
    they have one; reported rows add tasks of their own, which the mean does not take)."""
    tasks = sorted(t for t in column_values(table, "task") if t != MEAN_TASK)
    if task is not None:
        if task not in tasks and task != MEAN_TASK:
            raise ValueError(f"no task {task!r} in the results{did_you_mean(task, tasks)}; tasks: {', '.join(tasks)}")
        return task
    if "accuracy_provenance" in table.columns:
        measured = column_values(table, "task", pl.col("accuracy_provenance") == "measured")
        tasks = sorted(t for t in measured if t != MEAN_TASK) or tasks
    return tasks[0] if len(tasks) == 1 else MEAN_TASK


def _finite(cols: Sequence[str]) -> pl.Expr:
    return pl.all_horizontal([pl.col(c).cast(pl.Float64).is_finite().fill_null(False) for c in cols])


def _row(frame: pl.DataFrame) -> dict[str, Any] | None:
    if frame.is_empty():
        return None
    row = frame.row(0, named=True)
    return {k: row.get(k) for k in ROW_FIELDS if k in row}


def _at_least(threshold: float) -> pl.Expr:
    return pl.col("value") >= threshold - _REL_EPS * abs(threshold)


def _cheapest_order(cost: str) -> list[tuple[str, bool]]:
    """Cheapest first; ties: more accurate, then the smaller bill ((column, descending))."""
    return [(cost, False), ("value", True), ("monthly_usd", False)]


def cheapest_at_or_above(frame: pl.DataFrame, threshold: float, cost: str) -> pl.DataFrame:
    """Rows reaching `threshold` accuracy, cheapest first (ties: more accurate, then the smaller bill)."""
    order = _cheapest_order(cost)
    return frame.filter(_at_least(threshold)).sort([c for c, _ in order], descending=[d for _, d in order])


def _first(frame: pl.DataFrame, order: Sequence[tuple[str, bool]], where: pl.Expr | None = None):
    """`_row` of the first row of `frame` (where `where` holds) in `order` ((column, descending), the first of a
    repeated column counts), sorted on those columns alone."""
    by: dict[str, bool] = {}
    for col, desc in order:
        by.setdefault(col, desc)
    slim = frame.select(pl.int_range(pl.len()).alias("__i"), *by, *([where.alias("__w")] if where is not None else []))
    slim = slim.filter(pl.col("__w").fill_null(False)) if where is not None else slim
    first = slim.sort(list(by), descending=list(by.values()), maintain_order=True).get_column("__i").head(1)
    return _row(frame.slice(first[0], 1)) if first.len() else None


def _cheapest(frame: pl.DataFrame, threshold: float, cost: str) -> dict[str, Any] | None:
    """`_row` of `cheapest_at_or_above(frame, threshold, cost)` without sorting every column of a wide frame."""
    return _first(frame, _cheapest_order(cost), _at_least(threshold))


def _cheapest_each(frame: pl.DataFrame, threshold: float, cost: str, by: str) -> dict[Any, dict[str, Any]]:
    """`_cheapest` of each `by` group (one sort of the slim order columns, not one filter of the frame a group)."""
    order = _cheapest_order(cost)
    slim = frame.select(pl.int_range(pl.len()).alias("__i"), by, *dict.fromkeys(c for c, _ in order),
                        _at_least(threshold).fill_null(False).alias("__w"))  # fmt: skip
    slim = slim.filter(pl.col("__w")).sort([c for c, _ in order], descending=[d for _, d in order], maintain_order=True)
    firsts = slim.group_by(by, maintain_order=True).agg(pl.col("__i").first())
    return {key: _row(frame.slice(i, 1)) for key, i in firsts.iter_rows()}


def answer(
    table: pl.DataFrame,
    baseline_hardware: str,
    target_fraction: float = 0.9,
    task: str | None = None,
    cost: str = "monthly_usd",
    chance_normalised: bool = False,
) -> dict[str, Any]:
    """The answer for one scope (see the module text) as a plain dict (JSON-ready). With `chance_normalised`
    accuracy, a scope where nothing beats chance (best <= 0) has no answer, and says so."""
    check_fraction(target_fraction)
    check_cost_axis(cost)
    scope = scope_of(table, task)
    needed = dict.fromkeys([*ROW_FIELDS, "task", "hardware", "value", "monthly_usd", "excluded_reason", cost])
    table = table.select([c for c in needed if c in table.columns])  # no copy; the filters below copy these only
    rows = keep_rows(table, pl.col("task") == scope)
    servable = keep_rows(rows, pl.col("excluded_reason").is_null())
    served = keep_rows(servable, _finite((cost, "value", "monthly_usd")))
    out: dict[str, Any] = {"task": scope, "target_fraction": target_fraction, "cost_axis": cost}
    out["n_configurations"] = rows.select("model", "quant").unique().height
    out["n_excluded"] = rows.height - servable.height
    out["n_without_cost"] = servable.height - served.height  # e.g. no traffic, or accuracy 0 on usd_per_correct
    if served.is_empty():
        out.update(best_accuracy=None, threshold=None, chosen=None, baseline=None, per_hardware=[])
        out["reason"] = (
            f"no servable deployment has a finite {cost} (no traffic? accuracy 0?)"
            if servable.height
            else "no configuration can be served on any hardware (see the excluded table)"
        )
        return out
    best = float(served["value"].max())
    if chance_normalised and best <= 0:
        out.update(best_accuracy=best, threshold=None, chosen=None, baseline=None)
        out["reason"] = (f"no configuration beats chance on {scope} (best chance-normalised accuracy {best:.3f}): "
                         "nothing to recommend")  # fmt: skip
        out["per_hardware"] = [{"hardware": hw, "reason": "nothing beats chance"}
                               for hw in rows.get_column("hardware").unique(maintain_order=True).to_list()]  # fmt: skip
        return out
    threshold = target_fraction * best if best > 0 else best
    chosen = _cheapest(served, threshold, cost)
    baseline = _first(served, [("value", True), ("monthly_usd", False)], pl.col("hardware") == baseline_hardware)
    picks = _cheapest_each(served, threshold, cost, "hardware")
    per_hw = [picks.get(hw) or {"hardware": hw, "reason": _why_none(rows, served, hw, threshold)}
              for hw in rows.get_column("hardware").unique(maintain_order=True).to_list()]  # fmt: skip
    out.update(best_accuracy=best, threshold=threshold, chosen=chosen, baseline=baseline, per_hardware=per_hw)
    out.update(_saving(chosen, baseline, baseline_hardware))
    return out


def _why_none(rows: pl.DataFrame, served: pl.DataFrame, hw: str, threshold: float) -> str:
    """Why no deployment on `hw` qualifies: the reasons of the excluded ones that reach the target, if any."""
    mine = rows.filter(pl.col("hardware") == hw)
    good = mine.filter(_at_least(threshold))
    reasons = good.get_column("excluded_reason").drop_nulls().unique().sort().to_list()
    if reasons:
        return f"those reaching the target accuracy {threshold:.3f} are excluded: " + "; ".join(reasons[:2])
    if served.filter(pl.col("hardware") == hw).is_empty():
        reasons = mine.get_column("excluded_reason").drop_nulls().unique().sort().to_list()
        return "nothing can be served: " + ("; ".join(reasons[:2]) or "no rows")
    return f"no configuration reaches the target accuracy {threshold:.3f}"


def _saving(chosen: Mapping[str, Any] | None, baseline: Mapping[str, Any] | None, hw: str) -> dict[str, Any]:
    if chosen is None or baseline is None:
        return {"baseline_hardware": hw, "saving_usd_per_month": None, "saving_x": None}
    saving = baseline["monthly_usd"] - chosen["monthly_usd"]
    ratio = baseline["monthly_usd"] / chosen["monthly_usd"] if chosen["monthly_usd"] else None
    return {"baseline_hardware": hw, "saving_usd_per_month": saving, "saving_x": ratio}


def with_frontier(table: pl.DataFrame, cost: str = "monthly_usd") -> pl.DataFrame:
    """Servable rows with `on_frontier` per task over every hardware (cost lower, accuracy higher)."""
    served = keep_rows(table, pl.col("excluded_reason").is_null() & _finite((cost, "value")))
    return pareto_frontier(served, cost=cost, accuracy="value", by=("task",))


def usd(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"${v:,.0f}" if abs(v) >= 100 else f"${v:,.2f}" if abs(v) >= 0.01 else f"${v:.3g}"


def _share(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1%}"


def describe(row: Mapping[str, Any]) -> str:
    """'gemma3-270m int8 on 1x c7i.large: $64/month (projected $40-64), 2.4% busy' for one answer row."""
    rng = ""
    lo = row.get("monthly_usd_optimistic")
    if row.get("cost_provenance") == "projected" and lo is not None and not math.isclose(lo, row["monthly_usd"]):
        rng = f", optimistic {usd(lo)}"
    return (
        f"{row['model']} {row['quant']} on {row['replicas']}x {row['hardware']}: {usd(row['monthly_usd'])}/month "
        f"({row['cost_provenance']}{rng}), {_share(row['utilisation'])} busy, {_share(row['idle_share'])} idle "
        f"({usd(row['idle_usd_per_month'])}/month), accuracy {row['value']:.3f}, "
        f"{usd(row['effective_usd_per_query'])}/query"
    )


def format_answer(ans: Mapping[str, Any], queries_per_day: float) -> str:
    """The answer as terminal lines."""
    scope = "all tasks (mean)" if ans["task"] == MEAN_TASK else ans["task"]
    if ans.get("chosen") is None:
        return f"no answer for {scope}: {ans.get('reason', 'nothing reaches the target')}"
    lines = [
        f"For {queries_per_day:,.0f} queries/day at >= {ans['target_fraction']:.0%} of the best accuracy "
        f"({ans['best_accuracy']:.3f}) on {scope}, cheapest by {COST_AXES[ans['cost_axis']]}:",
        "  " + describe(ans["chosen"]),
    ]
    if ans.get("baseline") is not None:
        lines.append(f"baseline (most accurate on {ans['baseline_hardware']}): " + describe(ans["baseline"]))
        ratio = f" ({ans['saving_x']:.3g}x cheaper)" if ans.get("saving_x") is not None else ""
        lines.append(f"saving: {usd(ans['saving_usd_per_month'])}/month{ratio}")
    return "\n".join(lines)
