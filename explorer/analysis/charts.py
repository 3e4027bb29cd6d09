"""Charts (pure Altair): frame -> alt.Chart, nothing displayed; `save_chart` exports PNG / SVG via vl-convert.

The frontier chart carries a click selection named "pick" (on `cell_id`, or on the configuration and task
columns where cell ids are missing or not one per point, e.g. after `aggregate`), so a UI can read which
point was clicked (`alt.JupyterChart(chart).selections.pick`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import altair as alt
import polars as pl

from explorer.analysis.columns import require_columns as _require
from explorer.analysis.frontier import ACCURACY, COST, config_columns, pareto_frontier, relative_to_best

PICK = "pick"
TOOLTIP_FIELDS = (
    "model",
    "quant",
    "quant_backend",
    "hardware",
    "provider",
    "task",
    "metric",
    "value",
    "stderr",
    "n_tasks",
    "usd_per_query",
    "usd_per_1k_queries",
    "monthly_usd",
    "device_s_per_query",
    "peak_mem_bytes",
    "weight_bytes",
    "energy_j_per_query",
    "batch_size",
    "device_name",
    "cost_provenance",
    "provenance",
)
_TITLES = {
    "usd_per_query": "USD per query",
    "usd_per_1k_queries": "USD per 1k queries",
    "device_s_per_query": "device seconds per query",
    "value": "accuracy",
    "peak_mem_bytes": "peak memory (bytes)",
    "weight_bytes": "weights (bytes)",
}


def _positive(frame: pl.DataFrame, col: str) -> pl.DataFrame:
    """Rows a log axis can show: finite and > 0."""
    value = pl.col(col).cast(pl.Float64)
    return frame.filter(value.is_not_null() & value.is_finite() & (value > 0))


def _chartable(frame: pl.DataFrame) -> pl.DataFrame:
    """Drop columns Vega-Lite data cannot carry usefully (lists, structs, binary)."""
    keep = [name for name, dtype in frame.schema.items() if not dtype.is_nested() and dtype != pl.Binary]
    return frame.select(keep)


def _tooltip(frame: pl.DataFrame, first: Sequence[str] = ()) -> list[alt.Tooltip]:
    names = list(dict.fromkeys([*first, *TOOLTIP_FIELDS]))
    tips = []
    for name in names:
        if name not in frame.columns:
            continue
        dtype = frame.schema[name]
        if dtype.is_float():
            tips.append(alt.Tooltip(f"{name}:Q", format=".4g", title=_TITLES.get(name, name)))
        elif dtype.is_integer():
            tips.append(alt.Tooltip(f"{name}:Q", format=",", title=_TITLES.get(name, name)))
        else:
            tips.append(alt.Tooltip(f"{name}:N", title=_TITLES.get(name, name)))
    return tips


def _unique_ids(frame: pl.DataFrame, col: str) -> bool:
    """True when `col` names every row once (no nulls, no repeats)."""
    return col in frame.columns and frame.get_column(col).null_count() == 0 and frame.get_column(col).is_unique().all()


def _size_column(frame: pl.DataFrame) -> str | None:
    for name in ("peak_mem_bytes", "weight_bytes"):
        if name in frame.columns and frame.get_column(name).drop_nulls().len() > 0:
            return name
    return None


def frontier_chart(
    frame: pl.DataFrame,
    cost: str = COST,
    accuracy: str = ACCURACY,
    size: str | None = None,
    facet: str | None = "task",
    title: str | None = None,
) -> alt.Chart | alt.LayerChart | alt.FacetChart:
    """Accuracy vs cost (log x): colour = model, shape = quant, size = peak memory (or weight bytes), a
    tooltip with every figure and its provenance, a click selection "pick", and the Pareto frontier as a
    step line (step-after: the best accuracy reachable at each cost) over the `on_frontier` points.

    `on_frontier` is computed per task (pareto_frontier) unless the frame has it. Points without a positive
    cost are left out (log axis). With several values in `facet` the chart is faceted by it.
    """
    _require(frame, (cost, accuracy, "model", "quant"), "frontier_chart")
    data = frame
    if "on_frontier" not in data.columns:
        data = pareto_frontier(data, cost=cost, accuracy=accuracy, by=("task",) if "task" in data.columns else ())
    data = _chartable(_positive(data, cost))
    size = size if size is not None else _size_column(data)
    pick_fields = (
        ["cell_id"]
        if _unique_ids(data, "cell_id")
        else [c for c in (*config_columns(data), "task") if c in data.columns]
    )
    pick = alt.selection_point(name=PICK, fields=pick_fields, on="click", clear="dblclick")
    x = alt.X(f"{cost}:Q", scale=alt.Scale(type="log"), title=_TITLES.get(cost, cost))
    y = alt.Y(f"{accuracy}:Q", scale=alt.Scale(zero=False), title=_TITLES.get(accuracy, accuracy))
    encoding: dict = {
        "x": x,
        "y": y,
        "color": alt.Color("model:N", title="model"),
        "shape": alt.Shape("quant:N", title="quantization"),
        "tooltip": _tooltip(data, first=(cost, accuracy)),
        "opacity": alt.condition(pick, alt.value(0.95), alt.value(0.35)),
    }
    if size is not None:
        encoding["size"] = alt.Size(f"{size}:Q", title=_TITLES.get(size, size), scale=alt.Scale(range=[40, 400]))
    base = alt.Chart(data)
    points = base.mark_point(filled=True).encode(**encoding).add_params(pick)
    line = (
        base.transform_filter(alt.FieldEqualPredicate(field="on_frontier", equal=True))
        .mark_line(interpolate="step-after", color="black", strokeWidth=1.5, opacity=0.6)
        .encode(x=x, y=y, order=alt.Order(f"{cost}:Q"))
    )
    layered = alt.layer(line, points)
    if facet is not None and facet in data.columns and data.get_column(facet).n_unique() > 1:
        chart: alt.LayerChart | alt.FacetChart = layered.facet(facet=alt.Facet(f"{facet}:N", title=None), columns=3)
        return chart.resolve_scale(y="independent").properties(title=title or "Accuracy vs cost")
    return layered.properties(title=title or "Accuracy vs cost", width=480, height=320)


def relative_chart(
    frame: pl.DataFrame,
    cost: str = COST,
    accuracy: str = ACCURACY,
    by: Sequence[str] = ("task",),
    target_fraction: float = 0.9,
) -> alt.LayerChart:
    """The "90% of the accuracy at 1% of the cost" view: accuracy / best accuracy of the group against
    cost / cost of the most accurate point (log x), with a rule at `target_fraction`."""
    by = tuple(c for c in by if c in frame.columns)
    data = _chartable(_positive(relative_to_best(frame, cost=cost, accuracy=accuracy, by=by), "relative_cost"))
    tips = _tooltip(data, first=("relative_accuracy", "relative_cost", cost, accuracy))
    points = (
        alt.Chart(data)
        .mark_point(filled=True, size=80)
        .encode(
            x=alt.X("relative_cost:Q", scale=alt.Scale(type="log"), title="cost / cost of the most accurate"),
            y=alt.Y(
                "relative_accuracy:Q",
                scale=alt.Scale(zero=False),
                axis=alt.Axis(format="%"),
                title="accuracy / best accuracy",
            ),
            color=alt.Color("model:N"),
            shape=alt.Shape("quant:N", title="quantization"),
            tooltip=tips,
        )
    )
    rule = (
        alt.Chart(pl.DataFrame({"target": [target_fraction]}))
        .mark_rule(strokeDash=[4, 4], color="gray")
        .encode(y="target:Q")
    )
    return alt.layer(rule, points).properties(title="Relative accuracy vs relative cost", width=480, height=320)


def _label(frame: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    parts = [pl.col(k).cast(pl.String).fill_null("?") for k in keys]
    return frame.with_columns(pl.concat_str(parts, separator=" / ").alias("config"))


def efficiency_chart(frame: pl.DataFrame, col: str = "efficiency", as_fraction: bool = True) -> alt.Chart:
    """Horizontal bars of % of roofline per configuration (one bar per task when there are several).

    `as_fraction`: the column holds 0..1 (shown as %); False when it already holds percent."""
    _require(frame, (col, "model", "quant"), "efficiency_chart")
    data = _label(frame, config_columns(frame)).filter(pl.col(col).cast(pl.Float64).is_finite())
    data = _chartable(data)
    multi_task = "task" in data.columns and data.get_column("task").n_unique() > 1
    encoding: dict = {
        "x": alt.X(f"{col}:Q", axis=alt.Axis(format="%" if as_fraction else "d"), title="% of roofline"),
        "y": alt.Y("config:N", sort="-x", title=None),
        "color": alt.Color("task:N" if multi_task else "model:N"),
        "tooltip": _tooltip(data, first=("config", col)),
    }
    if multi_task:
        encoding["yOffset"] = alt.YOffset("task:N")
    return alt.Chart(data).mark_bar().encode(**encoding).properties(title="Share of the roofline reached", width=420)


def batch_cost_chart(
    profile_frame: pl.DataFrame,
    y: str | None = None,
    x: str = "batch_size",
) -> alt.Chart:
    """Cost (or device seconds) per query against batch size: one line per configuration, log2 x, log y.

    `y` defaults to usd_per_query when present, else device_s_per_query."""
    if y is None:
        y = next((c for c in ("usd_per_query", "device_s_per_query") if c in profile_frame.columns), "usd_per_query")
    _require(profile_frame, (x, y, "model", "quant"), "batch_cost_chart")
    data = _chartable(_positive(_positive(profile_frame, y), x))
    detail = [c for c in ("hardware", "provider", "device_name", "task") if c in data.columns]
    encoding: dict = {
        "x": alt.X(f"{x}:Q", scale=alt.Scale(type="log", base=2), title=x.replace("_", " ")),
        "y": alt.Y(f"{y}:Q", scale=alt.Scale(type="log"), title=_TITLES.get(y, y)),
        "color": alt.Color("model:N"),
        "strokeDash": alt.StrokeDash("quant:N", title="quantization"),
        "shape": alt.Shape("quant:N", title="quantization"),
        "tooltip": _tooltip(data, first=(x, y)),
    }
    if detail:
        encoding["detail"] = [alt.Detail(f"{c}:N") for c in detail]
    return (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(**encoding)
        .properties(title=f"{_TITLES.get(y, y)} vs {x.replace('_', ' ')}", width=420, height=300)
    )


def save_chart(chart: alt.TopLevelMixin, path: str | Path, scale: float = 2.0) -> Path:
    """Write `chart` as PNG or SVG (from the suffix) with vl-convert, offline; returns the path."""
    import vl_convert as vlc

    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise ValueError(f"save_chart: unsupported suffix {out.suffix!r} for {out} (use .png or .svg)")
    spec = chart.to_dict()
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".png":
        out.write_bytes(vlc.vegalite_to_png(spec, scale=scale))
    else:
        out.write_text(vlc.vegalite_to_svg(spec))
    return out
