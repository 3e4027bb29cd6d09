"""The frontier chart (accuracy against what a deployment costs, every hardware at once) and the relative view.

The frontier chart carries a click selection named "pick" (on `cell_id` where it names every point once, else on
the configuration and task columns), so a UI can read which point was clicked
(`alt.JupyterChart(chart).selections.pick`).
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import polars as pl

from explorer.analysis.columns import require_columns
from explorer.analysis.frontier import ACCURACY, config_columns, pareto_frontier, relative_to_best
from explorer.charts.common import TITLES, chartable, positive, tooltip

PICK = "pick"
PROVENANCE_FILL = alt.Scale(domain=["measured", "projected"], range=[0.95, 0.08])
TOOLTIP_FIELDS = (
    "model",
    "quant",
    "hardware",
    "provider",
    "task",
    "value",
    "stderr",
    "replicas",
    "monthly_usd",
    "monthly_usd_optimistic",
    "effective_usd_per_query",
    "marginal_usd_per_query",
    "usd_per_correct",
    "utilisation",
    "idle_share",
    "latency_s",
    "accuracy_provenance",
    "model_kind",
    "quant_method",
    "quant_backend",
    "source",
    "cost_provenance",
    "service_source",
)


def _unique_ids(frame: pl.DataFrame, col: str) -> bool:
    return col in frame.columns and frame.get_column(col).null_count() == 0 and frame.get_column(col).is_unique().all()


ACCURACY_MARKS = alt.Scale(domain=["measured", "reported (base)", "reported (instruct)", "cascade (held-out)",
                                   "oracle router (bound)"],
                           range=["circle", "diamond", "triangle-up", "square", "cross"])  # fmt: skip


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


def chart_data(frame: pl.DataFrame, cost: str = "monthly_usd", accuracy: str = ACCURACY) -> pl.DataFrame:
    """The rows `frontier_chart` draws, as it draws them (a UI swapping rows into a shown chart sends these):
    positive costs only, `on_frontier` per task unless given, the derived `config` label, JSON-safe columns."""
    require_columns(frame, (cost, accuracy, "model", "quant"), "frontier_chart")
    data = positive(frame, cost)  # before the frontier: a point the log axis cannot show must not dominate
    if "on_frontier" not in data.columns:
        data = pareto_frontier(data, cost=cost, accuracy=accuracy, by=("task",) if "task" in data.columns else ())
    if "hardware" not in data.columns:
        data = data.with_columns(pl.lit("as measured").alias("hardware"))
    if "cost_provenance" not in data.columns:
        data = data.with_columns(pl.lit("measured").alias("cost_provenance"))
    return chartable(_config_label(data))


def frontier_chart(
    frame: pl.DataFrame,
    cost: str = "monthly_usd",
    accuracy: str = ACCURACY,
    facet: str | None = "task",
    title: str | None = None,
) -> alt.LayerChart | alt.FacetChart:
    """Accuracy vs `cost` (log x) for every hardware at once: colour = hardware, shape = where the accuracy comes
    from (measured here; reported, base or instruct model), filled = cost measured on that hardware, hollow =
    projected (with a bar from its optimistic to its conservative cost where `{cost}_optimistic` exists), the
    Pareto frontier as a step line over the `on_frontier` points, a tooltip of the deployment's figures and a
    click selection "pick".

    `on_frontier` is computed per task unless the frame has it. Points without a positive cost are left out."""
    data = chart_data(frame, cost, accuracy)
    pick_fields = ["cell_id"] if _unique_ids(data, "cell_id") else [*config_columns(data), "task"]
    pick = alt.selection_point(name=PICK, fields=[f for f in pick_fields if f in data.columns], on="click",
                               clear="dblclick")  # fmt: skip
    x = alt.X(f"{cost}:Q", scale=alt.Scale(type="log"), title=TITLES.get(cost, cost))
    y = alt.Y(f"{accuracy}:Q", scale=alt.Scale(zero=False), title=TITLES.get(accuracy, accuracy))
    color = alt.Color("hardware:N", title="hardware", scale=alt.Scale(scheme="tableau20"))
    base = alt.Chart(data)
    points = (
        base.mark_point(filled=True, size=90, strokeWidth=1.6)
        .encode(
            x=x,
            y=y,
            color=color,
            stroke=alt.Stroke("hardware:N", legend=None),
            shape=alt.Shape("accuracy_mark:N", scale=ACCURACY_MARKS, title="accuracy from"),
            fillOpacity=alt.FillOpacity("cost_provenance:N", scale=PROVENANCE_FILL, title="cost"),
            tooltip=tooltip(data, (cost, accuracy, *TOOLTIP_FIELDS)),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.35)),
        )
        .add_params(pick)
    )
    layers: list[alt.Chart] = []
    low = f"{cost}_optimistic"
    if low in data.columns:
        ranged = alt.FieldEqualPredicate(field="cost_provenance", equal="projected")
        layers.append(
            base.transform_filter(ranged)
            .mark_rule(strokeWidth=1.2, opacity=0.45)
            .encode(
                x=alt.X(f"{low}:Q", scale=alt.Scale(type="log"), title=TITLES.get(cost, cost)),
                x2=f"{cost}:Q",
                y=y,
                color=color,
            )  # fmt: skip
        )
    line = (
        base.transform_filter(alt.FieldEqualPredicate(field="on_frontier", equal=True))
        .mark_line(interpolate="step-after", color="black", strokeWidth=1.5, opacity=0.6)
        .encode(x=x, y=y, order=alt.Order(f"{cost}:Q"), **({"detail": "task:N"} if "task" in data.columns else {}))
    )  # one line per task, also when not faceted
    layered = alt.layer(*layers, line, points)
    name = title or f"Accuracy vs {TITLES.get(cost, cost)}"
    if facet is not None and facet in data.columns and data.get_column(facet).n_unique() > 1:
        chart = layered.facet(facet=alt.Facet(f"{facet}:N", title=None), columns=3)
        return chart.resolve_scale(y="independent").properties(title=name)
    return layered.properties(title=name, width=520, height=340)


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
    colour = "hardware:N" if "hardware" in data.columns else "model:N"
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
            ),  # fmt: skip
            color=alt.Color(colour),
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
