"""Pareto frontier, chance normalisation, accuracy / cost relative to the best and the metric per task."""

from __future__ import annotations

import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from explorer.analysis.frontier import (
    ACCURACY,
    COST,
    MEAN_TASK,
    chance_normalise,
    config_columns,
    pareto_frontier,
    relative_to_best,
    select_metric,
)


def _frame(rows: list[tuple], extra: dict | None = None) -> pl.DataFrame:
    """rows: (model, quant, task, value, monthly_usd[, chance])."""
    data = {
        "model": [r[0] for r in rows],
        "quant": [r[1] for r in rows],
        "task": [r[2] for r in rows],
        "metric": ["acc"] * len(rows),
        "value": [r[3] for r in rows],
        "stderr": [0.01] * len(rows),
        "chance": [r[5] if len(r) > 5 else 0.25 for r in rows],
        "monthly_usd": [r[4] for r in rows],
        "cell_id": [f"c{i}" for i in range(len(rows))],
        "provenance": ["measured"] * len(rows),
    }
    data.update(extra or {})
    schema = {"value": pl.Float64, "monthly_usd": pl.Float64, "chance": pl.Float64, "stderr": pl.Float64}
    return pl.DataFrame(data, schema_overrides=schema)


# 5 configurations on one task, plus a failed cell without a cost
FIVE = _frame(
    [
        ("big", "bf16", "t", 0.80, 1000.0),  # most accurate
        ("big", "int8", "t", 0.79, 500.0),
        ("mid", "bf16", "t", 0.75, 600.0),  # dominated by big/int8 (cheaper and more accurate)
        ("small", "bf16", "t", 0.73, 20.0),
        ("small", "int4", "t", 0.50, 10.0),
        ("tiny", "bf16", "t", None, None),  # failed cell
    ]
)


def _dominates(p: tuple[float, float], q: tuple[float, float]) -> bool:
    """p = (cost, acc) dominates q."""
    return p[0] <= q[0] and p[1] >= q[1] and (p[0] < q[0] or p[1] > q[1])


def test_defaults_name_the_monthly_bill_and_the_value() -> None:
    assert (COST, ACCURACY, MEAN_TASK) == ("monthly_usd", "value", "__mean__")


def test_exact_frontier_of_five_configs() -> None:
    out = pareto_frontier(FIVE)
    assert out.height == 5  # the failed cell is excluded
    assert out.get_column("monthly_usd").to_list() == [10.0, 20.0, 500.0, 600.0, 1000.0]  # sorted by cost
    frontier = out.filter("on_frontier").select("model", "quant").rows()
    assert frontier == [("small", "int4"), ("small", "bf16"), ("big", "int8"), ("big", "bf16")]
    assert out.columns == [*FIVE.columns, "on_frontier"]  # every other column kept, in order


def test_default_cost_is_monthly_usd_and_cost_can_be_named() -> None:
    # per query, mid/bf16 is the cheapest of all; per month it is dominated (as in FIVE)
    frame = FIVE.with_columns(
        pl.when(pl.col("model") == "mid").then(0.001).otherwise(pl.col("monthly_usd") / 1e4).alias("usd_per_query")
    )
    monthly = pareto_frontier(frame)
    assert dict(monthly.select("model", "on_frontier").filter(pl.col("model") == "mid").rows()) == {"mid": False}
    per_query = pareto_frontier(frame, cost="usd_per_query")
    assert per_query.get_column("model").to_list()[0] == "mid"
    assert per_query.filter("on_frontier").select("model", "quant").rows() == [
        ("mid", "bf16"),
        ("big", "int8"),
        ("big", "bf16"),
    ]
    with pytest.raises(ValueError, match="missing column 'monthly_usd'"):
        pareto_frontier(frame.drop("monthly_usd"))


def test_accuracy_column_can_be_named() -> None:
    # `value` reversed: only the cheapest point survives on it; `score` keeps FIVE's order and frontier
    frame = FIVE.with_columns(pl.col("value").alias("score"), (-pl.col("value")).alias("value"))
    assert pareto_frontier(frame).filter("on_frontier").get_column("quant").to_list() == ["int4"]
    out = pareto_frontier(frame, accuracy="score")
    assert out.get_column("on_frontier").to_list() == [True, True, True, False, True]
    assert out.get_column("model").to_list() == ["small", "small", "big", "mid", "big"]


def test_stale_on_frontier_is_recomputed_not_duplicated() -> None:
    stale = FIVE.with_columns(pl.lit(False).alias("on_frontier"))
    out = pareto_frontier(stale)
    assert out.columns.count("on_frontier") == 1 and out.columns[-1] == "on_frontier"
    assert out.get_column("on_frontier").to_list() == [True, True, True, False, True]


def test_ties_identical_points_are_both_on_frontier_and_equal_cost_keeps_the_more_accurate() -> None:
    frame = _frame(
        [
            ("a", "bf16", "t", 0.8, 1.0),
            ("b", "bf16", "t", 0.8, 1.0),  # identical to a
            ("c", "bf16", "t", 0.7, 1.0),  # same cost, less accurate: dominated
            ("d", "bf16", "t", 0.8, 2.0),  # same accuracy, dearer: dominated
        ]
    )
    out = pareto_frontier(frame)
    assert dict(out.select("model", "on_frontier").rows()) == {"a": True, "b": True, "c": False, "d": False}


def test_single_point_and_groups_and_no_grouping() -> None:
    one = pareto_frontier(FIVE.head(1))
    assert one.get_column("on_frontier").to_list() == [True]
    two_tasks = pl.concat([FIVE, FIVE.with_columns(pl.lit("u").alias("task"), (1 - pl.col("value")).alias("value"))])
    per_task = pareto_frontier(two_tasks)
    assert per_task.filter(pl.col("task") == "t").get_column("on_frontier").sum() == 4
    # on u accuracy is reversed, so only the cheapest point survives
    assert per_task.filter((pl.col("task") == "u") & pl.col("on_frontier")).get_column("quant").to_list() == ["int4"]
    pooled = pareto_frontier(two_tasks, by=())
    assert pooled.height == 10
    assert "__group__" not in pooled.columns
    # pooled, u's points only add the twin of t's cheapest point (identical cost and accuracy: a tie)
    assert set(pooled.filter("on_frontier").select("task", "model", "quant").rows()) == {
        ("t", "small", "int4"),
        ("u", "small", "int4"),
        ("t", "small", "bf16"),
        ("t", "big", "int8"),
        ("t", "big", "bf16"),
    }


def test_frontier_per_task_and_hardware() -> None:
    # the same configurations on two hardware; grouped by hardware too, each keeps its own frontier
    l4 = FIVE.with_columns(pl.lit("L4").alias("hardware"))
    h200 = FIVE.with_columns(pl.lit("H200").alias("hardware"), (pl.col("monthly_usd") * 10).alias("monthly_usd"))
    both = pl.concat([l4, h200])
    across = pareto_frontier(both)
    # across hardware every H200 point costs 10x its L4 twin: only the L4 frontier survives
    assert set(across.filter("on_frontier").get_column("hardware")) == {"L4"}
    assert across.get_column("on_frontier").sum() == 4
    split = pareto_frontier(both, by=("task", "hardware"))
    assert split.filter(pl.col("hardware") == "H200").get_column("on_frontier").sum() == 4
    assert split.select("hardware").to_series().to_list() == ["H200"] * 5 + ["L4"] * 5  # sorted by group


def test_nan_and_infinite_costs_are_excluded() -> None:
    frame = FIVE.with_columns(
        pl.when(pl.col("model") == "mid").then(float("nan")).otherwise(pl.col("monthly_usd")).alias("monthly_usd")
    )
    frame = frame.with_columns(
        pl.when(pl.col("quant") == "int4").then(float("inf")).otherwise(pl.col("monthly_usd")).alias("monthly_usd")
    )
    out = pareto_frontier(frame)
    assert sorted(out.get_column("model").to_list()) == ["big", "big", "small"]
    # without the cheap int4 point, small/bf16 is now the cheapest and still on the frontier
    assert out.get_column("on_frontier").to_list() == [True, True, True]


def test_negative_accuracy_after_chance_normalisation_is_handled() -> None:
    frame = _frame([("a", "bf16", "t", 0.20, 1.0), ("b", "bf16", "t", 0.10, 0.5), ("c", "bf16", "t", 0.5, 2.0)])
    norm = chance_normalise(frame)
    assert norm.get_column("value").to_list() == pytest.approx([-0.05 / 0.75, -0.15 / 0.75, 0.25 / 0.75])
    assert pareto_frontier(norm).get_column("on_frontier").to_list() == [True, True, True]


def test_chance_normalise_by_hand() -> None:
    frame = _frame(
        [
            ("a", "bf16", "t", 0.625, 1.0, 0.25),  # (0.625 - 0.25) / 0.75 = 0.5
            ("b", "bf16", "t", 0.9, 1.0, 0.5),  # (0.9 - 0.5) / 0.5 = 0.8
            ("c", "bf16", "t", 0.4, 1.0, None),  # generation: chance 0, unchanged
            ("d", "bf16", "t", 0.4, 1.0, 1.0),  # chance 1 cannot be normalised: null
        ]
    )
    out = chance_normalise(frame)
    assert out.get_column("value").to_list()[:3] == pytest.approx([0.5, 0.8, 0.4])
    assert out.get_column("value").to_list()[3] is None
    assert out.get_column("stderr").to_list()[:3] == pytest.approx([0.01 / 0.75, 0.01 / 0.5, 0.01])
    assert out.get_column("stderr").to_list()[3] is None
    assert out.get_column("chance").to_list() == frame.get_column("chance").to_list()  # chance kept as is
    # a NaN chance counts as 0 too; a frame without stderr is fine
    nan = chance_normalise(frame.head(1).drop("stderr").with_columns(pl.lit(float("nan")).alias("chance")))
    assert nan.get_column("value").to_list() == [0.625] and "stderr" not in nan.columns
    # the failed cell's null stays null, so the frontier drops it
    assert pareto_frontier(chance_normalise(FIVE)).height == 5
    with pytest.raises(ValueError, match="chance_normalise: missing column 'chance'"):
        chance_normalise(FIVE.drop("chance"))


def test_empty_frames() -> None:
    empty = FIVE.clear()
    out = pareto_frontier(empty)
    assert out.is_empty() and out.columns == [*FIVE.columns, "on_frontier"]
    rel = relative_to_best(empty)
    assert rel.is_empty() and {"relative_accuracy", "relative_cost"} <= set(rel.columns)
    only_failed = FIVE.filter(pl.col("model") == "tiny")
    assert pareto_frontier(only_failed).is_empty()
    assert relative_to_best(only_failed).is_empty()


@pytest.mark.parametrize(
    ("call", "where"),
    [
        (lambda f: pareto_frontier(f), "pareto_frontier"),
        (lambda f: relative_to_best(f), "relative_to_best"),
    ],
)
def test_missing_cost_column_is_one_clear_line(call, where) -> None:
    with pytest.raises(ValueError, match=f"{where}: missing column 'monthly_usd'") as info:
        call(FIVE.drop("monthly_usd"))
    assert "\n" not in str(info.value)
    assert "model, quant, task" in str(info.value)  # lists what the frame has


def test_missing_group_column_is_named() -> None:
    with pytest.raises(ValueError, match="pareto_frontier: missing column 'hardware'"):
        pareto_frontier(FIVE, by=("task", "hardware"))


def test_config_columns() -> None:
    assert config_columns(FIVE) == ["model", "quant"]
    full = FIVE.with_columns(pl.lit("aws").alias("provider"), pl.lit("L4").alias("hardware"))
    assert config_columns(full) == ["model", "quant", "hardware", "provider"]  # fixed order, not frame order
    assert config_columns(FIVE.with_columns(pl.lit("L4").alias("hardware"))) == ["model", "quant", "hardware"]
    assert config_columns(pl.DataFrame({"value": [0.5]})) == []


def test_select_metric_keeps_ok_rows_of_the_task_metric() -> None:
    evals = pl.DataFrame(
        {
            "model": ["a"] * 5,
            "quant": ["bf16"] * 5,
            "task": ["arc", "arc", "gsm8k", "gsm8k", "piqa"],
            "metric": ["acc", "acc_norm", "exact_match,strict-match", "exact_match,flexible-extract", None],
            "value": [0.5, 0.6, 0.3, 0.4, None],
            "status": ["ok", "ok", "ok", "ok", "failed"],
        }
    )
    out = select_metric(evals)
    assert out.select("task", "metric").rows() == [("arc", "acc"), ("gsm8k", "exact_match,strict-match")]
    assert select_metric(evals, "acc_norm", per_task={}).get_column("value").to_list() == [0.6]
    own = select_metric(evals, per_task={"gsm8k": "exact_match,flexible-extract"})
    assert own.get_column("value").to_list() == [0.5, 0.4]


def test_select_metric_status_and_nulls() -> None:
    evals = pl.DataFrame(
        {"task": ["arc", "arc", "arc"], "metric": ["acc", "acc", "acc"], "value": [0.5, None, 0.7]},
        schema_overrides={"value": pl.Float64},
    )
    # no status column: every row counts, the null value is dropped
    assert select_metric(evals).get_column("value").to_list() == [0.5, 0.7]
    failed = evals.with_columns(pl.Series("status", ["ok", "ok", "failed"]))
    assert select_metric(failed).get_column("value").to_list() == [0.5]
    with pytest.raises(ValueError, match="select_metric: missing column 'metric'"):
        select_metric(evals.drop("metric"))


def test_relative_to_best() -> None:
    out = relative_to_best(FIVE)
    assert out.height == 5 and "on_frontier" not in out.columns
    small = out.filter((pl.col("model") == "small") & (pl.col("quant") == "bf16")).row(0, named=True)
    assert small["relative_accuracy"] == pytest.approx(0.73 / 0.80)
    assert small["relative_cost"] == pytest.approx(20.0 / 1000.0)
    big = out.filter((pl.col("model") == "big") & (pl.col("quant") == "bf16")).row(0, named=True)
    assert (big["relative_accuracy"], big["relative_cost"]) == (1.0, 1.0)
    # cost can be named, and the columns of the frame stay
    per_query = relative_to_best(FIVE.with_columns((pl.col("monthly_usd") * 2).alias("usd")), cost="usd")
    assert per_query.columns[: len(FIVE.columns) + 1] == [*FIVE.columns, "usd"]
    assert per_query.get_column("relative_cost").to_list() == out.get_column("relative_cost").to_list()


def test_relative_to_best_ties_groups_and_pooling() -> None:
    frame = _frame(
        [
            ("a", "bf16", "t", 0.8, 400.0),  # best accuracy, tied with b
            ("b", "bf16", "t", 0.8, 200.0),  # the cheaper of the best: the reference cost
            ("c", "bf16", "t", 0.4, 50.0),
            ("a", "bf16", "u", 0.5, 100.0),  # u: a is the best
            ("c", "bf16", "u", 0.25, 10.0),
        ]
    )
    out = relative_to_best(frame)
    got = {(r["model"], r["task"]): (r["relative_accuracy"], r["relative_cost"]) for r in out.iter_rows(named=True)}
    assert got == {
        ("a", "t"): pytest.approx((1.0, 2.0)),
        ("b", "t"): pytest.approx((1.0, 1.0)),
        ("c", "t"): pytest.approx((0.5, 0.25)),
        ("a", "u"): pytest.approx((1.0, 1.0)),
        ("c", "u"): pytest.approx((0.5, 0.1)),
    }
    pooled = relative_to_best(frame, by=())
    assert "__group__" not in pooled.columns
    # pooled, the best is 0.8 at 200 USD
    assert pooled.get_column("relative_cost").to_list() == pytest.approx([2.0, 1.0, 0.25, 0.5, 0.05])
    assert pooled.get_column("relative_accuracy").to_list() == pytest.approx([1.0, 1.0, 0.5, 0.625, 0.3125])


# ---- properties over random frames -------------------------------------------------------------------

_COSTS = st.one_of(st.sampled_from([0.01, 0.1, 0.5, 1.0, 2.0]), st.floats(0.001, 10.0), st.none(), st.just(math.nan))
_ACCS = st.one_of(st.sampled_from([0.25, 0.5, 0.75, 0.9]), st.floats(-0.5, 1.0), st.none())
_POINTS = st.lists(st.tuples(st.sampled_from(["t1", "t2"]), _COSTS, _ACCS), min_size=0, max_size=25)


def _random_frame(points: list[tuple]) -> pl.DataFrame:
    return _frame([(f"m{i}", "bf16", task, acc, cost) for i, (task, cost, acc) in enumerate(points)])


def _valid(cost: float | None, acc: float | None) -> bool:
    return cost is not None and acc is not None and math.isfinite(cost) and math.isfinite(acc)


@settings(max_examples=200, deadline=None)
@given(_POINTS)
def test_frontier_property_no_frontier_point_dominated_every_other_dominated(points) -> None:
    out = pareto_frontier(_random_frame(points))
    assert out.height == sum(_valid(c, a) for _, c, a in points)
    rows = out.select("task", "monthly_usd", "value", "on_frontier").rows()
    for task, cost, acc, on in rows:
        group = [(c, a) for t, c, a, _ in rows if t == task]
        dominated = any(_dominates(p, (cost, acc)) for p in group)
        assert on == (not dominated)
    for task in ("t1", "t2"):
        costs = [c for t, c, _, _ in rows if t == task]
        assert costs == sorted(costs)
