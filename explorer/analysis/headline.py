"""The answer in one sentence with its provenance, which frontier points are within noise of each other, and the
settings that produced the answer (shown beside it, written into every export). Pure functions over the
answer (`explorer.analysis.recommend.answer`) and the report's rows.

Within noise: two accuracies whose difference is at most `Z` (1.96) x sqrt(stderr_a^2 + stderr_b^2) cannot be
told apart at about 95% confidence. Frontier points (sorted by cost) are grouped greedily: a point joins the
group of the cheapest point before it that it is within noise of, else starts a new group.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from explorer.analysis.frontier import MEAN_TASK
from explorer.analysis.recommend import COST_AXES, usd
from explorer.deployment.workload import SECONDS_PER_DAY, Workload

Z = 1.96


def scope_name(task: str | None) -> str:
    return "all tasks (mean)" if task in (None, MEAN_TASK) else str(task)


def within_noise(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Are the accuracies (`value` +- `stderr`) of rows `a` and `b` within Z combined stderr? (no stderr: only
    equal values are)"""
    va, vb = a.get("value"), b.get("value")
    if va is None or vb is None:
        return False
    sa, sb = a.get("stderr") or 0.0, b.get("stderr") or 0.0
    return abs(va - vb) <= Z * math.sqrt(sa * sa + sb * sb) + 1e-12


def noise_groups(rows: pl.DataFrame, cost: str = "monthly_usd") -> pl.DataFrame:
    """The `on_frontier` rows of `rows` (one scope) by increasing cost, with `noise_group` (0, 1, ...: see the
    module text) and `noise_group_size`."""
    front = rows.filter(pl.col("on_frontier").fill_null(False)).sort(cost)
    groups: list[int] = []
    firsts: list[dict[str, Any]] = []
    for row in front.iter_rows(named=True):
        for g, first in enumerate(firsts):
            if within_noise(first, row):
                groups.append(g)
                break
        else:
            firsts.append(row)
            groups.append(len(firsts) - 1)
    out = front.with_columns(pl.Series("noise_group", groups, dtype=pl.Int64))
    return out.with_columns(pl.len().over("noise_group").alias("noise_group_size"))


def same_deployment(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    keys = ("model", "quant", "hardware", "provider", "task")
    return a is not None and b is not None and all(a.get(k) == b.get(k) for k in keys)


def provenance(row: Mapping[str, Any], placeholder: str | None = None) -> str:
    """'measured', 'projected', 'accuracy reported, cost projected', '... price a placeholder'."""
    cost = row.get("cost_provenance") or "measured"
    text = f"accuracy reported, cost {cost}" if row.get("accuracy_provenance") == "reported" else cost
    if placeholder is not None and row.get("hardware") == placeholder:
        text += f"; its {usd(row.get('usd_per_hour'))}/h price is a placeholder: set it"
    return text


def _deployment(row: Mapping[str, Any]) -> str:
    return f"{row['model']} {row['quant']} on {row['replicas']}x {row['hardware']}"


def _percent_cheaper(chosen: Mapping[str, Any], base: Mapping[str, Any]) -> str:
    """'96% cheaper than', '250x cheaper than' (from 99% on: a share would read 100%), 'as cheap as', '50% dearer
    than'."""
    if not base["monthly_usd"] or not chosen["monthly_usd"]:
        return "cheaper than" if chosen["monthly_usd"] < base["monthly_usd"] else "no cheaper than"
    share = 1 - chosen["monthly_usd"] / base["monthly_usd"]
    if abs(share) < 0.005:
        return "as cheap as"
    if share >= 0.99:
        return f"{base['monthly_usd'] / chosen['monthly_usd']:,.0f}x cheaper than"
    return f"{share:.0%} cheaper than" if share > 0 else f"{-share:.0%} dearer than"


def noise_note(chosen: Mapping[str, Any], rows: pl.DataFrame, cost: str = "monthly_usd") -> str:
    """'' or ' Within noise of it: A ($5/month), B ($9/month).' (other frontier points of the chosen's group)."""
    if rows.is_empty() or "on_frontier" not in rows.columns:
        return ""
    grouped = noise_groups(rows.filter(pl.col("task") == chosen.get("task")), cost)
    mine = [r for r in grouped.iter_rows(named=True) if same_deployment(r, chosen)]
    if not mine:
        return ""
    others = [r for r in grouped.filter(pl.col("noise_group") == mine[0]["noise_group"]).iter_rows(named=True)
              if not same_deployment(r, chosen)]  # fmt: skip
    if not others:
        return ""
    named = ", ".join(f"{_deployment(r)} ({usd(r['monthly_usd'])}/month)" for r in others[:2])
    more = f" and {len(others) - 2} more" if len(others) > 2 else ""
    return f" Within noise of its accuracy ({Z} stderr): {named}{more}."


def headline(
    ans: Mapping[str, Any],
    queries_per_day: float,
    rows: pl.DataFrame | None = None,
    placeholder: str | None = None,
) -> str:
    """The answer in one sentence: "For N queries/day at >= T% of the best accuracy on TASK: DEPLOYMENT, $X/month
    (provenance), accuracy A; P% cheaper than the most accurate on BASELINE, DEPLOYMENT ($Y/month, provenance)."
    then, when other frontier points are within noise of the choice, which (`noise_note`). `rows`: the scope's
    servable rows with `on_frontier` (for that note); `placeholder`: the hardware whose price is a placeholder."""
    start = (f"For {queries_per_day:,.0f} queries/day at >= {ans['target_fraction']:.0%} of the best accuracy on "
             f"{scope_name(ans['task'])}")  # fmt: skip
    chosen, base = ans.get("chosen"), ans.get("baseline")
    if chosen is None:
        return f"{start}: no deployment qualifies ({ans.get('reason') or 'nothing reaches the target'})."
    cheapest = (
        "" if ans.get("cost_axis", "monthly_usd") == "monthly_usd" else f" (cheapest by {COST_AXES[ans['cost_axis']]})"
    )
    text = (f"{start}: {_deployment(chosen)}{cheapest}, {usd(chosen['monthly_usd'])}/month "
            f"({provenance(chosen, placeholder)}), accuracy {chosen['value']:.3f}")  # fmt: skip
    if base is not None and same_deployment(chosen, base):
        text += f"; it is also the most accurate deployment on {ans.get('baseline_hardware')}."
    elif base is not None:
        text += (f"; {_percent_cheaper(chosen, base)} the most accurate on {base['hardware']}, "
                 f"{_deployment(base)} ({usd(base['monthly_usd'])}/month, "
                 f"{provenance(base, placeholder)}).")  # fmt: skip
    else:
        text += "."
    return text + (noise_note(chosen, rows, ans.get("cost_axis", "monthly_usd")) if rows is not None else "")


def settings(
    workload: Workload,
    ans: Mapping[str, Any],
    *,
    hardware_options: int | None = None,
    placeholder: str | None = None,
    filters: Mapping[str, Sequence[str]] | None = None,
    chance_normalised: bool = False,
    reported: str = "matching",
) -> dict[str, str]:
    """The settings behind the answer, as label -> text (ordered as shown)."""
    hw = workload.hardware
    of = f" of {hardware_options}" if hardware_options is not None and hardware_options != len(hw) else ""
    shown_hw = ", ".join(hw) if len(hw) <= 4 else f"all {len(hw)} options" if hardware_options == len(hw) else (
        f"{len(hw)}{of} options")  # fmt: skip
    mean_qps = workload.queries_per_day / SECONDS_PER_DAY
    peak = workload.peak_qps / mean_qps if mean_qps > 0 else workload.peak_to_mean
    shape = "hourly profile, " if workload.hourly_profile is not None else ""
    if workload.measured_usd_per_hour is not None:
        flag = " (placeholder)" if placeholder else ""
        shown_hw += f"; this machine at {usd(workload.measured_usd_per_hour)}/h{flag}"
    out = {
        "task": scope_name(ans.get("task")),
        "traffic": f"{workload.queries_per_day:,.0f} queries/day ({shape}peak {peak:.3g}x mean)",
        "target": f">= {ans['target_fraction']:.0%} of the best accuracy"
        + (" (chance-normalised)" if chance_normalised else ""),
        "hardware": shown_hw,
        "provider": workload.provider or "cheapest listed",
        "price": f"list x {workload.price_scale:g}, {workload.billing} billing",
        "latency target": f"{workload.latency_s:g} s",
        "cost axis": COST_AXES.get(ans.get("cost_axis", "monthly_usd"), "USD per month"),
        "reported accuracy": reported,
    }
    for name, values in (filters or {}).items():
        out[name] = ", ".join(values)
    return out


def settings_line(values: Mapping[str, str]) -> str:
    """'task: arc_easy | traffic: 10,000 queries/day | ...' (one line)."""
    return " | ".join(f"{k}: {v}" for k, v in values.items())
