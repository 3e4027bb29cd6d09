"""Charts: Vega-Lite specs of the frontier view (hardware colours, measured / projected fill, cost ranges in human
units, stderr bars, frontier step line, noise bands, the recommended / baseline rings, "pick"), the relative view,
the bill and efficiency bars, the shared helpers and the PNG / SVG export."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import polars as pl
import pytest

from explorer.analysis.frontier import pareto_frontier
from explorer.charts.common import TITLES, chartable, positive, save_chart, tooltip
from explorer.charts.frontier import (
    HARDWARE_COLOURS,
    MONEY_LABELS,
    PICK,
    chart_data,
    frontier_chart,
    relative_chart,
    units,
)
from explorer.charts.views import bill_chart, efficiency_chart

ROWS = [
    # cell_id, model, quant, hardware, provider, value, monthly_usd, monthly_usd_optimistic, cost_provenance
    ("c0", "big", "bf16", "H200", "runpod", 0.80, 2900.0, None, "measured"),  # dominated by its L4 projection
    ("c1", "big", "int8", "H200", "runpod", 0.79, 1500.0, None, "measured"),  # frontier
    ("c2", "small", "bf16", "H200", "runpod", 0.73, 800.0, None, "measured"),  # same accuracy dearer than on L4
    ("c0", "big", "bf16", "L4", "aws", 0.80, 1800.0, 1200.0, "projected"),  # frontier
    ("c2", "small", "bf16", "L4", "aws", 0.73, 300.0, 200.0, "projected"),  # frontier
    ("c3", "small", "int4", "L4", "aws", 0.50, 250.0, None, "measured"),  # frontier (cheapest)
    ("c4", "mid", "bf16", "L4", "aws", 0.75, 2000.0, 1500.0, "projected"),  # dominated
]
FRONTIER = {("small", "int4", "L4"), ("small", "bf16", "L4"), ("big", "int8", "H200"), ("big", "bf16", "L4")}
COLUMNS = ("cell_id", "model", "quant", "hardware", "provider", "value", "monthly_usd", "monthly_usd_optimistic")


def _frame(task: str = "t") -> pl.DataFrame:
    n = len(ROWS)
    data = {name: [r[i] for r in ROWS] for i, name in enumerate(COLUMNS)}
    return pl.DataFrame(
        {
            **data,
            "cost_provenance": [r[8] for r in ROWS],
            "task": [task] * n,
            "stderr": [0.02] * n,
            "replicas": [1, 2, 1, 3, 1, 1, 4],
            "utilisation": [0.5] * n,
            "efficiency": [0.3, 0.25, 0.2, 0.3, 0.2, 0.05, 0.1],
            "chance": [0.25] * n,
        },
        schema_overrides={"monthly_usd_optimistic": pl.Float64},
    )


# the Vega expressions the frontier chart's layers use, as Python (an unknown one fails the test that meets it)
FILTERS: dict[str, Callable[[dict], bool]] = {
    "datum.noise_group_size > 1": lambda r: (r["noise_group_size"] or 0) > 1,
    "isValid(datum.role)": lambda r: r["role"] is not None,
    "datum.accuracy_high > datum.accuracy_low": lambda r: r["accuracy_high"] > r["accuracy_low"],
}
CALCULATES: dict[str, Callable[[dict], str]] = {
    "datum.role + ': ' + datum.config": lambda r: f"{r['role']}: {r['config']}",
    "'within noise (1.96 stderr)'": lambda r: "within noise (1.96 stderr)",
    "'Pareto frontier'": lambda r: "Pareto frontier",
}
RECOMMENDED = {"model": "small", "quant": "int4", "hardware": "L4", "provider": "aws", "task": "t", "value": 0.5}
BASELINE = {"model": "big", "quant": "bf16", "hardware": "H200", "provider": "runpod", "task": "t", "value": 0.8}
ROLES = {"recommended": RECOMMENDED, "baseline": BASELINE}


def _layers(spec: dict) -> list[dict]:
    return spec["spec"]["layer"] if "spec" in spec else spec["layer"]


def _data(spec: dict) -> list[dict]:
    (values,) = spec["datasets"].values()
    return values


def _layer(spec: dict, mark: str, test: Callable[[dict], bool] = lambda layer: True) -> dict:
    """The one layer of this mark type that passes `test`."""
    (layer,) = [layer for layer in _layers(spec) if layer["mark"]["type"] == mark and test(layer)]
    return layer


def _points(spec: dict) -> dict:
    (layer,) = [layer for layer in _layers(spec) if layer.get("name") == "points"]
    assert layer["mark"]["type"] == "point" and layer["mark"]["filled"] is True
    return layer


def _step(spec: dict) -> dict:
    return _layer(spec, "line", lambda layer: layer["mark"].get("interpolate") == "step-after")


def _band(spec: dict) -> dict:
    return _layer(spec, "line", lambda layer: "interpolate" not in layer["mark"])


def _bars(spec: dict) -> dict:
    """The +- stderr bars (vertical rules)."""
    return _layer(spec, "rule", lambda layer: "y2" in layer["encoding"])


def _ranges(spec: dict) -> list[dict]:
    """The optimistic-to-conservative cost rules (horizontal): none or one."""
    return [layer for layer in _layers(spec) if layer["mark"]["type"] == "rule" and "x2" in layer["encoding"]]


def _ring(spec: dict) -> dict:
    return _layer(spec, "point", lambda layer: layer["mark"].get("filled") is False)


def _labels(spec: dict) -> list[dict]:
    return [layer for layer in _layers(spec) if layer["mark"]["type"] == "text"]


def _kept(rows: list[dict], layer: dict) -> list[dict]:
    """The rows a layer draws: its filters applied, its calculated fields added."""
    for step in layer.get("transform", []):
        if "calculate" in step:
            rows = [{**r, step["as"]: CALCULATES[step["calculate"]](r)} for r in rows]
        elif isinstance(step["filter"], str):
            rows = [r for r in rows if FILTERS[step["filter"]](r)]
        else:
            flt = step["filter"]
            rows = [r for r in rows if r[flt["field"]] == flt["equal"]]
    return rows


def _pick(spec: dict) -> dict:
    (param,) = [p for p in spec["params"] if p["name"] == PICK]
    return param


def _costs(**columns: list) -> pl.DataFrame:
    """Two deployments of one task with the given cost columns (a: projected, b: measured)."""
    base = {"model": ["a", "b"], "quant": ["int4", "bf16"], "hardware": ["L4", "H200"], "task": ["t", "t"],
            "value": [0.6, 0.7], "stderr": [0.01, 0.01], "cost_provenance": ["projected", "measured"]}  # fmt: skip
    return pl.DataFrame({**base, **columns}, schema_overrides={k: pl.Float64 for k in columns})


# ---------------------------------------------------------------- frontier chart

X_MONEY = {
    "axis": {"labelExpr": MONEY_LABELS},
    "field": "monthly_usd",
    "scale": {"nice": False, "padding": 16, "type": "log"},
    "title": "USD per month (fleet)",
    "type": "quantitative",
}


def test_frontier_chart_layers_in_drawing_order() -> None:
    spec = frontier_chart(_frame(), roles=ROLES).to_dict()
    layers = _layers(spec)
    # noise band, step line, stderr bars, cost ranges under the points; the rings, names and fill legend over them
    assert [layer["mark"]["type"] for layer in layers] == ["line", "line", "rule", "rule", "point", "point", "text",
                                                           "text", "text", "text", "point"]  # fmt: skip
    assert [layers.index(f(spec)) for f in (_band, _step, _bars, _points, _ring)] == [0, 1, 2, 4, 5]
    assert layers.index(_ranges(spec)[0]) == 3
    assert [layer.get("name") for layer in layers].count("points") == 1


def test_frontier_chart_encodings() -> None:
    spec = frontier_chart(_frame()).to_dict()
    enc = _points(spec)["encoding"]
    assert enc["x"] == X_MONEY
    assert enc["y"] == {
        "axis": {"format": "~%"},
        "field": "value",
        "scale": {"nice": False, "padding": 16, "zero": False},
        "title": "accuracy",
        "type": "quantitative",
    }
    assert enc["color"] == {"field": "hardware", "scale": {"range": HARDWARE_COLOURS}, "title": "hardware",
                            "type": "nominal"}  # fmt: skip
    assert len(HARDWARE_COLOURS) == len(set(HARDWARE_COLOURS)) == 12
    assert enc["stroke"] == {"field": "hardware", "legend": None, "type": "nominal"}
    # shape: where the accuracy comes from (measured here, reported for a base or an instruct model)
    assert enc["shape"]["field"] == "accuracy_mark" and enc["shape"]["type"] == "nominal"
    assert enc["shape"]["scale"] == {"domain": ["measured", "reported (base)", "reported (instruct)",
                                                "cascade (held-out)", "oracle router (bound)"],
                                     "range": ["circle", "diamond", "triangle-up", "square", "cross"]}  # fmt: skip
    assert enc["opacity"] == {"condition": {"param": "pick", "value": 1.0}, "value": 0.35}
    # every layer on the same x and y fields (the bars: y from accuracy_low)
    positioned = [layer for layer in _layers(spec) if "x" in layer["encoding"]]  # all but the fill legend's
    assert len(positioned) == len(_layers(spec)) - 1
    assert {layer["encoding"]["x"]["field"] for layer in positioned if layer not in _ranges(spec)} == {"monthly_usd"}
    assert spec["title"] == {"text": "Accuracy vs USD per month (fleet)", "anchor": "start", "subtitle": []}
    assert (spec["width"], spec["height"]) == (560, 360)
    assert "facet" not in spec  # one task


def test_frontier_chart_title_and_subtitle() -> None:
    lines = ["For 10 queries/day ...", "task: t | traffic: 10 queries/day"]
    spec = frontier_chart(_frame(), title="mine", subtitle=lines).to_dict()
    assert spec["title"] == {"text": "mine", "anchor": "start", "subtitle": lines}
    faceted = frontier_chart(pl.concat([_frame("t"), _frame("u")]), subtitle=lines[:1]).to_dict()
    assert faceted["title"]["subtitle"] == lines[:1]


def test_frontier_chart_fill_opacity_filled_measured_hollow_projected() -> None:
    spec = frontier_chart(_frame()).to_dict()
    fill = _points(spec)["encoding"]["fillOpacity"]
    assert fill == {
        "field": "cost_provenance",
        "scale": {"domain": ["measured", "projected"], "range": [0.95, 0.08]},
        "title": "cost (filled: measured)",
        "type": "nominal",
        "legend": None,  # drawn by an invisible layer's fill: Vega-Lite draws no fillOpacity legend
    }
    (legend,) = [la for la in _layers(spec) if "fill" in la["encoding"]]
    assert legend["encoding"]["fill"]["title"] == fill["title"] and legend["mark"]["opacity"] == 0
    assert legend["encoding"]["fill"]["scale"] == {"domain": ["measured", "projected"], "range": ["#555", "#fff"]}
    assert legend["transform"][-1] == {"aggregate": [{"op": "count", "as": "n"}], "groupby": ["cost_provenance"]}
    opacity = dict(zip(fill["scale"]["domain"], fill["scale"]["range"], strict=True))
    by_point = {(r["model"], r["quant"], r["hardware"]): opacity[r["cost_provenance"]] for r in _data(spec)}
    assert by_point[("small", "int4", "L4")] == 0.95  # measured on L4: filled
    assert by_point[("big", "bf16", "L4")] == 0.08  # projected onto L4: hollow
    assert by_point[("big", "bf16", "H200")] == 0.95
    # without a provenance column every cost counts as measured (filled)
    plain = frontier_chart(_frame().drop("cost_provenance", "monthly_usd_optimistic")).to_dict()
    assert {r["cost_provenance"] for r in _data(plain)} == {"measured"}


def test_frontier_chart_data_rows_and_config_field() -> None:
    spec = frontier_chart(_frame()).to_dict()
    rows = _data(spec)
    assert len(rows) == len(ROWS)
    assert [r["monthly_usd"] for r in rows] == [250.0, 300.0, 800.0, 1500.0, 1800.0, 2000.0, 2900.0]
    assert [r["config"] for r in rows] == [
        "small int4",
        "small bf16",
        "small bf16",
        "big int8",
        "big bf16",
        "mid bf16",
        "big bf16",
    ]
    assert all(r["config"] == f"{r['model']} {r['quant']}" for r in rows)
    c4 = next(r for r in rows if r["cell_id"] == "c4")
    assert (c4["hardware"], c4["value"], c4["monthly_usd_optimistic"], c4["on_frontier"]) == ("L4", 0.75, 1500.0, False)


def test_frontier_chart_short_tooltip() -> None:
    spec = frontier_chart(_frame()).to_dict()
    assert _points(spec)["encoding"]["tooltip"] == [
        {"field": "config", "title": "deployment", "type": "nominal"},
        {"field": "hardware", "title": "hardware", "type": "nominal"},
        {"field": "accuracy_text", "title": "accuracy ± stderr", "type": "nominal"},
        {"field": "monthly_usd", "format": "$,.2f", "title": "USD per month (fleet)", "type": "quantitative"},
        {"field": "provenance", "title": "provenance", "type": "nominal"},
    ]  # not efficiency, chance, cell_id, replicas...: the detail view has those
    texts = {(r["cell_id"], r["hardware"]): (r["accuracy_text"], r["provenance"]) for r in _data(spec)}
    assert texts[("c2", "L4")] == ("73.0% ± 2.0%", "accuracy measured, cost projected")
    assert texts[("c3", "L4")] == ("50.0% ± 2.0%", "accuracy measured, cost measured")
    assert texts[("c1", "H200")] == ("79.0% ± 2.0%", "accuracy measured, cost measured")
    # a null stderr: the accuracy alone; no stderr column: the same; reported accuracy says so
    frame = _frame().with_columns(
        pl.when(pl.col("cell_id") == "c3").then(None).otherwise(pl.col("stderr")).alias("stderr"),
        pl.when(pl.col("cell_id") == "c3").then(pl.lit("reported")).otherwise(pl.lit("measured"))
        .alias("accuracy_provenance"),
        pl.lit("instruct").alias("model_kind"),
    )  # fmt: skip
    c3 = next(r for r in _data(frontier_chart(frame).to_dict()) if r["cell_id"] == "c3")
    assert (c3["accuracy_text"], c3["provenance"]) == ("50.0%", "accuracy reported, cost measured")
    assert c3["accuracy_mark"] == "reported (instruct)"
    bare = _data(frontier_chart(_frame().drop("stderr")).to_dict())
    assert [r["accuracy_text"] for r in bare][:3] == ["50.0%", "73.0%", "73.0%"]


def test_frontier_chart_stderr_bars_by_hand() -> None:
    se = {"c0H200": 0.01, "c1H200": 0.02, "c2H200": 0.03, "c0L4": None, "c2L4": 0.05, "c3L4": 0.0, "c4L4": 0.02}
    key = pl.concat_str("cell_id", "hardware")
    frame = _frame().with_columns(key.replace_strict(se, return_dtype=pl.Float64).alias("stderr"))
    spec = frontier_chart(frame).to_dict()
    got = {(r["cell_id"], r["hardware"]): (r["accuracy_low"], r["accuracy_high"]) for r in _data(spec)}
    assert got == {
        ("c0", "H200"): pytest.approx((0.79, 0.81)),
        ("c1", "H200"): pytest.approx((0.77, 0.81)),
        ("c2", "H200"): pytest.approx((0.70, 0.76)),
        ("c0", "L4"): pytest.approx((0.80, 0.80)),  # no stderr: no bar
        ("c2", "L4"): pytest.approx((0.68, 0.78)),
        ("c3", "L4"): pytest.approx((0.50, 0.50)),
        ("c4", "L4"): pytest.approx((0.73, 0.77)),
    }
    bars = _bars(spec)
    assert bars["encoding"]["y"] == {"field": "accuracy_low", "title": "accuracy", "type": "quantitative"}
    assert bars["encoding"]["y2"] == {"field": "accuracy_high"}
    assert bars["encoding"]["x"] == X_MONEY and bars["encoding"]["color"]["field"] == "hardware"
    drawn = sorted((r["cell_id"], r["hardware"]) for r in _kept(_data(spec), bars))
    assert drawn == [("c0", "H200"), ("c1", "H200"), ("c2", "H200"), ("c2", "L4"), ("c4", "L4")]
    texts = {(r["cell_id"], r["hardware"]): r["accuracy_text"] for r in _data(spec)}
    assert (texts[("c2", "L4")], texts[("c0", "L4")], texts[("c3", "L4")]) == ("73.0% ± 5.0%", "80.0%", "50.0% ± 0.0%")


def test_frontier_chart_range_rule_from_optimistic_to_conservative_cost() -> None:
    spec = frontier_chart(_frame()).to_dict()
    (rule,) = _ranges(spec)
    enc = rule["encoding"]
    assert enc["x"]["field"] == "monthly_usd_optimistic"
    assert enc["x"]["scale"] == {"nice": False, "padding": 16, "type": "log"}
    assert enc["x2"] == {"field": "monthly_usd"}
    assert enc["y"]["field"] == "value"
    assert enc["color"]["field"] == "hardware"
    assert rule["transform"] == [{"filter": {"field": "cost_provenance", "equal": "projected"}}]
    ranges = {(r["cell_id"], r["monthly_usd_optimistic"], r["monthly_usd"]) for r in _kept(_data(spec), rule)}
    assert ranges == {("c2", 200.0, 300.0), ("c0", 1200.0, 1800.0), ("c4", 1500.0, 2000.0)}
    # no optimistic column: no range layer (the stderr bars stay)
    bare = frontier_chart(_frame().drop("monthly_usd_optimistic")).to_dict()
    assert _ranges(bare) == [] and _bars(bare)["encoding"]["y2"] == {"field": "accuracy_high"}


def test_units_of_each_cost_column() -> None:
    assert units("monthly_usd") == ("monthly_usd", 1.0, "USD per month (fleet)", "$,.2f")
    assert units("effective_usd_per_query") == (
        "usd_per_million_queries", 1e6, "USD per 1M queries (bill / queries)", "$,.2f")  # fmt: skip
    assert units("usd_per_correct") == ("usd_per_thousand_correct", 1e3, "USD per 1,000 correct answers", "$,.2f")
    assert units("latency_s") == ("latency_ms", 1e3, "latency per query (ms)", ",.1f")
    # unknown: drawn as it is, titled from TITLES where listed, else by its name
    assert units("usd_per_query") == ("usd_per_query", 1.0, "usd_per_query", ".4g")
    assert units("service_s_per_query") == ("service_s_per_query", 1.0, "service s per query", ".4g")


def test_frontier_chart_money_per_query_drawn_per_million_queries() -> None:
    frame = _costs(effective_usd_per_query=[2e-6, 5e-5], effective_usd_per_query_optimistic=[1e-6, None])
    spec = frontier_chart(frame, cost="effective_usd_per_query").to_dict()
    rows = _data(spec)
    assert [r["usd_per_million_queries"] for r in rows] == pytest.approx([2.0, 50.0])
    assert rows[0]["usd_per_million_queries_optimistic"] == pytest.approx(1.0)
    assert rows[1]["usd_per_million_queries_optimistic"] is None
    assert [r["effective_usd_per_query"] for r in rows] == [2e-6, 5e-5]  # the raw figure rides along
    x = _points(spec)["encoding"]["x"]
    assert x == {**X_MONEY, "field": "usd_per_million_queries", "title": "USD per 1M queries (bill / queries)"}
    assert _step(spec)["encoding"]["order"] == {"field": "usd_per_million_queries", "type": "quantitative"}
    (rule,) = _ranges(spec)
    assert (rule["encoding"]["x"]["field"], rule["encoding"]["x2"]["field"]) == (
        "usd_per_million_queries_optimistic", "usd_per_million_queries")  # fmt: skip
    cost_tip = _points(spec)["encoding"]["tooltip"][3]
    assert cost_tip == {"field": "usd_per_million_queries", "format": "$,.2f",
                        "title": "USD per 1M queries (bill / queries)", "type": "quantitative"}  # fmt: skip
    assert spec["title"]["text"] == "Accuracy vs USD per 1M queries (bill / queries)"


def test_frontier_chart_latency_drawn_in_ms() -> None:
    spec = frontier_chart(_costs(latency_s=[0.25, 1.5]), cost="latency_s").to_dict()
    assert [r["latency_ms"] for r in _data(spec)] == pytest.approx([250.0, 1500.0])
    x = _points(spec)["encoding"]["x"]
    assert (x["field"], x["title"], x["axis"]) == ("latency_ms", "latency per query (ms)", {"format": ",.4~r"})
    assert _points(spec)["encoding"]["tooltip"][3]["format"] == ",.1f"
    assert _ranges(spec) == []  # no latency_s_optimistic


def test_frontier_chart_other_cost_column_stays_as_it_is() -> None:
    frame = _frame().with_columns(
        (pl.col("monthly_usd") / 1e5).alias("usd_per_query"),
        (pl.col("monthly_usd_optimistic") / 1e5).alias("usd_per_query_optimistic"),
    )
    spec = frontier_chart(frame, cost="usd_per_query", title="per query").to_dict()
    assert spec["title"]["text"] == "per query"
    x = _points(spec)["encoding"]["x"]
    assert (x["field"], x["title"], x["axis"]) == ("usd_per_query", "usd_per_query", {})  # no unit, no $ labels
    assert [r["usd_per_query"] for r in _data(spec)] == pytest.approx([0.0025, 0.003, 0.008, 0.015, 0.018, 0.02, 0.029])
    assert _points(spec)["encoding"]["tooltip"][3]["format"] == ".4g"
    (rule,) = _ranges(spec)
    assert (rule["encoding"]["x"]["field"], rule["encoding"]["x2"]["field"]) == (
        "usd_per_query_optimistic", "usd_per_query")  # fmt: skip
    step = _step(spec)
    assert step["encoding"]["x"]["field"] == "usd_per_query" and step["encoding"]["order"]["field"] == "usd_per_query"
    # only monthly_usd_optimistic there: no range for a per-query cost
    assert _ranges(frontier_chart(frame.drop("usd_per_query_optimistic"), cost="usd_per_query").to_dict()) == []
    with pytest.raises(ValueError, match="frontier_chart: missing column 'usd_per_query'"):
        frontier_chart(_frame(), cost="usd_per_query")


def test_frontier_step_line_keeps_exactly_the_frontier_rows() -> None:
    spec = frontier_chart(_frame()).to_dict()
    line = _step(spec)
    assert line["encoding"]["x"] == X_MONEY
    assert line["encoding"]["order"] == {"field": "monthly_usd", "type": "quantitative"}
    assert line["encoding"]["detail"] == {"field": "task", "type": "nominal"}  # one line per task
    assert line["transform"] == [{"filter": {"field": "on_frontier", "equal": True}},
                                 {"calculate": "'Pareto frontier'", "as": "guide"}]  # fmt: skip
    assert line["encoding"]["strokeWidth"]["scale"] == {"domain": ["Pareto frontier", "within noise (1.96 stderr)"],
                                                        "range": [1.5, 12]}  # fmt: skip
    kept = _kept(_data(spec), line)
    # the frontier across hardware, by hand: 250 (0.50), 300 (0.73), 1500 (0.79), 1800 (0.80)
    assert [(r["model"], r["quant"], r["hardware"]) for r in kept] == [
        ("small", "int4", "L4"),
        ("small", "bf16", "L4"),
        ("big", "int8", "H200"),
        ("big", "bf16", "L4"),
    ]
    assert {(r["model"], r["quant"], r["hardware"]) for r in kept} == FRONTIER
    assert [r["monthly_usd"] for r in kept] == [250.0, 300.0, 1500.0, 1800.0]


def _noisy(task: str = "t", stderr: list[float] | None = None) -> pl.DataFrame:
    """Five frontier points and one dominated; by hand (1.96 x sqrt(se1^2 + se2^2) against the group's first):
    a-b 0.04 <= 0.0554 (group 0); c-a 0.09 > 0.0554 (group 1); d-a 0.12 > 0.0438, d-c 0.03 <= 0.0438 (group 1);
    e: 0.30 from a, 0.21 from c (group 2, alone); f is dominated (no group)."""
    return pl.DataFrame({
        "model": list("abcdef"), "quant": ["bf16"] * 6, "task": [task] * 6, "hardware": ["L4"] * 6,
        "value": [0.60, 0.64, 0.69, 0.72, 0.90, 0.65], "stderr": stderr or [0.02, 0.02, 0.02, 0.01, 0.005, 0.02],
        "monthly_usd": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
    })  # fmt: skip


def test_frontier_chart_noise_band_joins_only_groups_of_several() -> None:
    spec = frontier_chart(_noisy()).to_dict()
    groups = {r["model"]: (r["noise_group"], r["noise_group_size"]) for r in _data(spec)}
    assert groups == {"a": ("t/0", 2), "b": ("t/0", 2), "c": ("t/1", 2), "d": ("t/1", 2), "e": ("t/2", 1),
                      "f": (None, None)}  # fmt: skip
    band = _band(spec)
    assert [r["model"] for r in _kept(_data(spec), band)] == ["a", "b", "c", "d"]  # e alone: no band
    assert band["encoding"]["detail"] == {"field": "noise_group", "type": "nominal"}
    assert band["encoding"]["order"] == {"field": "monthly_usd", "type": "quantitative"}
    assert {r["guide"] for r in _kept(_data(spec), band)} == {"within noise (1.96 stderr)"}
    # per task: another task's points (no stderr: nothing within noise) add no band, and groups do not mix
    two = frontier_chart(pl.concat([_noisy("t"), _noisy("u", [0.0] * 6)]), facet=None).to_dict()
    kept = _kept(_data(two), _band(two))
    assert [(r["task"], r["model"], r["noise_group"]) for r in kept] == [
        ("t", "a", "t/0"), ("t", "b", "t/0"), ("t", "c", "t/1"), ("t", "d", "t/1")]  # fmt: skip
    assert {r["noise_group"] for r in _data(two) if r["task"] == "u" and r["noise_group"]} == {
        "u/0", "u/1", "u/2", "u/3", "u/4"}  # fmt: skip
    # without a task column the groups are plain numbers
    assert [r["noise_group"] for r in _data(frontier_chart(_noisy().drop("task")).to_dict())] == [0, 0, 1, 1, 2, None]


def test_frontier_chart_rings_and_names_the_roles() -> None:
    spec = frontier_chart(_frame(), roles=ROLES).to_dict()
    rows = _data(spec)
    roles = {(r["cell_id"], r["hardware"]): r["role"] for r in rows if r["role"] is not None}
    assert roles == {("c3", "L4"): "recommended", ("c0", "H200"): "baseline"}
    ring = _ring(spec)
    assert sorted(r["role"] for r in _kept(rows, ring)) == ["baseline", "recommended"]  # one ring each
    assert ring["encoding"]["strokeDash"]["field"] == "role"
    assert ring["encoding"]["strokeDash"]["scale"]["domain"] == ["recommended", "baseline"]
    # the name is written towards the middle: the geometric mean cost is 991, so 250 writes right of its point
    # (align left), 2900 left of it (align right)
    assert [r["label_align"] for r in rows] == ["left", "left", "left", "right", "right", "right", "right"]
    written = {(la["mark"]["align"], la["mark"]["dy"]): [r["label"] for r in _kept(rows, la)] for la in _labels(spec)}
    assert written == {("left", -14): ["recommended: small int4"], ("right", 22): ["baseline: big bf16"],
                       ("left", 22): [], ("right", -14): []}  # fmt: skip  # the recommended above, the baseline below
    assert {layer["mark"]["dx"] for layer in _labels(spec)} == {14, -14}


def test_frontier_chart_roles_edge_cases() -> None:
    # the recommended is the baseline: one ring (the first role wins)
    same = _data(frontier_chart(_frame(), roles={"recommended": BASELINE, "baseline": BASELINE}).to_dict())
    assert [(r["cell_id"], r["hardware"], r["role"]) for r in same if r["role"]] == [("c0", "H200", "recommended")]
    # no answer, or a deployment that differs in one key (the provider): nothing ringed
    for roles in ({"recommended": None, "baseline": None}, {"recommended": {**RECOMMENDED, "provider": "gcp"}}, None):
        spec = frontier_chart(_frame(), roles=roles).to_dict()
        assert _kept(_data(spec), _ring(spec)) == []


def test_chart_data_again_keeps_its_rows() -> None:
    # the app draws chart_data's rows (a row swap sends them): drawing them again changes nothing
    once = chart_data(_noisy(), roles={"recommended": {"model": "c", "quant": "bf16", "hardware": "L4", "task": "t"}})
    assert once.filter(pl.col("role").is_not_null())["model"].to_list() == ["c"]
    assert _data(frontier_chart(once).to_dict()) == _data(frontier_chart(_noisy(), roles={
        "recommended": {"model": "c", "quant": "bf16", "hardware": "L4", "task": "t"}}).to_dict())  # fmt: skip
    assert chart_data(once, roles={})["role"].null_count() == once.height  # new roles replace the old


def test_frontier_chart_renders_money_ticks_and_names(tmp_path) -> None:
    svg = save_chart(frontier_chart(_frame(), roles=ROLES), tmp_path / "f.svg").read_text()
    texts = set(re.findall(r">([^<>]+)</text>", svg))
    assert {"recommended: small int4", "baseline: big bf16"} <= texts
    assert {"$300", "$1,000", "$2,000"} <= texts  # MONEY_LABELS: dollars, thousands separated
    assert {"50%", "80%"} <= texts and {"guide", "Pareto frontier", "within noise (1.96 stderr)"} <= texts


def test_frontier_chart_renders_the_filled_hollow_legend(tmp_path) -> None:
    svg = save_chart(frontier_chart(_frame()), tmp_path / "f.svg").read_text()
    assert "cost (filled: measured)" in re.findall(r">([^<>]+)</text>", svg)  # a legend title, not an aria label


def test_chart_data_of_another_accuracy_column() -> None:
    frame = _frame().with_columns((pl.col("value") - 0.25).alias("value_cn"))
    data = chart_data(frame, accuracy="value_cn")
    assert data["accuracy_low"].to_list()[0] == pytest.approx(0.50 - 0.25 - 0.02)
    assert data.select((pl.col("value") - pl.col("value_cn") - 0.25).abs().max()).item() < 1e-12  # both kept


def test_frontier_chart_respects_a_precomputed_frontier() -> None:
    marked = pareto_frontier(_frame()).with_columns((pl.col("cell_id") == "c4").alias("on_frontier"))
    spec = frontier_chart(marked).to_dict()
    assert [r["cell_id"] for r in _kept(_data(spec), _step(spec))] == ["c4"]


def test_frontier_chart_pick_on_config_when_cell_ids_repeat() -> None:
    # c0 and c2 appear on H200 (measured) and L4 (projected): cell_id does not name a point
    spec = frontier_chart(_frame()).to_dict()
    param = _pick(spec)
    assert param["select"] == {
        "type": "point",
        "clear": "dblclick",
        "fields": ["model", "quant", "hardware", "provider", "task"],
        "on": "click",
    }
    assert param["views"] == ["points"]  # the selection lives on the points


def test_frontier_chart_pick_on_cell_id_when_unique() -> None:
    measured = _frame().filter(pl.col("cost_provenance") == "measured")
    assert measured.get_column("cell_id").is_unique().all()
    assert _pick(frontier_chart(measured).to_dict())["select"]["fields"] == ["cell_id"]
    # a null id names nothing: back to the configuration
    nulled = measured.with_columns(pl.col("cell_id").replace("c1", None))
    assert nulled.get_column("cell_id").null_count() == 1
    fields = _pick(frontier_chart(nulled).to_dict())["select"]["fields"]
    assert fields == ["model", "quant", "hardware", "provider", "task"]
    # no cell id, no provider, no hardware column: the hardware label is filled in, the fields follow the frame
    bare = measured.drop("cell_id", "provider", "hardware")
    spec = frontier_chart(bare).to_dict()
    assert _pick(spec)["select"]["fields"] == ["model", "quant", "hardware", "task"]
    assert {r["hardware"] for r in _data(spec)} == {"as measured"}


def test_frontier_chart_facets_several_tasks() -> None:
    frame = pl.concat([_frame("t"), _frame("u")])
    spec = frontier_chart(frame).to_dict()
    assert spec["facet"] == {"field": "task", "title": None, "type": "nominal"}
    assert spec["columns"] == 3
    assert spec["resolve"] == {"scale": {"y": "independent"}}
    assert spec["title"] == {"text": "Accuracy vs USD per month (fleet)", "anchor": "start", "subtitle": []}
    assert [layer["mark"]["type"] for layer in _layers(spec)] == ["line", "line", "rule", "rule", "point", "point",
                                                                  "text", "text", "text", "text", "point"]  # fmt: skip
    assert _points(spec)["name"] == "points"
    assert _pick(spec)["select"]["fields"] == ["model", "quant", "hardware", "provider", "task"]
    rows = _data(spec)
    assert len(rows) == 2 * len(ROWS)
    # the frontier is per task: each task keeps the same four points
    for task in ("t", "u"):
        kept = [r for r in _kept(rows, _step(spec)) if r["task"] == task]
        assert {(r["model"], r["quant"], r["hardware"]) for r in kept} == FRONTIER
    # facet=None, or a single task: one layered chart
    assert "facet" not in frontier_chart(frame, facet=None).to_dict()
    assert "facet" not in frontier_chart(_frame("u")).to_dict()


def test_frontier_chart_drops_unplottable_costs() -> None:
    bad = {"c1": None, "c3": 0.0, "c4": float("nan")}
    cost = pl.col("cell_id").replace_strict(bad, default=pl.col("monthly_usd"), return_dtype=pl.Float64)
    negative = (pl.col("cell_id") == "c0") & (pl.col("hardware") == "H200")
    frame = _frame().with_columns(pl.when(negative).then(-5.0).otherwise(cost).alias("monthly_usd"))
    rows = _data(frontier_chart(frame).to_dict())
    # left: c0 on L4 and c2 on both (c0 on H200 is negative, c1 null, c3 zero, c4 NaN)
    assert sorted((r["cell_id"], r["hardware"]) for r in rows) == [("c0", "L4"), ("c2", "H200"), ("c2", "L4")]
    assert all(r["monthly_usd"] > 0 and math.isfinite(r["monthly_usd"]) for r in rows)


def test_frontier_chart_missing_column() -> None:
    with pytest.raises(ValueError, match="frontier_chart: missing column 'monthly_usd'") as err:
        frontier_chart(_frame().drop("monthly_usd"))
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="missing column 'quant'"):
        frontier_chart(_frame().drop("quant"))


# ---------------------------------------------------------------- relative chart


def test_relative_chart() -> None:
    spec = relative_chart(_frame()).to_dict()
    points, rule = _layer(spec, "point"), _layer(spec, "rule")
    assert points["encoding"]["x"]["field"] == "relative_cost"
    assert points["encoding"]["x"]["scale"]["type"] == "log"
    assert points["encoding"]["y"]["field"] == "relative_accuracy"
    assert points["encoding"]["color"] == {"field": "hardware", "type": "nominal", "scale": {"range": HARDWARE_COLOURS}}
    assert points["encoding"]["shape"]["field"] == "accuracy_mark"
    assert spec["datasets"][rule["data"]["name"]] == [{"target": 0.9}]
    assert rule["encoding"]["y"]["field"] == "target"
    rows = spec["datasets"][points["data"]["name"]]
    # best accuracy 0.80: at 2900 on H200 and 1800 on L4; the cheaper is the reference cost
    got = {(r["cell_id"], r["hardware"]): (r["relative_accuracy"], r["relative_cost"]) for r in rows}
    assert got == {
        ("c0", "H200"): pytest.approx((1.0, 2900 / 1800)),
        ("c1", "H200"): pytest.approx((0.79 / 0.80, 1500 / 1800)),
        ("c2", "H200"): pytest.approx((0.73 / 0.80, 800 / 1800)),
        ("c0", "L4"): pytest.approx((1.0, 1.0)),
        ("c2", "L4"): pytest.approx((0.73 / 0.80, 300 / 1800)),
        ("c3", "L4"): pytest.approx((0.50 / 0.80, 250 / 1800)),
        ("c4", "L4"): pytest.approx((0.75 / 0.80, 2000 / 1800)),
    }
    tips = [t["field"] for t in points["encoding"]["tooltip"]]
    assert tips[:4] == ["relative_accuracy", "relative_cost", "monthly_usd", "value"]


def test_relative_chart_target_cost_and_colour_fallback() -> None:
    frame = _frame().drop("hardware", "provider").with_columns((pl.col("monthly_usd") * 2).alias("usd"))
    spec = relative_chart(frame, cost="usd", target_fraction=0.95).to_dict()
    rule, points = _layer(spec, "rule"), _layer(spec, "point")
    assert spec["datasets"][rule["data"]["name"]] == [{"target": 0.95}]
    assert points["encoding"]["color"]["field"] == "model"  # no hardware column
    assert "usd" in [t["field"] for t in points["encoding"]["tooltip"]]
    with pytest.raises(ValueError, match="relative_to_best: missing column 'monthly_usd'"):
        relative_chart(_frame().drop("monthly_usd"))


# ---------------------------------------------------------------- bill and efficiency bars


def _bill_rows() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "hardware": ["H200", "L4", "T4"],
            "model": ["big", "small", "small"],
            "quant": ["bf16", "bf16", "int4"],
            "replicas": [1, 3, 2],
            "monthly_usd": [2900.0, 600.0, None],  # T4 cannot serve: no bill, no bar
            "idle_usd_per_month": [2000.0, 150.0, 10.0],
            "utilisation": [0.31, 0.75, None],
            "note": ["x", "y", "z"],  # not a bill figure: left out
        }
    )


def test_bill_chart_busy_idle_split_by_hand() -> None:
    spec = bill_chart(_bill_rows()).to_dict()
    rows = _data(spec)
    split = {(r["hardware"], r["capacity"]): r["usd_per_month"] for r in rows}
    # busy = monthly - idle: H200 2900 - 2000 = 900, L4 600 - 150 = 450
    assert split == {("H200", "busy"): 900.0, ("H200", "idle"): 2000.0, ("L4", "busy"): 450.0, ("L4", "idle"): 150.0}
    for hw, total in (("H200", 2900.0), ("L4", 600.0)):
        assert split[(hw, "busy")] + split[(hw, "idle")] == total
    assert "T4" not in {r["hardware"] for r in rows}
    assert all("note" not in r for r in rows)
    assert {r["replicas"] for r in rows if r["hardware"] == "L4"} == {3}  # the deployment's figures ride along


def test_bill_chart_encodings() -> None:
    spec = bill_chart(_bill_rows()).to_dict()
    enc = spec["encoding"]
    assert spec["mark"]["type"] == "bar"
    assert enc["x"] == {
        "aggregate": "sum",
        "field": "usd_per_month",
        "stack": "zero",
        "title": "USD per month",
        "type": "quantitative",
    }
    assert enc["y"]["field"] == "hardware" and enc["y"]["sort"] == {"field": "monthly_usd", "op": "max"}
    assert enc["color"]["field"] == "capacity"
    assert enc["color"]["scale"] == {"domain": ["busy", "idle"], "range": ["#4c78a8", "#d8d8d8"]}
    tips = {t["field"]: t for t in enc["tooltip"]}
    # which segment (busy / idle) and its amount first, then the deployment's figures
    assert list(tips) == ["capacity", "usd_per_month", "hardware", "model", "quant", "replicas", "monthly_usd",
                          "utilisation", "idle_usd_per_month"]  # fmt: skip
    assert tips["utilisation"]["format"] == ".1%"
    assert spec["title"] == "Monthly bill per hardware: busy vs idle capacity"
    assert bill_chart(_bill_rows(), title="bill").to_dict()["title"] == "bill"


def test_bill_chart_missing_column() -> None:
    with pytest.raises(ValueError, match="bill_chart: missing column 'idle_usd_per_month'"):
        bill_chart(_bill_rows().drop("idle_usd_per_month"))
    with pytest.raises(ValueError, match="bill_chart: missing column 'hardware'"):
        bill_chart(_bill_rows().drop("hardware"))


def test_efficiency_chart_one_bar_per_measured_row() -> None:
    spec = efficiency_chart(_frame()).to_dict()
    assert spec["mark"]["type"] == "bar"
    assert spec["encoding"]["x"]["field"] == "efficiency" and spec["encoding"]["x"]["axis"] == {"format": "%"}
    assert spec["encoding"]["y"] == {"field": "config", "sort": "-x", "title": None, "type": "nominal"}
    assert spec["encoding"]["color"]["field"] == "model"
    assert "yOffset" not in spec["encoding"]
    rows = _data(spec)
    # c0 and c2 have an L4 copy each: dropped, the first (H200) row kept
    assert [(r["cell_id"], r["hardware"]) for r in rows] == [
        ("c0", "H200"),
        ("c1", "H200"),
        ("c2", "H200"),
        ("c3", "L4"),
        ("c4", "L4"),
    ]
    assert [r["config"] for r in rows] == ["big / bf16", "big / int8", "small / bf16", "small / int4", "mid / bf16"]
    assert [r["efficiency"] for r in rows] == [0.3, 0.25, 0.2, 0.05, 0.1]


def test_efficiency_chart_drops_missing_values_and_splits_tasks() -> None:
    frame = _frame().with_columns(
        pl.when(pl.col("cell_id") == "c1").then(None).otherwise(pl.col("efficiency")).alias("efficiency")
    )
    frame = frame.with_columns(
        pl.when(pl.col("cell_id") == "c3").then(float("nan")).otherwise(pl.col("efficiency")).alias("efficiency")
    )
    assert [r["cell_id"] for r in _data(efficiency_chart(frame).to_dict())] == ["c0", "c2", "c4"]
    two = pl.concat([_frame("t"), _frame("u").with_columns(pl.col("cell_id") + "u")])
    spec = efficiency_chart(two).to_dict()
    assert spec["encoding"]["yOffset"] == {"field": "task", "type": "nominal"}
    assert spec["encoding"]["color"]["field"] == "task"
    assert len(_data(spec)) == 10
    with pytest.raises(ValueError, match="efficiency_chart: missing column 'roofline'"):
        efficiency_chart(_frame(), col="roofline")


# ---------------------------------------------------------------- shared helpers and export


def test_positive_keeps_finite_positive_rows() -> None:
    frame = pl.DataFrame({"x": [1.0, 0.0, -1.0, None, float("nan"), float("inf"), 2.5], "i": range(7)})
    assert positive(frame, "x").get_column("i").to_list() == [0, 6]


def test_chartable_drops_nested_columns_and_nan() -> None:
    frame = pl.DataFrame(
        {"a": [1.0, float("nan")], "tags": [["x"], ["y"]], "blob": [b"1", b"2"], "s": ["p", "q"], "n": [1, 2]}
    )
    out = chartable(frame)
    assert out.columns == ["a", "s", "n"]
    assert out.get_column("a").to_list() == [1.0, None]
    assert out.get_column("n").to_list() == [1, 2]


def test_tooltip_formats_and_titles() -> None:
    frame = pl.DataFrame({"monthly_usd": [1.0], "replicas": [2], "idle_share": [0.4], "hardware": ["L4"]})
    tips = [
        t.to_dict() for t in tooltip(frame, ["hardware", "monthly_usd", "replicas", "idle_share", "absent", "hardware"])
    ]
    assert tips == [
        {"field": "hardware", "title": "hardware", "type": "nominal"},
        {"field": "monthly_usd", "format": ".4g", "title": TITLES["monthly_usd"], "type": "quantitative"},
        {"field": "replicas", "format": ",", "title": "replicas", "type": "quantitative"},
        {"field": "idle_share", "format": ".1%", "title": "idle share", "type": "quantitative"},
    ]


def test_save_chart_png_and_svg(tmp_path) -> None:
    chart = frontier_chart(_frame())
    png = save_chart(chart, tmp_path / "sub" / "frontier.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    svg = save_chart(chart, tmp_path / "frontier.svg")
    text = svg.read_text()
    assert text.lstrip().startswith("<svg") and "</svg>" in text
    with pytest.raises(ValueError, match="unsupported suffix '.jpg'"):
        save_chart(chart, tmp_path / "frontier.jpg")
    assert not (tmp_path / "frontier.jpg").exists()
    facets = save_chart(frontier_chart(pl.concat([_frame("t"), _frame("u")])), tmp_path / "facets.svg")
    assert "</svg>" in facets.read_text()


def test_reported_accuracy_has_its_own_mark() -> None:
    from explorer.charts.frontier import chart_data

    frame = pl.DataFrame(
        {
            "model": ["a", "b", "c"], "quant": ["bf16"] * 3, "task": ["t"] * 3, "value": [0.5, 0.7, 0.8],
            "monthly_usd": [10.0, 20.0, 30.0], "accuracy_provenance": ["measured", "reported", "reported"],
            "model_kind": [None, "base", "instruct"],
        }
    )  # fmt: skip
    assert chart_data(frame)["accuracy_mark"].to_list() == ["measured", "reported (base)", "reported (instruct)"]
    assert set(chart_data(frame.drop("accuracy_provenance"))["accuracy_mark"]) == {"measured"}


def test_quant_chart_encodings() -> None:
    from explorer.charts.views import quant_chart

    view = pl.DataFrame(
        {"family": ["llama-2", "qwen2.5"], "model": ["a", "b"], "quant": ["int4 GPTQ", "int4 AutoRound"],
         "level": ["int4", "int4"], "bill_saved": [0.5, 0.2], "accuracy_lost_points": [0.7, 0.1]}
    )  # fmt: skip
    spec = quant_chart(view).to_dict()
    enc = spec["encoding"]
    assert enc["x"]["field"] == "bill_saved" and enc["x"]["axis"]["format"] == "%"
    assert enc["y"]["field"] == "accuracy_lost_points" and enc["color"]["field"] == "family"
    assert enc["shape"]["field"] == "level" and [r["bill_saved"] for r in _data(spec)] == [0.5, 0.2]
