"""Charts: Vega-Lite specs (log cost axis, encodings, tooltip provenance, frontier step line, "pick") and export."""

from __future__ import annotations

import polars as pl
import pytest

from explorer.analysis.charts import (
    batch_cost_chart,
    efficiency_chart,
    frontier_chart,
    relative_chart,
    save_chart,
)
from explorer.analysis.frontier import aggregate, pareto_frontier

ROWS = [
    # model, quant, value, usd_per_query, peak_mem_bytes
    ("big", "bf16", 0.80, 1.00, 4_000),
    ("big", "int8", 0.79, 0.50, 2_000),
    ("mid", "bf16", 0.75, 0.60, 3_000),  # dominated
    ("small", "bf16", 0.73, 0.02, 1_000),
    ("small", "int4", 0.50, 0.01, 500),
]


def _frame(task: str = "t") -> pl.DataFrame:
    n = len(ROWS)
    return pl.DataFrame(
        {
            "cell_id": [f"{task}{i}" for i in range(n)],
            "model": [r[0] for r in ROWS],
            "quant": [r[1] for r in ROWS],
            "quant_backend": ["torchao"] * n,
            "task": [task] * n,
            "metric": ["acc"] * n,
            "value": [r[2] for r in ROWS],
            "stderr": [0.02] * n,
            "chance": [0.25] * n,
            "usd_per_query": [r[3] for r in ROWS],
            "usd_per_1k_queries": [r[3] * 1000 for r in ROWS],
            "device_s_per_query": [r[3] * 3 for r in ROWS],
            "peak_mem_bytes": [r[4] for r in ROWS],
            "weight_bytes": [r[4] // 2 for r in ROWS],
            "cost_provenance": ["projected"] * n,
            "provenance": ["measured"] * n,
            "efficiency": [0.3, 0.25, 0.2, 0.1, 0.05],
        }
    )


def _layers(spec: dict) -> list[dict]:
    return spec["spec"]["layer"] if "spec" in spec else spec["layer"]


def _data(spec: dict) -> list[dict]:
    (values,) = spec["datasets"].values()
    return values


def _points_layer(spec: dict) -> dict:
    return next(layer for layer in _layers(spec) if layer["mark"]["type"] == "point")


def _line_layer(spec: dict) -> dict:
    return next(layer for layer in _layers(spec) if layer["mark"]["type"] == "line")


def test_frontier_chart_encodings_and_tooltip() -> None:
    spec = frontier_chart(_frame()).to_dict()
    enc = _points_layer(spec)["encoding"]
    assert enc["x"]["field"] == "usd_per_query" and enc["x"]["scale"]["type"] == "log"
    assert enc["y"]["field"] == "value"
    assert enc["color"]["field"] == "model"
    assert enc["shape"]["field"] == "quant"
    assert enc["size"]["field"] == "peak_mem_bytes"
    tips = {t["field"] for t in enc["tooltip"]}
    wanted = {
        "model",
        "quant",
        "quant_backend",
        "task",
        "value",
        "stderr",
        "usd_per_query",
        "usd_per_1k_queries",
        "device_s_per_query",
        "peak_mem_bytes",
        "cost_provenance",
        "provenance",
    }
    assert wanted <= tips
    assert "efficiency" not in tips and "chance" not in tips  # only the listed figures
    # size falls back to weight_bytes without peak memory
    fallback = _points_layer(frontier_chart(_frame().drop("peak_mem_bytes")).to_dict())["encoding"]
    assert fallback["size"]["field"] == "weight_bytes"


def test_frontier_step_line_draws_only_frontier_points() -> None:
    spec = frontier_chart(_frame()).to_dict()
    line = _line_layer(spec)
    assert line["mark"]["interpolate"] == "step-after"
    assert line["encoding"]["x"]["scale"]["type"] == "log"
    (flt,) = [t["filter"] for t in line["transform"]]
    assert flt == {"field": "on_frontier", "equal": True}
    # the rows that filter keeps are exactly the Pareto frontier
    kept = {(r["model"], r["quant"]) for r in _data(spec) if r[flt["field"]] == flt["equal"]}
    assert kept == {("big", "bf16"), ("big", "int8"), ("small", "bf16"), ("small", "int4")}
    assert len(_data(spec)) == 5


def test_frontier_chart_pick_selection() -> None:
    spec = frontier_chart(_frame()).to_dict()
    (param,) = [p for p in spec["params"] if p["name"] == "pick"]
    assert param["select"]["type"] == "point"
    assert param["select"]["fields"] == ["cell_id"]
    assert param["select"]["on"] == "click"
    # after aggregate there is no cell id: the selection names the configuration and task
    agg = aggregate(pl.concat([_frame("t"), _frame("u")]))
    agg_spec = frontier_chart(agg).to_dict()
    (agg_param,) = [p for p in agg_spec["params"] if p["name"] == "pick"]
    assert agg_param["select"]["fields"] == ["model", "quant", "task"]


def test_frontier_chart_facets_several_tasks_and_drops_unplottable_costs() -> None:
    frame = pl.concat([_frame("t"), _frame("u")])
    frame = frame.with_columns(
        pl.when(pl.col("cell_id") == "u4").then(None).otherwise(pl.col("usd_per_query")).alias("usd_per_query")
    )
    spec = frontier_chart(frame).to_dict()
    assert spec["facet"]["field"] == "task"
    assert _line_layer(spec)["mark"]["interpolate"] == "step-after"
    rows = _data(spec)
    assert len(rows) == 9 and "u4" not in {r["cell_id"] for r in rows}
    # a precomputed on_frontier is respected, not recomputed
    marked = pareto_frontier(_frame()).with_columns(pl.lit(False).alias("on_frontier"))
    assert not any(r["on_frontier"] for r in _data(frontier_chart(marked).to_dict()))


def test_frontier_chart_missing_column() -> None:
    with pytest.raises(ValueError, match="missing column 'usd_per_query'"):
        frontier_chart(_frame().drop("usd_per_query"))


def test_relative_chart() -> None:
    spec = relative_chart(_frame()).to_dict()
    (points,) = [layer for layer in spec["layer"] if layer["mark"]["type"] == "point"]
    (rule,) = [layer for layer in spec["layer"] if layer["mark"]["type"] == "rule"]
    assert points["encoding"]["x"]["field"] == "relative_cost"
    assert points["encoding"]["x"]["scale"]["type"] == "log"
    assert points["encoding"]["y"]["field"] == "relative_accuracy"
    rule_rows = spec["datasets"][rule["data"]["name"]]
    assert rule_rows == [{"target": 0.9}] and rule["encoding"]["y"]["field"] == "target"
    rows = spec["datasets"][spec["data"]["name"]] if "data" in spec else spec["datasets"][points["data"]["name"]]
    small = next(r for r in rows if (r["model"], r["quant"]) == ("small", "bf16"))
    assert small["relative_cost"] == pytest.approx(0.02)
    assert small["relative_accuracy"] == pytest.approx(0.73 / 0.80)


def test_efficiency_chart_bars() -> None:
    spec = efficiency_chart(_frame()).to_dict()
    assert spec["mark"]["type"] == "bar"
    assert spec["encoding"]["x"]["field"] == "efficiency"
    assert spec["encoding"]["y"]["field"] == "config"
    assert {r["config"] for r in _data(spec)} == {
        "big / bf16",
        "big / int8",
        "mid / bf16",
        "small / bf16",
        "small / int4",
    }
    two = efficiency_chart(pl.concat([_frame("t"), _frame("u")])).to_dict()
    assert two["encoding"]["yOffset"]["field"] == "task"
    with pytest.raises(ValueError, match="missing column 'roofline'"):
        efficiency_chart(_frame(), col="roofline")


def test_batch_cost_chart_log_axes() -> None:
    profile = pl.DataFrame(
        {
            "model": ["a"] * 4 + ["b"] * 4,
            "quant": ["bf16"] * 4 + ["int8"] * 4,
            "batch_size": [1, 2, 4, 8] * 2,
            "device_s_per_query": [1.0, 0.6, 0.4, 0.3, 0.5, 0.3, 0.2, 0.15],
        }
    )
    spec = batch_cost_chart(profile).to_dict()
    enc = spec["encoding"]
    assert enc["x"]["field"] == "batch_size" and enc["x"]["scale"] == {"type": "log", "base": 2}
    assert enc["y"]["field"] == "device_s_per_query" and enc["y"]["scale"]["type"] == "log"
    assert enc["color"]["field"] == "model" and enc["strokeDash"]["field"] == "quant"
    priced = profile.with_columns((pl.col("device_s_per_query") * 1e-3).alias("usd_per_query"))
    assert batch_cost_chart(priced).to_dict()["encoding"]["y"]["field"] == "usd_per_query"


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
