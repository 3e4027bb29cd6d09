"""The explore widget: frontier chart, filters, hardware / price / traffic, recommendation, detail, export.

All logic lives here; notebooks/explore.ipynb only builds `ExploreApp` and displays it. Charts are shown with
`alt.JupyterChart` in offline mode (the browser needs no internet). Redraws send as little as they can: a price or
traffic change sends two numbers (costs are linear in both; Vega params `price_factor` / `traffic_factor` rescale
the cost fields in the browser); filters, hardware and the chance toggle send only the new rows while the chart
keeps its shape (`_swap_rows`); a new spec goes out only when the shape changes (view, facets, columns).
"""

from __future__ import annotations

import contextlib
import html
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import altair as alt
import ipywidgets as w
import polars as pl
import traitlets

from explorer.analysis import charts, frontier
from explorer.analysis.hardware import Catalog, load_catalog
from explorer.analysis.pipeline import cost_table, frontier_report, read_ceilings
from explorer.records.store import load_evals, load_samples
from explorer.ui.common import BIG, _money, _text, download_link, html_table, jupyter_chart, set_chart, with_cost_params

REPO_ROOT = Path(__file__).resolve().parents[2]
AS_MEASURED = "as measured"
DEFAULT_USD_PER_HOUR = 0.10  # price of the measuring machine when no catalog entry matches it (editable)
VIEWS = ("frontier", "mean over tasks", "relative", "efficiency")
SHORT_TIPS = ("model", "quant", "task", "value", "stderr", "usd_per_1k_queries", "monthly_usd")  # one hardware
TABLE_COLUMNS = ("task", "model", "quant", "hardware", "value", "usd_per_1k_queries", "monthly_usd", "cost_provenance")
SAMPLE_COLUMNS = ("task", "doc_id", "target", "pred", "correct", "confidence")


def default_results_dir() -> Path:
    """EXPLORER_RESULTS, else the shipped demo results (data/demo_cpu)."""
    return Path(os.environ.get("EXPLORER_RESULTS") or REPO_ROOT / "data" / "demo_cpu")


class ExploreApp(w.VBox):
    """Explore a results folder: set the controls (or their `.value` from Python) and read `table`, `report`,
    `recommendation`, `chart`, `selected` and `samples`. `read_only=True` leaves out every free-text path (exports
    become downloads)."""

    read_only = traitlets.Bool(False)
    results_dir = traitlets.Unicode()

    def __init__(self, results_dir: str | Path | None = None, read_only: bool = False, catalog: Catalog | None = None):
        super().__init__(layout=w.Layout(width="100%"))
        self.catalog = catalog or load_catalog()
        self.table = pl.DataFrame()
        self.report: dict[str, Any] = {}
        self.recommendation: dict[str, Any] | None = None
        self._chart: alt.TopLevelMixin | None = None
        self._chart_rows = pl.DataFrame()
        self.selected = pl.DataFrame()
        self.samples = pl.DataFrame()
        self._cache: dict[tuple, tuple[pl.DataFrame, float, float]] = {}
        self._chart_prices, self._chart_view, self._chart_shape = (1.0, 1.0), "", None
        self._busy = False
        self._build_controls()
        self.jchart = jupyter_chart()
        self.set_trait("read_only", read_only)
        self.children = self._layout()
        self.results_dir = str(results_dir or default_results_dir())  # loads, fills options, draws

    # ---------------------------------------------------------------- widgets
    def _build_controls(self) -> None:
        sel = dict(rows=5, layout=w.Layout(width="210px"))
        self.tasks, self.models, self.quants = (
            w.SelectMultiple(description=d, **sel) for d in ("tasks", "models", "quant")
        )
        self.hardware = w.Dropdown(description="hardware", options=[AS_MEASURED, *self.catalog.names])
        self.provider = w.Dropdown(description="provider", options=[("cheapest", None)])
        slider = dict(continuous_update=False, style={"description_width": "110px"}, layout=w.Layout(width="380px"))
        price = dict(value=DEFAULT_USD_PER_HOUR, min=-3, max=2, step=0.01, readout_format=".4g")
        self.price = w.FloatLogSlider(description="USD / hour", **price, **slider)
        traffic = dict(value=10_000, min=1, max=8, step=0.1, readout_format=",.0f")
        self.traffic = w.FloatLogSlider(description="queries / day", **traffic, **slider)
        self.target = w.FloatSlider(
            value=0.9, min=0.5, max=1.0, step=0.01, description="accuracy target", readout_format=".0%", **slider
        )
        self.chance = w.Checkbox(value=False, description="chance-normalised accuracy")
        self.view = w.ToggleButtons(options=VIEWS, value="frontier")
        self.dir_text = w.Text(description="results dir", layout=w.Layout(width="520px"))
        self.reload = w.Button(description="reload", icon="refresh")
        self.export_dir = w.Text(description="export to", layout=w.Layout(width="520px"))
        self.export_buttons = {fmt: w.Button(description=fmt) for fmt in ("CSV", "Parquet", "PNG", "SVG")}
        self.header, self.rec_html, self.detail_html, self.table_html, self.export_html, self.status = (
            w.HTML() for _ in range(6)
        )
        self.header.add_class("explorer-header")
        self.rec_html.add_class("explorer-recommendation")
        self.detail_html.add_class("explorer-detail")
        self.table_html.add_class("explorer-frontier-table")
        self.status.add_class("explorer-status")
        for ctl in (self.tasks, self.models, self.quants, self.chance, self.view):
            ctl.observe(lambda _: self._refresh("full"), "value")
        self.hardware.observe(self._on_pricing, "value")
        self.provider.observe(self._on_pricing, "value")
        self.price.observe(lambda _: self._refresh("price"), "value")
        self.traffic.observe(lambda _: self._refresh("price"), "value")
        self.target.observe(lambda _: self._refresh("target"), "value")
        self.reload.on_click(self._on_reload)
        for fmt, button in self.export_buttons.items():
            button.on_click(lambda _, fmt=fmt: self._on_export(fmt))

    def _layout(self) -> list[w.Widget]:
        """The children; read-only leaves out the path fields altogether (not just hidden: not in the page)."""
        editable = not self.read_only
        box = w.Layout(flex="0 0 auto", margin="0 12px 6px 0")
        filters = w.HBox([self.tasks, self.models, self.quants], layout=box)
        pricing = w.VBox([self.hardware, self.provider, self.price, self.traffic], layout=box)
        goal = w.VBox([self.target, self.chance, self.view], layout=box)
        export = [w.HBox([*self.export_buttons.values()]), *([self.export_dir] if editable else []), self.export_html]
        return [
            self.header,
            *([w.HBox([self.dir_text, self.reload])] if editable else []),
            w.HBox([filters, pricing, goal], layout=w.Layout(flex_flow="row wrap")),
            self.rec_html,
            self.jchart,
            self.detail_html,
            self.table_html,
            w.HTML("<b>export</b> the current table / chart" + (" (downloads)" if not editable else "")),
            w.VBox(export),
            self.status,
        ]

    @traitlets.observe("read_only")
    def _on_read_only(self, _: Any) -> None:
        self.children = self._layout()

    def shows(self, widget: w.Widget) -> bool:
        """Is `widget` part of the displayed tree?"""
        todo = list(self.children)
        while todo:
            item = todo.pop()
            if item is widget:
                return True
            todo.extend(getattr(item, "children", ()))
        return False

    # ---------------------------------------------------------------- data
    def _on_reload(self, _: Any) -> None:
        if self.read_only:  # hidden then, but a crafted widget message must not open paths either
            return
        if self.dir_text.value == self.results_dir:
            self._load(self.results_dir)  # re-read (new records)
        else:
            self.results_dir = self.dir_text.value

    @traitlets.observe("results_dir")
    def _on_results_dir(self, change: dict) -> None:
        self._load(change["new"])

    def _load(self, folder: str) -> None:
        self.dir_text.value = folder
        self.export_dir.value = str(Path(folder) / "exports")
        self.evals = load_evals(folder)
        self.ceilings = read_ceilings(folder)
        self._cache.clear()
        with self._quiet():
            for ctl, col in ((self.tasks, "task"), (self.models, "model"), (self.quants, "quant")):
                values = sorted(self.evals.get_column(col).drop_nulls().unique().to_list()) if col in self.evals else []
                ctl.options, ctl.value = values, tuple(values)
            self._set_catalog_price()
        ok = self.evals.filter(pl.col("status") == "ok").get_column("cell_id").n_unique() if self.evals.height else 0
        devices = ", ".join(sorted(self.evals.get_column("device_name").drop_nulls().unique().to_list())) or "none"
        self.header.value = (
            f"<p>{ok} measured cells in <code>{html.escape(Path(folder).name)}"
            f"</code>, measured on: {html.escape(devices)}. Click a point for its details and per-document results."
        )
        self._refresh("full")

    def _set_catalog_price(self) -> None:
        """Price slider <- the catalog price of the chosen hardware (and provider); the slider overrides it."""
        hw = self.hardware.value
        if hw == AS_MEASURED:
            self.provider.options, self.provider.disabled = [("n/a", None)], True
            devices = self.evals.get_column("device_name").drop_nulls().unique().to_list() if self.evals.height else []
            match = self.catalog.match_device(devices[0]) if len(devices) == 1 else None
            self.price.value = self.catalog.price(match)["usd_per_hour"] if match else DEFAULT_USD_PER_HOUR
            return
        providers = self.catalog.prices.filter(pl.col("name") == hw).get_column("provider").to_list()
        if [v for _, v in self.provider.options][1:] != providers:  # another hardware: its providers, cheapest
            self.provider.options = [("cheapest", None), *[(p, p) for p in providers]]
            self.provider.value = None
        self.provider.disabled = False
        self.price.value = self.catalog.price(hw, self.provider.value)["usd_per_hour"]

    def _on_pricing(self, _: Any) -> None:
        if self._busy:
            return
        with self._quiet():
            self._set_catalog_price()
        self._refresh("full")

    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        """Control changes inside do not refresh (one refresh after several changes)."""
        self._busy = True
        try:
            yield
        finally:
            self._busy = False

    def _priced(self) -> pl.DataFrame:
        """The cost table at the slider's price and traffic: computed once per (hardware, provider, filters), then
        rescaled (costs are linear in the price per hour; the monthly bill also in the traffic)."""
        hw = None if self.hardware.value == AS_MEASURED else self.hardware.value
        key = (hw, self.provider.value, self.tasks.value, self.models.value, self.quants.value)
        if key not in self._cache:
            rows = self.evals.filter(
                pl.col("task").is_in(list(self.tasks.value))
                & pl.col("model").is_in(list(self.models.value))
                & pl.col("quant").is_in(list(self.quants.value))
            )
            at = dict(usd_per_hour=self.price.value, queries_per_day=self.traffic.value, ceilings=self.ceilings)
            table = cost_table(rows, self.catalog, hardware=hw, provider=self.provider.value, **at)
            self._cache = {key: (table, self.price.value, self.traffic.value)}
        table, p0, q0 = self._cache[key]
        f, g = self.price.value / p0, self.traffic.value / q0
        return table.with_columns(
            pl.col("usd_per_query") * f, pl.col("usd_per_1k_queries") * f, pl.col("monthly_usd") * (f * g)
        )

    # ---------------------------------------------------------------- refresh
    def _refresh(self, what: str) -> None:
        """what: "full" (rebuild the chart), "price" (rescale costs), "target" (recommendation only)."""
        if self._busy or not hasattr(self, "evals"):
            return
        try:
            if what != "target" or self.table.is_empty():
                table = self._priced()
                self.table = frontier.chance_normalise(table) if self.chance.value else table
            self._recommend()
            if what == "full":
                self._draw()
            elif what == "price" and self._chart_view in VIEWS[:2]:  # costs on the x axis: rescale in the browser
                p0, q0 = self._chart_prices
                self.jchart.params.price_factor = self.price.value / p0
                self.jchart.params.traffic_factor = self.traffic.value / q0
            self.status.value = ""
        except (ValueError, KeyError) as exc:
            self.status.value = f"<span style='color:#b00'>{html.escape(str(exc))}</span>"

    def _single_task(self) -> str | None:
        tasks = self.table.get_column("task").unique().to_list() if self.table.height else []
        return tasks[0] if len(tasks) == 1 else None

    def _recommend(self) -> None:
        if self.table.is_empty():
            self.report, self.recommendation = {}, None
            self.rec_html.value = self.table_html.value = "<p>no configuration matches the filters</p>"
            return
        self.report = frontier_report(self.table, task=self._single_task(), target_fraction=self.target.value)
        rec = self.recommendation = self.report["recommendation"]
        chosen = " / ".join(str(v) for v in rec["chosen"].values() if v is not None)
        bill = "n/a" if rec.get("monthly_usd") is None else f"{_money(rec['monthly_usd'])}/month"
        norm = " (chance-normalised accuracy)" if self.chance.value else ""
        self.rec_html.value = (
            f"<p><b>Recommended</b> at {self.target.value:.0%} of the best accuracy{norm}: <b>{html.escape(chosen)}"
            f"</b>, monthly bill <b>{bill}</b> at {self.traffic.value:,.0f} queries/day</p>"
            f"<pre>{html.escape(frontier.format_recommendation(rec).replace(frontier.MEAN_TASK, 'all tasks'))}</pre>"
        )
        front = self.report["per_task"].filter(pl.col("on_frontier"))
        self.table_html.value = "<b>frontier configurations</b>" + html_table(front, TABLE_COLUMNS)

    def _chart_frame(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The columns the chart shows (a shorter tooltip above BIG points); NaN -> null (JSON has no NaN)."""
        tips = SHORT_TIPS if frame.height > BIG else charts.TOOLTIP_FIELDS
        size = ["peak_mem_bytes"] if "peak_mem_bytes" in frame and frame["peak_mem_bytes"].drop_nulls().len() else []
        keep = ["cell_id", "on_frontier", frontier.COST, *(size or ["weight_bytes"]), *tips]
        out = frame.select([c for c in dict.fromkeys(keep) if c in frame.columns])
        return out.with_columns(pl.col(c).fill_nan(None) for c, t in out.schema.items() if t.is_float())

    @property
    def chart(self) -> alt.TopLevelMixin | None:
        """The Altair chart on show (built on demand after a row swap, which does not need it)."""
        if self._chart is None and not self._chart_rows.is_empty():
            self._chart = with_cost_params(charts.frontier_chart(self._chart_rows))
        return self._chart

    def _draw(self) -> None:
        if self.table.is_empty():
            return
        view, shape, self._chart, self._chart_rows = self.view.value, None, None, pl.DataFrame()
        if view == "efficiency":
            if "efficiency" not in self.table.columns or self.table.get_column("efficiency").drop_nulls().len() == 0:
                raise ValueError("no efficiency: measure the ceilings of the machine (explorer ceilings --out DIR)")
            self._chart, points = charts.efficiency_chart(self.table), self.table.height
        elif view == "relative":
            frame = self._chart_frame(self.table)
            self._chart, points = charts.relative_chart(frame, target_fraction=self.target.value), frame.height
        else:
            data = self.report["per_task"]
            if view == "mean over tasks":
                data = self.report["aggregate"] if self.report["aggregate"] is not None else data
            cost = pl.col(frontier.COST).cast(pl.Float64)  # the points a log axis shows (as frontier_chart keeps)
            frame = self._chart_frame(data).filter(cost.is_not_null() & cost.is_finite() & (cost > 0))
            self._chart_rows, points = frame, frame.height
            ids = frame.get_column("cell_id") if "cell_id" in frame.columns else pl.Series([None])
            one_id_each = ids.null_count() == 0 and ids.is_unique().all()
            # all the spec depends on besides the rows: the same shape -> only the rows go to the browser
            shape = (view, frame["task"].n_unique() > 1, tuple(frame.columns), points > BIG, one_id_each)
        if shape is not None and shape == self._chart_shape and self.jchart.spec is not None:
            self._swap_rows(self._chart_rows)
        else:
            set_chart(self.jchart, self.chart, points=points)
            if hasattr(self.jchart.selections, "pick"):  # recreated with every chart: re-attach
                self.jchart.selections.observe(self._on_pick, "pick")
        self._chart_prices = (self.price.value, self.traffic.value)
        self._chart_view, self._chart_shape = view, shape
        self.detail_html.value = "<p><i>click a point for its details</i></p>"

    def _swap_rows(self, rows: pl.DataFrame) -> None:
        """Replace the rows of the Vega view in the browser (no new spec, no re-embed: several times faster)."""
        update = {"namespace": "data", "name": self.jchart.spec["data"]["name"], "scope": []}
        with self.jchart.hold_sync():
            self.jchart._py_to_js_updates = [{**update, "value": rows.to_dicts()}]
            self.jchart.params.price_factor = self.jchart.params.traffic_factor = 1.0

    def chart_rows(self) -> list[dict[str, Any]]:
        """The rows of the frontier chart on show (after a row swap the spec keeps its first rows: read these)."""
        return self._chart_rows.to_dicts()

    # ---------------------------------------------------------------- selection
    def _on_pick(self, change: dict) -> None:
        self.show_detail(change["new"].value)

    def show_detail(self, picked: list[dict[str, Any]]) -> None:
        """Fill the detail view for the picked point(s) (dicts of the pick fields, as the chart sends them)."""
        if not picked:
            self.selected, self.samples = pl.DataFrame(), pl.DataFrame()
            self.detail_html.value = "<p><i>click a point for its details</i></p>"
            return
        cond = pl.lit(False)
        for point in picked:
            match = pl.lit(True)
            for key, value in point.items():
                if key in self.table.columns and value != frontier.MEAN_TASK:  # a mean point: every task
                    match = match & pl.col(key).eq_missing(value)
            cond = cond | match
        self.selected = self.table.filter(cond)
        cells = self.selected.get_column("cell_id").drop_nulls().to_list() if "cell_id" in self.selected else []
        self.samples = load_samples(self.results_dir, cells) if cells else pl.DataFrame()
        figures = [c for c in ("cell_id", *charts.TOOLTIP_FIELDS, "efficiency") if c in self.selected.columns]
        n_ok = int(self.samples.get_column("correct").sum()) if self.samples.height else 0
        picked = self.selected.select(figures)
        if picked.height == 1:  # one point: a figure / value table reads better than one wide row
            row = picked.row(0, named=True)
            picked = pl.DataFrame({"figure": list(row), "value": [_text(v) for v in row.values()]})
        self.detail_html.value = (
            "<b>selected configuration</b>"
            + html_table(picked)
            + f"<b>per-document results</b>: {n_ok}/{self.samples.height} correct"
            + html_table(self.samples, SAMPLE_COLUMNS, max_rows=25)
        )

    # ---------------------------------------------------------------- export
    def export_bytes(self, fmt: str) -> tuple[bytes, str, str]:
        """(bytes, filename, mime) of the current table (CSV / Parquet) or chart (PNG / SVG)."""
        import vl_convert as vlc

        fmt = fmt.lower()
        flat = self.table.select([c for c, t in self.table.schema.items() if not t.is_nested()])
        if fmt in ("csv", "parquet"):
            buf = io.BytesIO()
            flat.write_csv(buf) if fmt == "csv" else flat.write_parquet(buf)
            return buf.getvalue(), f"explorer_table.{fmt}", "text/csv" if fmt == "csv" else "application/octet-stream"
        if self.chart is None:
            raise ValueError("no chart to export")
        with alt.data_transformers.disable_max_rows():
            spec = self.chart.to_dict()
        if fmt == "png":
            return vlc.vegalite_to_png(spec, scale=2.0), "explorer_chart.png", "image/png"
        if fmt == "svg":
            return vlc.vegalite_to_svg(spec).encode(), "explorer_chart.svg", "image/svg+xml"
        raise ValueError(f"unknown export format {fmt!r}: csv, parquet, png or svg")

    def export(self, fmt: str, folder: str | Path) -> Path:
        """Write the current table / chart into `folder`; returns the file."""
        data, name, _ = self.export_bytes(fmt)
        out = Path(folder) / name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        return out

    def _on_export(self, fmt: str) -> None:
        try:
            data, name, mime = self.export_bytes(fmt)
            saved = (
                ""
                if self.read_only
                else f" saved to <code>{html.escape(str(self.export(fmt, self.export_dir.value)))}</code>"
            )
            self.export_html.value = download_link(data, name, mime) + saved
        except (ValueError, OSError) as exc:
            self.export_html.value = f"<span style='color:#b00'>{html.escape(str(exc))}</span>"
