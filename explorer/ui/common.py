"""Widget helpers shared by the explore and sweep panels: offline charts, HTML tables, download links."""

from __future__ import annotations

import base64
import html
from typing import Any

import altair as alt
import polars as pl

BIG = 2000  # above this many points the chart carries a shorter tooltip (smaller payload, faster redraw)


def jupyter_chart(chart: alt.TopLevelMixin | None = None, **kwargs: Any) -> alt.JupyterChart:
    """An offline JupyterChart (vega bundled by vl-convert, no CDN), SVG renderer."""
    alt.JupyterChart.enable_offline()  # once per process (~2 s)
    return alt.JupyterChart(chart, embed_options={"renderer": "svg", "actions": False}, **kwargs)


def set_chart(jchart: alt.JupyterChart, chart: alt.TopLevelMixin, points: int = 0) -> None:
    """Replace the chart in place (no 5000-row limit: the data is ours and already slim). Above BIG `points` the
    browser draws on a canvas (one element instead of one SVG path per point: redraws several times faster)."""
    renderer = "canvas" if points > BIG else "svg"
    with alt.data_transformers.disable_max_rows(), jchart.hold_sync():
        if (jchart.embed_options or {}).get("renderer") != renderer:
            jchart.embed_options = {**(jchart.embed_options or {}), "renderer": renderer}
        jchart.chart = chart


def _text(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else "" if v is None else str(v)


def html_table(frame: pl.DataFrame, columns: tuple[str, ...] | None = None, max_rows: int = 40) -> str:
    """A small HTML table (numbers at 4 significant digits); says how many rows were left out."""
    cols = [c for c in (columns or frame.columns) if c in frame.columns]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)

    def cell(v: Any) -> str:
        return f"<td>{html.escape(_text(v))}</td>"

    body = "".join(
        "<tr>" + "".join(cell(r[c]) for c in cols) + "</tr>" for r in frame.head(max_rows).iter_rows(named=True)
    )
    more = f"<p>... {frame.height - max_rows} more rows</p>" if frame.height > max_rows else ""
    return f"<table class='explorer-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def download_link(data: bytes, filename: str, mime: str) -> str:
    """An <a download> with the bytes inline (data: URI): works in Voila without a file server."""
    b64 = base64.b64encode(data).decode()
    name = html.escape(filename)
    return f"<a download='{name}' href='data:{mime};base64,{b64}' class='explorer-download'>download {name}</a>"
