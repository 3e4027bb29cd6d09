"""The frontier chart (accuracy against what a deployment costs, every hardware at once) and the relative view.

The frontier chart carries a click selection named "pick" (on `cell_id` where it names every point once, else on
the configuration and task columns), so a UI can read which point was clicked
(`alt.JupyterChart(chart).selections.pick`). Costs are drawn in human units (`UNITS`: USD per month, per 1M
queries, per 1,000 correct answers; latency in ms), accuracy as a share with its stderr bar.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import polars as pl

from explorer.analysis.columns import require_columns
from explorer.analysis.frontier import ACCURACY, config_columns, pareto_frontier, relative_to_best
from explorer.analysis.headline import noise_groups
from explorer.charts.common import TITLES, chartable, positive, tooltip
from explorer.charts.dense import dense_rows, density_layer, point_rows

PICK = "pick"
# twelve colours told apart at a glance (tableau10 + 2): one per hardware option of the shipped catalog
HARDWARE_COLOURS = ["#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2", "#ff9da6",
                    "#9d755d", "#bab0ac", "#393b79", "#17becf"]  # fmt: skip
PROVENANCE_FILL = alt.Scale(domain=["measured", "projected"], range=[0.95, 0.08])
PROVENANCE_TITLE = "cost (filled: measured)"
# cost column -> (column drawn, factor, axis title, d3 format of a value)
UNITS: dict[str, tuple[str, float, str, str]] = {
    "monthly_usd": ("monthly_usd", 1.0, "USD per month (fleet)", "$,.2f"),
    "effective_usd_per_query": ("usd_per_million_queries", 1e6, "USD per 1M queries (bill / queries)", "$,.2f"),
    "marginal_usd_per_query": ("marginal_usd_per_million_queries", 1e6, "USD per 1M queries (busy seconds)", "$,.2f"),
    "usd_per_correct": ("usd_per_thousand_correct", 1e3, "USD per 1,000 correct answers", "$,.2f"),
    "latency_s": ("latency_ms", 1e3, "latency per query (ms)", ",.1f"),
}
MONEY_LABELS = "datum.value >= 1 ? '$' + format(datum.value, ',.4~r') : '$' + format(datum.value, '.2~r')"
GUIDES = alt.Scale(domain=["Pareto frontier", "within noise (1.96 stderr)"], range=[1.5, 12])
ROLES = alt.Scale(domain=["recommended", "baseline"], range=[[1, 0], [4, 3]])
TOOLTIP_FIELDS = (
    "model", "quant", "hardware", "provider", "task", "value", "stderr", "replicas", "monthly_usd",
    "monthly_usd_optimistic", "effective_usd_per_query", "marginal_usd_per_query", "usd_per_correct", "utilisation",
    "idle_share", "latency_s", "accuracy_provenance", "model_kind", "quant_method", "quant_backend", "source",
    "cost_provenance", "service_source",
)  # fmt: skip  # the detail view's figures; the chart's tooltip is short (`_short_tooltip`)
ACCURACY_MARKS = alt.Scale(domain=["measured", "reported (base)", "reported (instruct)", "cascade (held-out)",
                                   "oracle router (bound)"],
                           range=["circle", "diamond", "triangle-up", "square", "cross"])  # fmt: skip


def _unique_ids(frame: pl.DataFrame, col: str) -> bool:
    return col in frame.columns and frame.get_column(col).null_count() == 0 and frame.get_column(col).is_unique().all()


def units(cost: str) -> tuple[str, float, str, str]:
    """(column drawn, factor, axis title, value format) of a cost column (unknown: itself, as is)."""
    return UNITS.get(cost, (cost, 1.0, TITLES.get(cost, cost), ".4g"))


def _config_label(frame: pl.DataFrame) -> pl.DataFrame:
    """`config` = "model quant"; `accuracy_mark` = measured here, or reported (base / instruct model), unless the
    rows name their own (cascades: `explorer.cascade.report.frontier_rows`)."""
    prov = pl.col("accuracy_provenance") if "accuracy_provenance" in frame.columns else pl.lit("measured")
    kind = pl.col("model_kind") if "model_kind" in frame.columns else pl.lit("base")
    mark = pl.when(prov == "reported").then(pl.format("reported ({})", kind.fill_null("base")))
    mark = mark.otherwise(pl.lit("measured"))
    own = pl.col("accuracy_mark") if "accuracy_mark" in frame.columns else pl.lit(None, dtype=pl.String)
    return frame.with_columns(
        pl.concat_str([pl.col("model"), pl.col("quant")], separator=" ").alias("config"),
        pl.coalesce(own, mark).alias("accuracy_mark"),
    )


def _tip_columns(frame: pl.DataFrame, accuracy: str) -> pl.DataFrame:
    """accuracy as '52.3% ± 5.0%' and provenance as 'accuracy measured, cost projected' (short tooltip)."""
    value = (pl.col(accuracy).cast(pl.Float64) * 100).round(1).cast(pl.String)
    if "stderr" in frame.columns:
        err = (pl.col("stderr").cast(pl.Float64) * 100).round(1).cast(pl.String)
        text = pl.when(pl.col("stderr").is_not_null()).then(pl.format("{}% ± {}%", value, err))
        text = text.otherwise(pl.format("{}%", value))
    else:
        text = pl.format("{}%", value)
    acc = pl.col("accuracy_mark").str.replace(r" \(.*", "")
    prov = pl.format("accuracy {}, cost {}", acc, pl.col("cost_provenance"))
    return frame.with_columns(text.alias("accuracy_text"), prov.alias("provenance"))


def _with_noise(data: pl.DataFrame, cost: str, accuracy: str) -> pl.DataFrame:
    """`noise_group` (per task, frontier points only; null elsewhere) and `noise_group_size`."""
    rows = data.with_row_index("_row")
    by = "task" if "task" in rows.columns else None
    slim = rows.select("_row", cost, pl.col(accuracy).alias("value"), *[c for c in ("stderr", "on_frontier", by)
                       if c and c in rows.columns])  # fmt: skip  # what noise_groups reads, the accuracy as "value"
    parts = [noise_groups(part, cost) for part in (slim.partition_by(by) if by else [slim])]
    kept = [p.select("_row", "noise_group", "noise_group_size") for p in parts if p.height]
    grouped = pl.concat(kept) if kept else pl.DataFrame()
    empty = [pl.lit(None, dtype=pl.Int64).alias(c) for c in ("noise_group", "noise_group_size")]
    out = rows.join(grouped, on="_row", how="left") if grouped.height else rows.with_columns(empty)
    if by:
        out = out.with_columns(pl.format("{}/{}", pl.col("task"), pl.col("noise_group")).alias("noise_group"))
    return out.sort("_row").drop("_row")


def _with_roles(data: pl.DataFrame, roles: Mapping[str, Mapping[str, Any] | None]) -> pl.DataFrame:
    """`role`: 'recommended' / 'baseline' on the rows of those deployments (the first role wins; the rows match
    as `explorer.analysis.headline.same_deployment` says: model, quant, hardware, provider, task)."""
    role = pl.lit(None, dtype=pl.String)
    for name, pick in reversed(list(roles.items())):
        if pick is None:
            continue
        keys = [k for k in ("model", "quant", "hardware", "provider", "task") if k in data.columns]
        same = pl.all_horizontal([pl.col(k).eq_missing(pl.lit(pick.get(k), dtype=data.schema[k])) for k in keys])
        role = pl.when(same).then(pl.lit(name)).otherwise(role)
    return data.with_columns(role.alias("role"))


def chart_data(
    frame: pl.DataFrame,
    cost: str = "monthly_usd",
    accuracy: str = ACCURACY,
    roles: Mapping[str, Mapping[str, Any] | None] | None = None,
) -> pl.DataFrame:
    """The rows `frontier_chart` draws, as it draws them (a UI swapping rows into a shown chart sends these):
    positive costs only, `on_frontier` per task unless given, the cost in its drawn unit (`units`), the accuracy
    bar (`accuracy_low`, `accuracy_high`: +- stderr), noise groups, `role` of the `roles` deployments, the derived
    `config` label and short tooltip texts, JSON-safe columns."""
    require_columns(frame, (cost, accuracy, "model", "quant"), "frontier_chart")
    data = positive(frame, cost)  # before the frontier: a point the log axis cannot show must not dominate
    if "on_frontier" not in data.columns:
        data = pareto_frontier(data, cost=cost, accuracy=accuracy, by=("task",) if "task" in data.columns else ())
    if "hardware" not in data.columns:
        data = data.with_columns(pl.lit("as measured").alias("hardware"))
    if "cost_provenance" not in data.columns:
        data = data.with_columns(pl.lit("measured").alias("cost_provenance"))
    shown, factor, _, _ = units(cost)
    scaled = [(pl.col(c) * factor).alias(c.replace(cost, shown)) for c in (cost, f"{cost}_optimistic")
              if c in data.columns and shown != cost]  # fmt: skip
    err = pl.col("stderr").cast(pl.Float64).fill_null(0.0) if "stderr" in data.columns else pl.lit(0.0)
    data = data.with_columns(*scaled, (pl.col(accuracy) - err).alias("accuracy_low"),
                             (pl.col(accuracy) + err).alias("accuracy_high"))  # fmt: skip
    mid = data.select(pl.col(cost).cast(pl.Float64).log().mean()).item() if data.height else 0.0
    side = pl.when(pl.col(cost).cast(pl.Float64).log() <= mid).then(pl.lit("left")).otherwise(pl.lit("right"))
    data = data.with_columns(side.alias("label_align"))
    data = _with_noise(data.drop("noise_group", "noise_group_size", strict=False), cost, accuracy)
    if roles is not None or "role" not in data.columns:  # the rows of an earlier chart_data keep their roles
        data = _with_roles(data, roles or {})
    return chartable(_tip_columns(_config_label(data), accuracy))


def _short_tooltip(shown: str, title: str, fmt: str) -> list[alt.Tooltip]:
    return [alt.Tooltip("config:N", title="deployment"), alt.Tooltip("hardware:N", title="hardware"),
            alt.Tooltip("accuracy_text:N", title="accuracy ± stderr"), alt.Tooltip(f"{shown}:Q", title=title,
            format=fmt), alt.Tooltip("provenance:N", title="provenance")]  # fmt: skip


def _axes(data: pl.DataFrame, cost: str, accuracy: str) -> tuple[alt.X, alt.Y]:
    shown, _, title, _ = units(cost)
    money = cost in UNITS and "usd" in cost
    axis = alt.Axis(labelExpr=MONEY_LABELS) if money else alt.Axis(format=",.4~r") if cost in UNITS else alt.Axis()
    x = alt.X(f"{shown}:Q", scale=alt.Scale(type="log", nice=False, padding=16), title=title, axis=axis)
    y_scale = alt.Scale(zero=False, nice=False, padding=16)
    y = alt.Y(f"{accuracy}:Q", scale=y_scale, title=TITLES.get(accuracy, accuracy), axis=alt.Axis(format="~%"))
    return x, y


def _guide_layers(base: alt.Chart, x: alt.X, y: alt.Y, cost: str, by_task: bool) -> list[alt.Chart]:
    """The noise groups (a wide pale band through the frontier points within noise of each other) and the Pareto
    step line, with one legend ("guide")."""
    shown = units(cost)[0]
    per_task = {"detail": "task:N"} if by_task else {}
    width = alt.StrokeWidth("guide:N", scale=GUIDES, title="guide", legend=alt.Legend(symbolStrokeColor="#777"))
    noisy = base.transform_filter("datum.noise_group_size > 1")
    band = (noisy.transform_calculate(guide="'within noise (1.96 stderr)'")
            .mark_line(color="#9ecae9", opacity=0.45, strokeCap="round", strokeJoin="round")
            .encode(x=x, y=y, strokeWidth=width, detail="noise_group:N", order=alt.Order(f"{shown}:Q")))  # fmt: skip
    line = (base.transform_filter(alt.FieldEqualPredicate(field="on_frontier", equal=True))
            .transform_calculate(guide="'Pareto frontier'")
            .mark_line(interpolate="step-after", color="black", opacity=0.6)
            .encode(x=x, y=y, strokeWidth=width, order=alt.Order(f"{shown}:Q"), **per_task))  # fmt: skip
    return [band, line]  # one line per task, also when not faceted


def _highlights(base: alt.Chart, x: alt.X, y: alt.Y) -> list[alt.Chart]:
    """A ring round the recommended and the baseline deployment, and their names written beside them, towards
    the middle of the plot (so that no name runs off its edge): the recommended's above its point, the baseline's
    below (so that two close points do not write over each other)."""
    marked = base.transform_filter("isValid(datum.role)")
    ring = marked.mark_point(filled=False, size=520, strokeWidth=2.2, color="black").encode(
        x=x, y=y, strokeDash=alt.StrokeDash("role:N", scale=ROLES, title="highlighted"))  # fmt: skip
    labels = [
        marked.transform_filter(alt.FieldEqualPredicate(field="label_align", equal=align))
        .transform_filter(alt.FieldEqualPredicate(field="role", equal=role))
        .transform_calculate(label="datum.role + ': ' + datum.config")
        .mark_text(align=align, dx=dx, dy=dy, fontSize=12, fontWeight="bold")
        .encode(x=x, y=y, text=alt.Text("label:N"))
        for align, dx in (("left", 14), ("right", -14))
        for role, dy in (("recommended", -14), ("baseline", 22))
    ]
    return [ring, *labels]


def _provenance_legend(base: alt.Chart) -> alt.Chart:
    """The legend of filled (cost measured) and hollow (projected) points, which Vega-Lite does not draw for the
    points' fillOpacity: an invisible layer of one mark per provenance (aggregated in the browser), its fill the
    legend's."""
    fill = alt.Scale(domain=PROVENANCE_FILL.domain, range=["#555", "#fff"])
    legend = alt.Legend(symbolType="circle", symbolStrokeColor="#555", symbolOpacity=1.0)
    return (base.transform_aggregate(n="count()", groupby=["cost_provenance"])
            .mark_point(filled=True, opacity=0, aria=False)
            .encode(fill=alt.Fill("cost_provenance:N", scale=fill, title=PROVENANCE_TITLE, legend=legend)))  # fmt: skip


def frontier_chart(
    frame: pl.DataFrame,
    cost: str = "monthly_usd",
    accuracy: str = ACCURACY,
    facet: str | None = "task",
    title: str | None = None,
    roles: Mapping[str, Mapping[str, Any] | None] | None = None,
    subtitle: Sequence[str] = (),
) -> alt.LayerChart | alt.FacetChart:
    """Accuracy vs `cost` (log x, human units) for every hardware at once: colour = hardware, shape = where the
    accuracy comes from (measured here; reported, base or instruct model), filled = cost measured on that
    hardware, hollow = projected (with a bar from its optimistic to its conservative cost where
    `{cost}_optimistic` exists), a vertical bar of +- stderr, the Pareto frontier as a step line, frontier points
    within noise of each other joined by a pale band, the `roles` deployments (recommended, baseline) ringed and
    named, a short tooltip and a click selection "pick". `on_frontier` is computed per task unless the frame has
    it. Points without a positive cost are left out. `subtitle`: lines under the title (the settings)."""
    shown, _, axis_title, fmt = units(cost)
    full = chart_data(frame, cost, accuracy, roles)
    data = dense_rows(full, shown, accuracy)  # above DENSE_ROWS: featured points + a density of the rest
    pick_fields = ["cell_id"] if _unique_ids(full, "cell_id") else [*config_columns(full), "task"]
    pick = alt.selection_point(name=PICK, fields=[f for f in pick_fields if f in data.columns], on="click",
                               clear="dblclick")  # fmt: skip
    x, y = _axes(data, cost, accuracy)
    color = alt.Color("hardware:N", title="hardware", scale=alt.Scale(range=HARDWARE_COLOURS))
    base = point_rows(alt.Chart(data), data)
    points = point_rows(alt.Chart(data, name="points"), data).mark_point(filled=True, size=90, strokeWidth=1.6).encode(
        x=x, y=y, color=color, stroke=alt.Stroke("hardware:N", legend=None),
        shape=alt.Shape("accuracy_mark:N", scale=ACCURACY_MARKS, title="accuracy from"),
        fillOpacity=alt.FillOpacity("cost_provenance:N", scale=PROVENANCE_FILL, title=PROVENANCE_TITLE, legend=None),
        tooltip=_short_tooltip(shown, axis_title, fmt), opacity=alt.condition(pick, alt.value(1.0), alt.value(0.35)),
    ).add_params(pick)  # fmt: skip
    errors = (
        base.transform_filter("datum.accuracy_high > datum.accuracy_low")
        .mark_rule(opacity=0.5)
        .encode(x=x, y=alt.Y("accuracy_low:Q", title=TITLES.get(accuracy, accuracy)), y2="accuracy_high:Q", color=color)
    )
    layers: list[alt.Chart] = [*density_layer(data, x, y), *_guide_layers(base, x, y, cost, "task" in data.columns),
                               errors]  # fmt: skip
    low = f"{shown}_optimistic"
    if low in data.columns:
        ranged = alt.FieldEqualPredicate(field="cost_provenance", equal="projected")
        layers.append(base.transform_filter(ranged).mark_rule(strokeWidth=1.2, opacity=0.45).encode(
            x=alt.X(f"{low}:Q", scale=alt.Scale(type="log", nice=False, padding=16), title=axis_title),
            x2=f"{shown}:Q", y=y, color=color))  # fmt: skip
    layered = alt.layer(*layers, points, *_highlights(base, x, y), _provenance_legend(base))
    head = alt.TitleParams(title or f"Accuracy vs {axis_title}", subtitle=list(subtitle), anchor="start")
    if facet is not None and facet in data.columns and data.get_column(facet).n_unique() > 1:
        chart = layered.facet(facet=alt.Facet(f"{facet}:N", title=None), columns=3)
        return chart.resolve_scale(y="independent").properties(title=head)
    return layered.properties(title=head, width=560, height=360)


def relative_chart(
    frame: pl.DataFrame,
    cost: str = "monthly_usd",
    accuracy: str = ACCURACY,
    by: Sequence[str] = ("task",),
    target_fraction: float = 0.9,
) -> alt.LayerChart:
    """The "90% of the accuracy at 1% of the cost" view: accuracy / best accuracy of the group against
    cost / cost of the most accurate point (log x), with a rule at `target_fraction`."""
    by = tuple(c for c in by if c in frame.columns)
    data = relative_to_best(frame, cost=cost, accuracy=accuracy, by=by)
    data = chartable(_config_label(positive(data, "relative_cost")))
    by_hw = "hardware" in data.columns  # the frontier chart's twelve distinct colours (tableau10 repeats two)
    colour = alt.Color("hardware:N", scale=alt.Scale(range=HARDWARE_COLOURS)) if by_hw else alt.Color("model:N")
    points = (
        alt.Chart(data, name="points")
        .mark_point(filled=True, size=80)
        .encode(
            x=alt.X("relative_cost:Q", scale=alt.Scale(type="log"), title="cost / cost of the most accurate"),
            y=alt.Y(
                "relative_accuracy:Q",
                scale=alt.Scale(zero=False),
                axis=alt.Axis(format="%"),
                title="accuracy / best accuracy",
            ),  # fmt: skip
            color=colour,
            shape=alt.Shape("accuracy_mark:N", scale=ACCURACY_MARKS, title="accuracy from"),
            tooltip=tooltip(data, ("relative_accuracy", "relative_cost", cost, accuracy, *TOOLTIP_FIELDS)),
        )
    )
    rule = (
        alt.Chart(pl.DataFrame({"target": [target_fraction]}))
        .mark_rule(strokeDash=[4, 4], color="gray")
        .encode(y="target:Q")
    )
    return alt.layer(rule, points).properties(title="Relative accuracy vs relative cost", width=520, height=340)
