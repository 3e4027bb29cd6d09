"""What every chart shares: axis titles, the rows a chart can carry, tooltips, and the PNG / SVG export."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import altair as alt
import polars as pl

TITLES = {
    "monthly_usd": "USD per month (fleet)",
    "effective_usd_per_query": "USD per query (bill / queries)",
    "marginal_usd_per_query": "USD per query (busy seconds only)",
    "usd_per_correct": "USD per correct answer",
    "value": "accuracy",
    "stderr": "stderr",
    "replicas": "replicas",
    "utilisation": "utilisation",
    "idle_share": "idle share",
    "idle_usd_per_month": "idle USD per month",
    "latency_s": "latency (s)",
    "service_s_per_query": "service s per query",
    "peak_mem_bytes": "peak memory (bytes)",
    "weight_bytes": "weights (bytes)",
    "efficiency": "share of roofline",
}
PERCENT = frozenset({"utilisation", "idle_share"})


def positive(frame: pl.DataFrame, col: str) -> pl.DataFrame:
    """Rows a log axis can show: finite and > 0."""
    value = pl.col(col).cast(pl.Float64)
    return frame.filter(value.is_not_null() & value.is_finite() & (value > 0))


def chartable(frame: pl.DataFrame) -> pl.DataFrame:
    """Columns Vega-Lite data can carry (no lists, structs, binary); NaN -> null (JSON has no NaN)."""
    keep = [name for name, dtype in frame.schema.items() if not dtype.is_nested() and dtype != pl.Binary]
    out = frame.select(keep)
    return out.with_columns(pl.col(c).fill_nan(None) for c, t in out.schema.items() if t.is_float())


def tooltip(frame: pl.DataFrame, names: Sequence[str]) -> list[alt.Tooltip]:
    """Tooltips for the named columns present: floats at 4 significant digits, shares as %, titles readable."""
    tips = []
    for name in dict.fromkeys(names):
        if name not in frame.columns:
            continue
        dtype, title = frame.schema[name], TITLES.get(name, name.replace("_", " "))
        if name in PERCENT:
            tips.append(alt.Tooltip(f"{name}:Q", format=".1%", title=title))
        elif dtype.is_float():
            tips.append(alt.Tooltip(f"{name}:Q", format=".4g", title=title))
        elif dtype.is_integer():
            tips.append(alt.Tooltip(f"{name}:Q", format=",", title=title))
        else:
            tips.append(alt.Tooltip(f"{name}:N", title=title))
    return tips


def save_chart(chart: alt.TopLevelMixin, path: str | Path, scale: float = 2.0) -> Path:
    """Write `chart` as PNG or SVG (from the suffix) with vl-convert, offline; returns the path."""
    import vl_convert as vlc

    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise ValueError(f"save_chart: unsupported suffix {out.suffix!r} for {out} (use .png or .svg)")
    with alt.data_transformers.disable_max_rows():
        spec = chart.to_dict()
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".png":
        out.write_bytes(vlc.vegalite_to_png(spec, scale=scale))
    else:
        out.write_text(vlc.vegalite_to_svg(spec))
    return out
