"""The explore widget: deployments on every hardware, the answer with its monthly bill, filters, detail, export.

notebooks/explore.ipynb only builds `ExploreApp` and displays it. Every change recomputes the report from the
results folder's rows with the same functions the CLI uses (`explorer.analysis.report.build_report`): a bill is
not linear in price or traffic (fleets are whole replicas), so nothing is rescaled in the browser. Service times
(which do not depend on price or traffic) are cached per filters and `Workload.service_key()`. When only the rows
change, only they are sent to the browser (`_swap_rows`); a new spec goes out when the chart's shape changes.

Read-only (the public app): the path widgets (results dir, reload, export to) are never created, exports are
downloads with server paths left out, and a callback that fails shows one line without paths (its traceback goes
to the server log, `explorer.ui.common.hide_tracebacks`).
"""

from __future__ import annotations

import contextlib
import html
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import altair as alt
import ipywidgets as w
import polars as pl
import traitlets

from explorer.analysis.claim import claim
from explorer.analysis.frontier import MEAN_TASK
from explorer.analysis.headline import headline, settings
from explorer.analysis.report import Inputs, Report, at_target, build_report, filter_inputs, load_inputs, serve_filtered
from explorer.charts.frontier import TOOLTIP_FIELDS
from explorer.hardware.catalog import Catalog, load_catalog
from explorer.records.store import load_samples
from explorer.ui.answer import details_html, export_lines, headline_html, loaded_html
from explorer.ui.common import EXPECTED, error_html, hide_tracebacks, html_table, jupyter_chart
from explorer.ui.controls import WorkloadControls
from explorer.ui.detail import DetailPanel
from explorer.ui.exports import Exports
from explorer.ui.urlstate import LinkState, UrlState, state_of, under_voila
from explorer.ui.views import ChartViews

REPO_ROOT = Path(__file__).resolve().parents[2]
VIEWS = ("frontier", "per task", "relative", "latency", "bills", "quantization", "efficiency")
MEAN_LABEL = "all tasks (mean)"
REPORTED = (
    ("reported: matching protocol", "matching"),
    ("reported: all protocol groups", "all"),
    ("reported: off", "off"),
)
ANSWER_COLUMNS = ("hardware", "model", "quant", "replicas", "monthly_usd", "monthly_usd_optimistic", "utilisation",
                  "idle_share", "value", "cost_provenance", "reason")  # fmt: skip


def default_results_dir() -> Path:
    """EXPLORER_RESULTS, else the shipped demo results (data/demo_cpu)."""
    return Path(os.environ.get("EXPLORER_RESULTS") or REPO_ROOT / "data" / "demo_cpu")


class ExploreApp(Exports, LinkState, ChartViews, w.VBox):
    """Explore a results folder: set the controls (or their `.value` from Python) and read `report` (table,
    frontier, excluded, answer), `recommendation`, `chart`, `selected` and `samples`. `read_only=True` (fixed for
    the app's life) creates no path widget at all (`dir_text`, `reload`, `export_dir` are None; exports become
    downloads) and keeps tracebacks off the page."""

    results_dir = traitlets.Unicode()  # not synced: never in the widget state a page receives

    def __init__(
        self,
        results_dir: str | Path | None = None,
        read_only: bool = False,
        catalog: Catalog | None = None,
        reported: str | Path | bool = True,
    ):
        """`reported`: the reported results beside the measured ones (True: the shipped data/reported; False:
        none; or a CSV file or folder)."""
        super().__init__(layout=w.Layout(width="100%"))
        self.catalog = catalog or load_catalog()
        self._reported_source = reported
        self.report: Report | None = None
        self.recommendation: dict[str, Any] | None = None
        self._chart: alt.TopLevelMixin | None = None
        self._chart_rows, self._chart_shape = pl.DataFrame(), None
        self.selected, self.samples = pl.DataFrame(), pl.DataFrame()
        self._service: dict[Any, Any] = {}  # serve rows per filters; "all": serve_filtered's cache
        self._priced: tuple[tuple, Report] | None = None  # the last report and what it was billed for
        self._busy = False
        self._read_only = bool(read_only)
        if self._read_only:
            hide_tracebacks()  # this kernel serves the public: tracebacks to the server log, one line to the page
        self._build_controls()
        if reported is False:  # none loaded: say so, and the CLI line says --no-reported
            self.reported.value, self.reported.disabled = "off", True
        self.url, self.link_note, self._url_defaults = UrlState(write=under_voila()), w.HTML(), {}
        self.link_note.add_class("explorer-link-note")
        self.url.observe(self._on_link, "initial")
        self.jchart = jupyter_chart()
        self.chart_box, self._retired = w.Box([self.jchart]), None
        self.children = self._layout()
        self.results_dir = str(results_dir or default_results_dir())  # loads, fills options, draws

    # ---------------------------------------------------------------- widgets
    def _build_controls(self) -> None:
        sel = dict(rows=5, layout=w.Layout(width="210px"))
        self.tasks, self.models, self.quants = (
            w.SelectMultiple(description=d, **sel) for d in ("tasks", "models", "quant")
        )
        self.task = w.Dropdown(description="question on", options=[(MEAN_LABEL, "")], value="",
                               layout=w.Layout(width="400px"), style={"description_width": "150px"})  # fmt: skip
        self.deploy = WorkloadControls(self.catalog)
        slider = dict(continuous_update=False, style={"description_width": "150px"}, layout=w.Layout(width="400px"))
        self.target = w.FloatSlider(value=0.9, min=0.5, max=1.0, step=0.01, description="accuracy target",
                                    readout_format=".0%", **slider)  # fmt: skip
        self.chance = w.Checkbox(value=False, description="chance-normalised accuracy")
        self.view = w.ToggleButtons(options=VIEWS, value="frontier")
        self.reported = w.Dropdown(options=REPORTED, value="matching", layout=w.Layout(width="280px"))
        self.claim_html = w.HTML()
        self.claim_html.add_class("explorer-claim")
        self._build_paths_and_exports()  # read-only: no path widget exists (nor its state on the page)
        self.header, self.rec_html, self.table_html, self.excluded_html, self.export_html = (w.HTML() for _ in range(5))
        self.headline_html, self.status, self.detail = w.HTML(), w.HTML(), DetailPanel()
        self.sentence, self.settings, self.export_lines = "", {}, []
        for widget, name in ((self.header, "header"), (self.rec_html, "recommendation"), (self.status, "status"),
                             (self.table_html, "frontier-table"), (self.excluded_html, "excluded"),
                             (self.headline_html, "headline")):  # fmt: skip
            widget.add_class(f"explorer-{name}")
        for ctl in (self.tasks, self.models, self.quants, self.task, self.chance, self.view, self.target,
                    self.reported):  # fmt: skip
            ctl.observe(lambda _: self._refresh(), "value")
        self.deploy.observe(lambda _: self._refresh(), "changed")

    def _layout(self) -> list[w.Widget]:
        """The children; read-only has no path fields to show."""
        editable = not self.read_only
        box = w.Layout(flex="0 0 auto", margin="0 12px 6px 0")
        filters = w.VBox(
            [self.task, self.target, w.HBox([self.tasks, self.models, self.quants]), self.reported, self.chance],
            layout=box,
        )
        export = [w.HBox([*self.export_buttons.values()]), *([self.export_dir] if editable else []), self.export_html]
        return [
            self.url,
            self.link_note,
            self.headline_html,
            self.status,
            self.view,
            w.HBox([self.chart_box, self.detail], layout=w.Layout(align_items="flex-start")),
            self.claim_html,
            self.rec_html,
            w.HBox([filters, w.VBox([self.deploy], layout=box)], layout=w.Layout(flex_flow="row wrap")),
            self.header,
            *([w.HBox([self.dir_text, self.reload])] if editable else []),
            self.table_html,
            self.excluded_html,
            w.HTML("<b>export</b> the current table / chart" + (" (downloads)" if not editable else "")),
            w.VBox(export),
            self.status,
        ]

    @property
    def read_only(self) -> bool:
        return self._read_only

    def shows(self, widget: w.Widget) -> bool:
        """Is `widget` part of the displayed tree?"""
        todo = list(self.children)
        while todo:
            item = todo.pop()
            if item is widget:
                return True
            todo.extend(getattr(item, "children", ()))
        return False

    @property
    def detail_html(self) -> DetailPanel:
        """The detail panel (`.value`: its HTML)."""
        return self.detail

    @property
    def price(self) -> w.FloatLogSlider:
        return self.deploy.price

    @property
    def traffic(self) -> w.FloatLogSlider:
        return self.deploy.traffic

    @property
    def table(self) -> pl.DataFrame:
        """Every row of the current report (served and excluded), as exported."""
        return self.report.table if self.report is not None else pl.DataFrame()

    # ---------------------------------------------------------------- data
    @traitlets.observe("results_dir")
    def _on_results_dir(self, change: dict) -> None:
        self._load(change["new"])

    def _load(self, folder: str) -> None:
        for text, value in ((self.dir_text, folder), (self.export_dir, str(Path(folder) / "exports"))):
            if text is not None:
                text.value = value
        self.inputs: Inputs = load_inputs(folder, reported=self._reported_source)
        self._service.clear()
        self._priced = None
        evals = self.inputs.evals
        with self._quiet():
            real = evals.filter(pl.col("weights").ne_missing("random")) if "weights" in evals.columns else evals
            reported = self.inputs.reported if self.inputs.reported is not None else pl.DataFrame({"task": []})
            for ctl, col in ((self.tasks, "task"), (self.models, "model"), (self.quants, "quant")):
                values = set(real.get_column(col).drop_nulls().to_list()) if col in real.columns else set()
                if col == "task":  # the reported rows' tasks are filtered too (their models have names of their own)
                    values |= set(reported.get_column("task").cast(pl.String).drop_nulls().to_list())
                ctl.options, ctl.value = sorted(values), tuple(sorted(values))
                if col == "task":
                    self.task.options, self.task.value = [(MEAN_LABEL, ""), *[(t, t) for t in sorted(values)]], ""
            self.deploy.set_devices(evals)
        self._url_defaults = state_of(self._url_controls())
        self.damaged = list(self.inputs.damaged)  # never used; said on the page, file names only
        self.header.value = loaded_html(real, folder, self.inputs.reported, self.damaged)
        self._refresh()

    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        """Control changes inside do not refresh (one refresh after several changes)."""
        self._busy = True
        try:
            yield
        finally:
            self._busy = False

    def _selections(self) -> tuple[tuple[str, w.SelectMultiple], ...]:
        return (("model", self.models), ("quant", self.quants), ("task", self.tasks))

    def _filtered(self) -> Inputs:
        if not all(ctl.value for _, ctl in self._selections()):
            raise ValueError("no configuration matches the filters")
        return filter_inputs(self.inputs, self.models.value, self.quants.value, self.tasks.value)

    def flags(self) -> list[str]:
        """The `explorer frontier` flags that give the numbers shown (filters and target included)."""
        out = [*self.deploy.flags(), f"--target={self.target.value!r}"]
        out += [f"--task={self.task.value}"] if self.task.value else []
        for col, ctl in self._selections():
            if set(ctl.value) != set(ctl.options):
                out += [f"--only-{col}={v}" for v in ctl.value]
        if self.reported.value != "matching":
            out.append("--no-reported" if self.reported.value == "off" else f"--protocols={self.reported.value}")
        return out + (["--chance-normalised"] if self.chance.value else [])

    def build(self) -> Report:
        """The report of the current controls (service times cached per filters and workload service key; a change
        of target or task only re-answers the last billed report: `at_target`)."""
        inputs, workload = self._filtered(), self.deploy.workload()
        if inputs.evals.filter(pl.col("status") == "ok").is_empty():
            raise ValueError("no configuration matches the filters")
        key = (self.tasks.value, self.models.value, self.quants.value, self.reported.value, workload.service_key())
        if key not in self._service:  # "all": the rows of every configuration, cut for each filter
            self._service = {"all": self._service.get("all", {})}
            self._service[key] = serve_filtered(self.inputs, self.catalog, workload, self.models.value,
                                                self.quants.value, self.tasks.value, self.reported.value,
                                                cache=self._service["all"])  # fmt: skip
        task, cost, priced = self.task.value or None, self.deploy.cost_axis.value, (key, workload, self.chance.value)
        if self._priced is not None and self._priced[0] == (*priced, cost):  # only the target or task changed
            return at_target(self._priced[1], self.catalog, self.target.value, task)
        report = build_report(inputs, self.catalog, workload, target_fraction=self.target.value, task=task,
                              cost=cost, chance_normalised=self.chance.value, service=self._service[key])  # fmt: skip
        self._priced = ((*priced, cost), report)
        return report

    # ---------------------------------------------------------------- refresh
    def _refresh(self) -> None:
        if self._busy or not hasattr(self, "inputs"):
            return
        try:
            self.report = self.build()
            self.recommendation = self.report.answer
            self._show_answer()
            self.jchart.layout.display = None
            self._draw()
            self.status.value = ""
            self._write_link()
        except Exception as exc:  # EXPECTED ones say what to change; anything else is a bug (read-only: logged)
            self.report, self.recommendation = None, None
            self.rec_html.value = self.table_html.value = self.excluded_html.value = self.claim_html.value = ""
            self.sentence, self.export_lines = "", []
            self.headline_html.value = "<p class='explorer-sentence'><i>no answer for these settings</i></p>"
            self.detail.clear()
            self.jchart.layout.display = "none"  # no stale chart under an error
            self._chart, self._chart_rows, self._chart_shape = None, pl.DataFrame(), None
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        self.status.value = error_html(exc, self.read_only)
        if not (self.read_only or isinstance(exc, EXPECTED)):
            raise exc  # a notebook: the traceback is the owner's to read

    def _show_answer(self) -> None:
        rep, wl, ctl = self.report, self.deploy.workload(), self.deploy
        self.sentence = headline(rep.answer, wl.queries_per_day, rep.scope_rows, placeholder=ctl.placeholder)
        chosen = {k: ctl.value for k, ctl in (("models", self.models), ("quant", self.quants), ("tasks", self.tasks))
                  if set(ctl.value) != set(ctl.options)}  # fmt: skip
        self.settings = settings(wl, rep.answer, hardware_options=len(ctl.hardware.options), filters=chosen,
                                 placeholder=ctl.placeholder, chance_normalised=self.chance.value,
                                 reported=self.reported.value)  # fmt: skip
        self.export_lines = export_lines(self.sentence, self.settings)
        self.headline_html.value = headline_html(self.sentence, self.settings)
        cli = f"explorer frontier {Path(self.results_dir).name} {' '.join(self.flags())}"
        self.rec_html.value = details_html(rep.answer, wl.queries_per_day, cli)
        try:
            said = claim(
                rep.table, task=rep.answer["task"], fraction=self.target.value, cost=self.deploy.cost_axis.value
            )
            self.claim_html.value = f"<p><b>Against the most accurate:</b> {html.escape(said['sentence'])}</p>"
        except ValueError as exc:
            self.claim_html.value = f"<p><i>no comparison: {html.escape(str(exc))}</i></p>"
        per_hw = pl.DataFrame(rep.answer["per_hardware"]) if rep.answer["per_hardware"] else pl.DataFrame()
        self.table_html.value = "<b>cheapest deployment per hardware</b>" + html_table(per_hw, ANSWER_COLUMNS)
        count, ex = rep.excluded_in_scope(("model", "quant", "hardware"), max_rows=60)
        self.excluded_html.value = (
            f"<details><summary>{count} deployments excluded (memory, latency, no service time)</summary>"
            + html_table(ex, ("model", "quant", "hardware", "excluded_reason"), max_rows=60)
            + (f"<p>... {count - ex.height} more rows</p>" if count > ex.height else "")
            + "</details>"
            if count
            else ""
        )

    # ---------------------------------------------------------------- selection
    def _on_pick(self, change: dict) -> None:
        try:
            self.show_detail(change["new"].value)
        except Exception as exc:
            self._fail(exc)

    def show_detail(self, picked: list[dict[str, Any]]) -> None:
        """Fill the detail view for the picked point(s) (dicts of the pick fields, as the chart sends them)."""
        if not picked or self.report is None:
            self.selected, self.samples = pl.DataFrame(), pl.DataFrame()
            self.detail.clear()
            return
        rows = self.report.frontier
        cond = pl.lit(False)
        for point in picked:
            match = pl.lit(True)
            for key, value in point.items():
                if key in rows.columns and value != MEAN_TASK:  # a mean point: every task of the configuration
                    match = match & pl.col(key).eq_missing(value)
            mean = point.get("task") == MEAN_TASK
            cond = cond | (match & (pl.col("task") != MEAN_TASK if mean else pl.lit(True)))
        self.selected = rows.filter(cond)
        cells = (
            self.selected.get_column("cell_id").drop_nulls().unique().to_list() if "cell_id" in self.selected else []
        )
        self.samples = load_samples(self.results_dir, cells) if cells else pl.DataFrame()
        figures = [c for c in ("cell_id", *TOOLTIP_FIELDS, "efficiency") if c in self.selected.columns]
        self.detail.show(self.results_dir, self.selected.select(figures), self.samples)
