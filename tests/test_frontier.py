"""Pareto frontier, aggregation over tasks, cheapest-reaching / within-reference and the recommendation."""

from __future__ import annotations

import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from explorer.analysis.frontier import (
    aggregate,
    chance_normalise,
    cheapest_reaching,
    cheapest_within_reference,
    format_recommendation,
    pareto_frontier,
    recommend,
    relative_to_best,
    select_metric,
)


def _frame(rows: list[tuple], extra: dict | None = None) -> pl.DataFrame:
    """rows: (model, quant, task, value, usd_per_query[, chance])."""
    data = {
        "model": [r[0] for r in rows],
        "quant": [r[1] for r in rows],
        "task": [r[2] for r in rows],
        "metric": ["acc"] * len(rows),
        "value": [r[3] for r in rows],
        "stderr": [0.01] * len(rows),
        "chance": [r[5] if len(r) > 5 else 0.25 for r in rows],
        "usd_per_query": [r[4] for r in rows],
        "cell_id": [f"c{i}" for i in range(len(rows))],
        "provenance": ["measured"] * len(rows),
    }
    data.update(extra or {})
    schema = {"value": pl.Float64, "usd_per_query": pl.Float64, "chance": pl.Float64}
    return pl.DataFrame(data, schema_overrides=schema)


# 5 configurations on one task, plus a failed cell without a cost
FIVE = _frame(
    [
        ("big", "bf16", "t", 0.80, 1.00),  # most accurate
        ("big", "int8", "t", 0.79, 0.50),
        ("mid", "bf16", "t", 0.75, 0.60),  # dominated by big/int8 (cheaper and more accurate)
        ("small", "bf16", "t", 0.73, 0.02),  # cheapest reaching 90% of 0.80 = 0.72
        ("small", "int4", "t", 0.50, 0.01),
        ("tiny", "bf16", "t", None, None),  # failed cell
    ]
)


def _dominates(p: tuple[float, float], q: tuple[float, float]) -> bool:
    """p = (cost, acc) dominates q."""
    return p[0] <= q[0] and p[1] >= q[1] and (p[0] < q[0] or p[1] > q[1])


def test_exact_frontier_of_five_configs() -> None:
    out = pareto_frontier(FIVE)
    assert out.height == 5  # the failed cell is excluded
    assert out.get_column("usd_per_query").to_list() == [0.01, 0.02, 0.50, 0.60, 1.00]  # sorted by cost
    frontier = out.filter("on_frontier").select("model", "quant").rows()
    assert frontier == [("small", "int4"), ("small", "bf16"), ("big", "int8"), ("big", "bf16")]
    assert set(out.columns) == {*FIVE.columns, "on_frontier"}  # every other column kept


def test_exact_cheapest_at_90_percent_and_savings() -> None:
    out = cheapest_reaching(FIVE, fraction_of_best=0.9)
    assert out.height == 1
    row = out.row(0, named=True)
    assert (row["model"], row["quant"]) == ("small", "bf16")
    assert (row["best_model"], row["best_quant"]) == ("big", "bf16")
    assert row["threshold"] == pytest.approx(0.72)
    assert row["accuracy_ratio"] == pytest.approx(0.73 / 0.80)
    assert row["cost_ratio"] == pytest.approx(0.02)
    assert row["savings_x"] == pytest.approx(50.0)
    # a stricter target moves to big/int8, 2x cheaper than big/bf16
    strict = cheapest_reaching(FIVE, fraction_of_best=0.95).row(0, named=True)
    assert (strict["model"], strict["quant"], strict["savings_x"]) == ("big", "int8", pytest.approx(2.0))
    # exactly at the threshold counts as reaching it: 0.5 x 0.80 = 0.40 < 0.50, and 0.625 x 0.80 = 0.50
    edge = cheapest_reaching(FIVE, fraction_of_best=0.625).row(0, named=True)
    assert (edge["model"], edge["quant"]) == ("small", "int4")


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
    # pooled, u's points only add the twin of t's cheapest point (identical cost and accuracy: a tie)
    assert set(pooled.filter("on_frontier").select("task", "model", "quant").rows()) == {
        ("t", "small", "int4"),
        ("u", "small", "int4"),
        ("t", "small", "bf16"),
        ("t", "big", "int8"),
        ("t", "big", "bf16"),
    }


def test_nan_and_infinite_costs_are_excluded() -> None:
    frame = FIVE.with_columns(
        pl.when(pl.col("model") == "mid").then(float("nan")).otherwise(pl.col("usd_per_query")).alias("usd_per_query")
    )
    frame = frame.with_columns(
        pl.when(pl.col("quant") == "int4").then(float("inf")).otherwise(pl.col("usd_per_query")).alias("usd_per_query")
    )
    out = pareto_frontier(frame)
    assert sorted(out.get_column("model").to_list()) == ["big", "big", "small"]


def test_negative_accuracy_after_chance_normalisation_is_handled() -> None:
    frame = _frame([("a", "bf16", "t", 0.20, 1.0), ("b", "bf16", "t", 0.10, 0.5), ("c", "bf16", "t", 0.5, 2.0)])
    norm = chance_normalise(frame)
    assert norm.get_column("value").to_list() == pytest.approx([-0.05 / 0.75, -0.15 / 0.75, 0.25 / 0.75])
    assert pareto_frontier(norm).get_column("on_frontier").to_list() == [True, True, True]


def test_empty_frames() -> None:
    empty = FIVE.clear()
    out = pareto_frontier(empty)
    assert out.is_empty() and "on_frontier" in out.columns
    assert cheapest_reaching(empty).is_empty()
    assert cheapest_within_reference(empty).is_empty()
    assert aggregate(empty).is_empty()
    assert relative_to_best(empty).is_empty()
    with pytest.raises(ValueError, match="no configuration"):
        recommend(empty)
    only_failed = FIVE.filter(pl.col("model") == "tiny")
    assert pareto_frontier(only_failed).is_empty()


@pytest.mark.parametrize(
    "call",
    [
        lambda f: pareto_frontier(f),
        lambda f: cheapest_reaching(f),
        lambda f: aggregate(f),
        lambda f: cheapest_within_reference(f),
        lambda f: recommend(f),
    ],
)
def test_missing_cost_column_is_one_clear_line(call) -> None:
    with pytest.raises(ValueError, match="missing column 'usd_per_query'") as info:
        call(FIVE.drop("usd_per_query"))
    assert "\n" not in str(info.value)


def test_bad_fractions_are_rejected() -> None:
    for bad in (0.0, 1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match="fraction_of_best"):
            cheapest_reaching(FIVE, fraction_of_best=bad)
    with pytest.raises(ValueError, match="tolerance"):
        cheapest_within_reference(FIVE, tolerance=1.0)


def test_aggregate_drops_configs_missing_a_task_and_means_by_hand() -> None:
    frame = _frame(
        [
            ("x", "bf16", "t1", 0.625, 0.10, 0.25),
            ("x", "bf16", "t2", 0.900, 0.30, 0.50),
            ("y", "bf16", "t1", 0.700, 0.05, 0.25),  # no t2: dropped
            ("z", "int8", "t1", 0.400, 0.02, 0.25),
            ("z", "int8", "t2", 0.500, 0.04, 0.50),
            ("z", "int8", "t3", 0.300, None, 0.00),  # failed: t3 has no valid row anywhere, so it is not required
        ],
        extra={"peak_mem_bytes": [10, 30, 5, 1, 2, 3], "cost_provenance": ["measured", "projected"] * 3},
    )
    out = aggregate(frame)
    assert out.get_column("model").to_list() == ["z", "x"]  # sorted by cost
    x = out.filter(pl.col("model") == "x").row(0, named=True)
    assert x["task"] == "__mean__" and x["n_tasks"] == 2
    assert x["value"] == pytest.approx((0.625 + 0.9) / 2)
    assert x["usd_per_query"] == pytest.approx(0.20)
    assert x["stderr"] == pytest.approx(math.sqrt(2 * 0.01**2) / 2)
    assert x["peak_mem_bytes"] == 30  # max over tasks
    assert x["cost_provenance"] == "measured+projected"
    assert x["cell_id"] is None  # differs per task: not a property of the configuration
    norm = aggregate(frame, chance_normalised=True).filter(pl.col("model") == "x").row(0, named=True)
    # t1: (0.625 - 0.25) / 0.75 = 0.5; t2: (0.9 - 0.5) / 0.5 = 0.8
    assert norm["value"] == pytest.approx(0.65)
    assert "chance-normalised" in norm["metric"]
    # explicitly requiring t3 leaves nobody
    assert aggregate(frame, tasks=["t1", "t2", "t3"]).is_empty()
    # the aggregate is a frame pareto_frontier understands
    assert pareto_frontier(out).get_column("on_frontier").to_list() == [True, True]


def test_aggregate_refuses_several_rows_per_task() -> None:
    frame = pl.concat([FIVE, FIVE.with_columns(pl.lit("acc_norm").alias("metric"))])
    with pytest.raises(ValueError, match="select_metric"):
        aggregate(frame)


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


def test_cheapest_within_reference_mlperf_99() -> None:
    frame = _frame(
        [
            ("big", "bf16", "t", 0.800, 1.00),
            ("big", "int8", "t", 0.795, 0.50),  # >= 0.792: chosen
            ("big", "int4", "t", 0.700, 0.25),
            ("small", "bf16", "t", 0.600, 0.10),
            ("small", "int8", "t", 0.597, 0.06),  # >= 0.594: chosen
            ("small", "int4", "t", 0.590, 0.03),  # < 0.594
            ("noref", "int8", "t", 0.900, 0.01),  # no bf16 reference: left out
        ]
    )
    out = cheapest_within_reference(frame, tolerance=0.01)
    assert out.select("model", "quant").rows() == [("big", "int8"), ("small", "int8")]
    assert out.get_column("savings_x").to_list() == pytest.approx([2.0, 0.10 / 0.06])
    assert out.get_column("threshold").to_list() == pytest.approx([0.792, 0.594])
    loose = cheapest_within_reference(frame, tolerance=0.02)
    assert loose.select("model", "quant").rows() == [("big", "int8"), ("small", "int4")]


def test_relative_to_best() -> None:
    out = relative_to_best(FIVE)
    small = out.filter((pl.col("model") == "small") & (pl.col("quant") == "bf16")).row(0, named=True)
    assert small["relative_accuracy"] == pytest.approx(0.73 / 0.80)
    assert small["relative_cost"] == pytest.approx(0.02)


def test_recommend_aggregates_several_tasks() -> None:
    two = pl.concat([FIVE, FIVE.with_columns(pl.lit("u").alias("task"))]).with_columns(
        (pl.col("usd_per_query") * 1000).alias("usd_per_1k_queries"),
        (pl.col("usd_per_query") * 1e5).alias("monthly_usd"),
        pl.lit("projected").alias("cost_provenance"),
    )
    rec = recommend(two, target_fraction=0.9)
    assert rec["task"] == "__mean__" and rec["n_configs"] == 5
    assert rec["chosen"] == {"model": "small", "quant": "bf16"}
    assert rec["best"] == {"model": "big", "quant": "bf16"}
    assert rec["usd_per_1k_queries"] == pytest.approx(20.0)
    assert rec["monthly_usd"] == pytest.approx(2000.0)
    assert rec["best_monthly_usd"] == pytest.approx(1e5)
    assert rec["savings_x"] == pytest.approx(50.0)
    assert rec["cost_provenance"] == "projected"
    text = format_recommendation(rec)
    assert "small / bf16" in text and "50x cheaper" in text
    one = recommend(FIVE, target_fraction=0.95, task="t")
    assert one["chosen"] == {"model": "big", "quant": "int8"} and one["monthly_usd"] is None
    assert one["usd_per_1k_queries"] == pytest.approx(500.0)  # from usd_per_query x 1000


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
    rows = out.select("task", "usd_per_query", "value", "on_frontier").rows()
    for task, cost, acc, on in rows:
        group = [(c, a) for t, c, a, _ in rows if t == task]
        dominated = any(_dominates(p, (cost, acc)) for p in group)
        assert on == (not dominated)
    for task in ("t1", "t2"):
        costs = [c for t, c, _, _ in rows if t == task]
        assert costs == sorted(costs)


@settings(max_examples=200, deadline=None)
@given(_POINTS, st.floats(0.05, 1.0))
def test_cheapest_reaching_property_matches_brute_force(points, fraction) -> None:
    frame = pareto_frontier(_random_frame(points))
    out = cheapest_reaching(frame, fraction_of_best=fraction)
    for task in ("t1", "t2"):
        group = frame.filter(pl.col("task") == task)
        chosen = out.filter(pl.col("task") == task)
        if group.is_empty():
            assert chosen.is_empty()
            continue
        best = group.get_column("value").max()
        reaching = group.filter(pl.col("value") >= fraction * best - 1e-12 * abs(fraction * best))
        if reaching.is_empty():  # only when the best accuracy is negative (chance-normalised below chance)
            assert best < 0 and chosen.is_empty()
            continue
        row = chosen.row(0, named=True)
        assert row["usd_per_query"] == reaching.get_column("usd_per_query").min()
        assert row["value"] >= row["threshold"] - 1e-12 * abs(row["threshold"])
        assert row["on_frontier"]  # the cheapest point reaching a target is never dominated
        assert row["best_value"] == best
