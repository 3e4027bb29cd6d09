"""Bar views: what each hardware's cheapest deployment bills (busy vs idle capacity) and the share of the
roofline each measurement reached."""

from __future__ import annotations

import altair as alt
import polars as pl

from explorer.analysis.columns import require_columns
from explorer.analysis.frontier import config_columns
from explorer.charts.common import chartable, tooltip

BILL_TIPS = ("hardware", "model", "quant", "replicas", "monthly_usd", "monthly_usd_optimistic", "utilisation",
             "idle_share", "idle_usd_per_month", "value", "cost_provenance")  # fmt: skip


def bill_chart(rows: pl.DataFrame, title: str | None = None) -> alt.Chart:
    """One horizontal bar per hardware: its deployment's monthly bill split into the part that pays for busy
    seconds and the part that pays for idle capacity (log-free, USD). `rows`: one deployment per hardware (e.g. the
    answer's per-hardware picks), with hardware, monthly_usd and idle_usd_per_month."""
    require_columns(rows, ("hardware", "monthly_usd", "idle_usd_per_month"), "bill_chart")
    data = rows.filter(pl.col("monthly_usd").is_not_null()).with_columns(
        (pl.col("monthly_usd") - pl.col("idle_usd_per_month")).alias("busy"), pl.col("idle_usd_per_month").alias("idle")
    )
    keep = [c for c in (*BILL_TIPS, "busy", "idle") if c in data.columns]
    long = chartable(data.select(keep)).unpivot(
        index=[c for c in keep if c not in ("busy", "idle")], on=["busy", "idle"], variable_name="capacity",
        value_name="usd_per_month",
    )  # fmt: skip
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("sum(usd_per_month):Q", stack="zero", title="USD per month"),
            y=alt.Y("hardware:N", sort=alt.EncodingSortField("monthly_usd", op="max"), title=None),
            color=alt.Color(
                "capacity:N",
                scale=alt.Scale(domain=["busy", "idle"], range=["#4c78a8", "#d8d8d8"]),
                title="paid for",
            ),  # fmt: skip
            tooltip=tooltip(long, ("capacity", "usd_per_month", *BILL_TIPS)),
        )
        .properties(title=title or "Monthly bill per hardware: busy vs idle capacity", width=480)
    )


def efficiency_chart(frame: pl.DataFrame, col: str = "efficiency") -> alt.Chart:
    """Horizontal bars of % of roofline per configuration where it was measured (one bar per task when there
    are several; one bar per measured row: hardware copies of a row are dropped)."""
    require_columns(frame, (col, "model", "quant"), "efficiency_chart")
    keys = [c for c in config_columns(frame) if c not in ("hardware", "provider")]
    data = frame.filter(pl.col(col).cast(pl.Float64).is_finite())
    if "cell_id" in data.columns:
        data = data.unique(subset=["cell_id"], keep="first", maintain_order=True)
    parts = [pl.col(k).cast(pl.String).fill_null("?") for k in keys]
    data = chartable(data.with_columns(pl.concat_str(parts, separator=" / ").alias("config")))
    multi_task = "task" in data.columns and data.get_column("task").n_unique() > 1
    encoding: dict = {
        "x": alt.X(f"{col}:Q", axis=alt.Axis(format="%"), title="% of roofline"),
        "y": alt.Y("config:N", sort="-x", title=None),
        "color": alt.Color("task:N" if multi_task else "model:N"),
        "tooltip": tooltip(data, ("config", col, "task", "device_name", "roofline_bound", "efficiency_note")),
    }
    if multi_task:
        encoding["yOffset"] = alt.YOffset("task:N")
    return alt.Chart(data).mark_bar().encode(**encoding).properties(title="Share of the roofline reached", width=420)


QUANT_TIPS = ("family", "model", "study", "quant", "base_quant", "value", "base_value", "accuracy_lost_points",
              "bill_saved", "hardware", "accuracy_provenance", "cost_provenance")  # fmt: skip


def quant_chart(view: pl.DataFrame, title: str | None = None) -> alt.Chart:
    """What each quantization level buys (`explorer.analysis.claim.quant_view`): bill saved (x) against accuracy
    lost in points (y) versus the level's own study baseline; colour = model family, shape = level."""
    require_columns(view, ("bill_saved", "accuracy_lost_points", "family", "level"), "quant_chart")
    data = chartable(view)
    return (
        alt.Chart(data)
        .mark_point(filled=True, size=80)
        .encode(
            x=alt.X("bill_saved:Q", axis=alt.Axis(format="%"), title="bill saved vs its bf16/fp16 baseline"),
            y=alt.Y("accuracy_lost_points:Q", title="accuracy lost (points)"),
            color=alt.Color("family:N", title="family", scale=alt.Scale(scheme="tableau10")),
            shape=alt.Shape("level:N", title="level"),
            tooltip=tooltip(data, QUANT_TIPS),
        )
        .properties(title=title or "What quantization buys: bill saved vs accuracy lost", width=480, height=320)
    )


def cascade_chart(curve: pl.DataFrame, chosen: float | None = None, title: str | None = None) -> alt.VConcatChart:
    """A cascade's held-out accuracy, monthly bill and escalation rate against the first tier's threshold (one
    panel each, shared x), with a rule at the `chosen` threshold. `curve`: `cascade_report(...)["curve"]` rows."""
    require_columns(curve, ("threshold", "accuracy", "monthly_usd", "escalation_rate"), "cascade_chart")
    t = pl.col("threshold").cast(pl.Float64, strict=False)  # "never" (JSON) or inf: no point on a threshold axis
    data = chartable(curve.with_columns(t).filter(t.is_finite()))
    x = alt.X("threshold:Q", title="first tier answers when its confidence >= threshold")
    panels = []
    for col, name, fmt in (("accuracy", "accuracy (held out)", ".2f"), ("monthly_usd", "USD per month", "$,.0f"),
                           ("escalation_rate", "escalation rate", "%")):  # fmt: skip
        line = alt.Chart(data).mark_line(point=True, interpolate="step-after").encode(
            x=x, y=alt.Y(f"{col}:Q", title=name, axis=alt.Axis(format=fmt), scale=alt.Scale(zero=False)),
            tooltip=tooltip(data, ("threshold", "accuracy", "monthly_usd", "escalation_rate", "strong_share")),
        )  # fmt: skip
        layers = [line]
        if chosen is not None and chosen == chosen and abs(chosen) != float("inf"):
            rule = alt.Chart(pl.DataFrame({"threshold": [float(chosen)]})).mark_rule(strokeDash=[4, 3], color="black")
            layers.append(rule.encode(x="threshold:Q"))
        panels.append(alt.layer(*layers).properties(width=480, height=120))
    return alt.vconcat(*panels).properties(title=title or "Cascade: accuracy, bill and escalation vs threshold")
