"""Charts: Vega-Lite specs of the frontier view (hardware colours, measured / projected fill, cost ranges, frontier
step line, "pick"), the relative view, the bill and efficiency bars, the shared helpers and the PNG / SVG export."""

from __future__ import annotations

import math

import polars as pl
import pytest

from explorer.analysis.frontier import pareto_frontier
from explorer.charts.common import TITLES, chartable, positive, save_chart, tooltip
from explorer.charts.frontier import PICK, TOOLTIP_FIELDS, frontier_chart, relative_chart
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


def _layers(spec: dict) -> list[dict]:
    return spec["spec"]["layer"] if "spec" in spec else spec["layer"]


def _data(spec: dict) -> list[dict]:
    (values,) = spec["datasets"].values()
    return values


def _filters_on(layer: dict, field: str) -> bool:
    return any(
        isinstance(t.get("filter"), dict) and t["filter"].get("field") == field for t in layer.get("transform", [])
    )


def _layer(spec: dict, mark: str) -> dict:
    """The deployments' points ("point"), the Pareto step line ("line"), the cost range rule ("rule")."""
    layers = _layers(spec)
    if mark == "point":
        (layer,) = [layer for layer in layers if layer.get("name") == "points"]
    elif mark == "line":
        (layer,) = [layer for layer in layers if layer["mark"]["type"] == "line" and _filters_on(layer, "on_frontier")]
    else:  # the frontier chart's range rule (from x to x2), or a chart's only layer of that mark
        same = [layer for layer in layers if layer["mark"]["type"] == mark]
        (layer,) = [layer for layer in same if "x2" in layer["encoding"]] if len(same) > 1 else same
    return layer


def _kinds(spec: dict) -> list[str]:
    """Each layer's part: band, frontier, errors, range, points, rings, labels."""
    out = []
    for layer in _layers(spec):
        mark, enc = layer["mark"]["type"], layer["encoding"]
        if layer.get("name") == "points":
            out.append("points")
        elif mark == "line":
            out.append("frontier" if _filters_on(layer, "on_frontier") else "band")
        elif mark == "rule":
            out.append("range" if "x2" in enc else "errors")
        else:
            out.append("rings" if mark == "point" else "labels")
    return out


def _kept(rows: list[dict], layer: dict) -> list[dict]:
    """The rows a layer's field-equal filters keep."""
    for step in layer.get("transform", []):
        flt = step.get("filter")
        if isinstance(flt, dict):
            rows = [r for r in rows if r[flt["field"]] == flt["equal"]]
    return rows


def _pick(spec: dict) -> dict:
    (param,) = [p for p in spec["params"] if p["name"] == PICK]
    return param


# ---------------------------------------------------------------- frontier chart


def test_frontier_chart_encodings() -> None:
    spec = frontier_chart(_frame()).to_dict()
    assert _kinds(spec) == ["band", "frontier", "errors", "range", "points", "rings", "labels", "labels"]
    enc = _layer(spec, "point")["encoding"]
    assert enc["x"]["field"] == "monthly_usd" and enc["x"]["title"] == "USD per month (fleet)"
    assert enc["x"]["scale"] == {"type": "log", "nice": False, "padding": 16}  # fitted to the data, no point cut
    assert "'$'" in enc["x"]["axis"]["labelExpr"]  # dollars on the axis, not 1e-8
    assert enc["y"]["field"] == "value" and enc["y"]["scale"] == {"zero": False, "nice": False, "padding": 16}
    assert enc["y"]["axis"] == {"format": "~%"} and enc["y"]["title"] == "accuracy"
    assert enc["color"]["field"] == "hardware" and len(enc["color"]["scale"]["range"]) == 12
    assert enc["stroke"] == {"field": "hardware", "legend": None, "type": "nominal"}
    # shape: where the accuracy comes from (measured here, reported for a base or an instruct model)
    assert enc["shape"]["field"] == "accuracy_mark" and enc["shape"]["type"] == "nominal"
    assert enc["shape"]["scale"] == {"domain": ["measured", "reported (base)", "reported (instruct)",
                                                "cascade (held-out)", "oracle router (bound)"],
                                     "range": ["circle", "diamond", "triangle-up", "square", "cross"]}  # fmt: skip
    assert enc["opacity"] == {"condition": {"param": "pick", "value": 1.0}, "value": 0.35}
    assert spec["title"]["text"] == "Accuracy vs USD per month (fleet)"
    assert (spec["width"], spec["height"]) == (560, 360)
    assert "facet" not in spec  # one task


def test_frontier_chart_fill_opacity_filled_measured_hollow_projected() -> None:
    spec = frontier_chart(_frame()).to_dict()
    fill = _layer(spec, "point")["encoding"]["fillOpacity"]
    assert fill == {
        "field": "cost_provenance",
        "scale": {"domain": ["measured", "projected"], "range": [0.95, 0.08]},
        "title": "cost (filled: measured)",
        "type": "nominal",
    }
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


def test_frontier_chart_tooltip() -> None:
    """Short: the deployment, its hardware, accuracy +- stderr, its cost in the axis' unit, provenance."""
    spec = frontier_chart(_frame()).to_dict()
    tips = _layer(spec, "point")["encoding"]["tooltip"]
    assert [(t["field"], t["title"]) for t in tips] == [
        ("config", "deployment"),
        ("hardware", "hardware"),
        ("accuracy_text", "accuracy ± stderr"),
        ("monthly_usd", "USD per month (fleet)"),
        ("provenance", "provenance"),
    ]
    assert tips[3]["format"] == "$,.2f"
    rows = {(r["cell_id"], r["hardware"]): r for r in _data(spec)}
    assert rows[("c2", "L4")]["accuracy_text"] == "73.0% ± 2.0%"
    assert rows[("c2", "L4")]["provenance"] == "accuracy measured, cost projected"
    assert rows[("c3", "L4")]["provenance"] == "accuracy measured, cost measured"
    assert set(TOOLTIP_FIELDS) >= {"model", "quant", "monthly_usd"}  # the detail view's figures


def test_frontier_chart_range_rule_from_optimistic_to_conservative_cost() -> None:
    spec = frontier_chart(_frame()).to_dict()
    rule = _layer(spec, "rule")
    enc = rule["encoding"]
    assert enc["x"]["field"] == "monthly_usd_optimistic" and enc["x"]["scale"]["type"] == "log"
    assert enc["x2"] == {"field": "monthly_usd"}
    assert enc["y"]["field"] == "value"
    assert enc["color"]["field"] == "hardware"
    assert rule["transform"] == [{"filter": {"field": "cost_provenance", "equal": "projected"}}]
    ranges = {(r["cell_id"], r["monthly_usd_optimistic"], r["monthly_usd"]) for r in _kept(_data(spec), rule)}
    assert ranges == {("c2", 200.0, 300.0), ("c0", 1200.0, 1800.0), ("c4", 1500.0, 2000.0)}
    # no optimistic column: no range layer
    bare = frontier_chart(_frame().drop("monthly_usd_optimistic")).to_dict()
    assert "range" not in _kinds(bare)


def test_frontier_chart_other_cost_column() -> None:
    frame = _frame().with_columns(
        (pl.col("monthly_usd") / 1e5).alias("usd_per_query"),
        (pl.col("monthly_usd_optimistic") / 1e5).alias("usd_per_query_optimistic"),
    )
    spec = frontier_chart(frame, cost="usd_per_query", title="per query").to_dict()
    assert spec["title"]["text"] == "per query"
    assert _layer(spec, "point")["encoding"]["x"]["field"] == "usd_per_query"
    assert _layer(spec, "point")["encoding"]["x"]["title"] == "usd_per_query"  # no title listed: the name
    rule = _layer(spec, "rule")["encoding"]
    assert (rule["x"]["field"], rule["x2"]["field"]) == ("usd_per_query_optimistic", "usd_per_query")
    line = _layer(spec, "line")
    assert line["encoding"]["x"]["field"] == "usd_per_query" and line["encoding"]["order"]["field"] == "usd_per_query"
    # only monthly_usd_optimistic there: no range for a per-query cost
    no_range = frontier_chart(frame.drop("usd_per_query_optimistic"), cost="usd_per_query").to_dict()
    assert "range" not in _kinds(no_range)
    with pytest.raises(ValueError, match="frontier_chart: missing column 'usd_per_query'"):
        frontier_chart(_frame(), cost="usd_per_query")


def test_frontier_step_line_keeps_exactly_the_frontier_rows() -> None:
    spec = frontier_chart(_frame()).to_dict()
    line = _layer(spec, "line")
    assert line["mark"]["interpolate"] == "step-after"
    assert line["encoding"]["x"]["field"] == "monthly_usd" and line["encoding"]["x"]["scale"]["type"] == "log"
    assert line["encoding"]["order"] == {"field": "monthly_usd", "type": "quantitative"}
    assert line["transform"][0] == {"filter": {"field": "on_frontier", "equal": True}}
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


def test_frontier_chart_respects_a_precomputed_frontier() -> None:
    marked = pareto_frontier(_frame()).with_columns((pl.col("cell_id") == "c4").alias("on_frontier"))
    spec = frontier_chart(marked).to_dict()
    assert [r["cell_id"] for r in _kept(_data(spec), _layer(spec, "line"))] == ["c4"]


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
    assert param["views"] == [_layer(spec, "point")["name"]]  # the selection lives on the points


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
    assert spec["title"]["text"] == "Accuracy vs USD per month (fleet)"
    assert _kinds(spec) == ["band", "frontier", "errors", "range", "points", "rings", "labels", "labels"]
    assert _pick(spec)["select"]["fields"] == ["model", "quant", "hardware", "provider", "task"]
    rows = _data(spec)
    assert len(rows) == 2 * len(ROWS)
    # the frontier is per task: each task keeps the same four points
    for task in ("t", "u"):
        kept = [r for r in _kept(rows, _layer(spec, "line")) if r["task"] == task]
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
    assert points["encoding"]["color"] == {"field": "hardware", "type": "nominal"}
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
