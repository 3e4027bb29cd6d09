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

from explorer.analysis.claim import claim, quant_view
from explorer.analysis.frontier import MEAN_TASK
from explorer.analysis.recommend import format_answer
from explorer.analysis.report import Inputs, Report, build_report, filter_inputs, load_inputs
from explorer.analysis.reported import reported_for
from explorer.charts.frontier import TOOLTIP_FIELDS, chart_data, frontier_chart, relative_chart
from explorer.charts.views import bill_chart, efficiency_chart, quant_chart
from explorer.deployment.table import serve
from explorer.hardware.catalog import Catalog, load_catalog
from explorer.records.store import load_samples
from explorer.ui.common import BIG, EXPECTED, _text, error_html, hide_tracebacks, html_table, jupyter_chart, set_chart
from explorer.ui.controls import WorkloadControls
from explorer.ui.exports import Exports

REPO_ROOT = Path(__file__).resolve().parents[2]
VIEWS = ("frontier", "mean over tasks", "relative", "bills", "quantization", "efficiency")
REPORTED = (
    ("reported: matching protocol", "matching"),
    ("reported: all protocol groups", "all"),
    ("reported: off", "off"),
)
SHORT_TIPS = ("model", "quant", "hardware", "task", "value", "monthly_usd", "cost_provenance")
ANSWER_COLUMNS = ("hardware", "model", "quant", "replicas", "monthly_usd", "monthly_usd_optimistic", "utilisation",
                  "idle_share", "value", "cost_provenance", "reason")  # fmt: skip
SAMPLE_COLUMNS = ("task", "doc_id", "target", "pred", "correct", "confidence")


def default_results_dir() -> Path:
    """EXPLORER_RESULTS, else the shipped demo results (data/demo_cpu)."""
    return Path(os.environ.get("EXPLORER_RESULTS") or REPO_ROOT / "data" / "demo_cpu")


class ExploreApp(Exports, w.VBox):
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
        self._service: dict[tuple, pl.DataFrame] = {}
        self._busy = False
        self._read_only = bool(read_only)
        if self._read_only:
            hide_tracebacks()  # this kernel serves the public: tracebacks to the server log, one line to the page
        self._build_controls()
        if reported is False:  # none loaded: say so, and the CLI line says --no-reported
            self.reported.value, self.reported.disabled = "off", True
        self.jchart = jupyter_chart()
        self.children = self._layout()
        self.results_dir = str(results_dir or default_results_dir())  # loads, fills options, draws

    # ---------------------------------------------------------------- widgets
    def _build_controls(self) -> None:
        sel = dict(rows=5, layout=w.Layout(width="210px"))
        self.tasks, self.models, self.quants = (
            w.SelectMultiple(description=d, **sel) for d in ("tasks", "models", "quant")
        )
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
        self.header, self.rec_html, self.detail_html, self.table_html, self.excluded_html, self.export_html = (
            w.HTML() for _ in range(6)
        )
        self.status = w.HTML()
        for widget, name in ((self.header, "header"), (self.rec_html, "recommendation"), (self.detail_html, "detail"),
                             (self.table_html, "frontier-table"), (self.excluded_html, "excluded"),
                             (self.status, "status")):  # fmt: skip
            widget.add_class(f"explorer-{name}")
        for ctl in (self.tasks, self.models, self.quants, self.chance, self.view, self.target, self.reported):
            ctl.observe(lambda _: self._refresh(), "value")
        self.deploy.observe(lambda _: self._refresh(), "changed")

    def _layout(self) -> list[w.Widget]:
        """The children; read-only has no path fields to show."""
        editable = not self.read_only
        box = w.Layout(flex="0 0 auto", margin="0 12px 6px 0")
        filters = w.VBox(
            [w.HBox([self.tasks, self.models, self.quants]), self.reported, self.target, self.chance, self.view],
            layout=box,
        )
        export = [w.HBox([*self.export_buttons.values()]), *([self.export_dir] if editable else []), self.export_html]
        return [
            self.header,
            *([w.HBox([self.dir_text, self.reload])] if editable else []),
            w.HBox([filters, w.VBox([self.deploy], layout=box)], layout=w.Layout(flex_flow="row wrap")),
            self.rec_html,
            self.claim_html,
            self.jchart,
            self.detail_html,
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
        evals = self.inputs.evals
        with self._quiet():
            real = evals.filter(pl.col("weights").ne_missing("random")) if "weights" in evals.columns else evals
            reported = self.inputs.reported if self.inputs.reported is not None else pl.DataFrame({"task": []})
            for ctl, col in ((self.tasks, "task"), (self.models, "model"), (self.quants, "quant")):
                values = set(real.get_column(col).drop_nulls().to_list()) if col in real.columns else set()
                if col == "task":  # the reported rows' tasks are filtered too (their models have names of their own)
                    values |= set(reported.get_column("task").cast(pl.String).drop_nulls().to_list())
                ctl.options, ctl.value = sorted(values), tuple(sorted(values))
            self.deploy.set_devices(evals)
        ok = real.filter(pl.col("status") == "ok").get_column("cell_id").n_unique() if real.height else 0
        devices = ", ".join(sorted(real.get_column("device_name").drop_nulls().unique().to_list())) or "none"
        n_rep = self.inputs.reported.height if self.inputs.reported is not None else 0
        beside = f", beside {n_rep} reported figures (data/reported, each with its source)" if n_rep else ""
        self.damaged = list(self.inputs.damaged)  # never used; said on the page, file names only
        hurt = "".join(f"<li>{html.escape(Path(d.path).name)}: {html.escape(d.reason)}</li>" for d in self.damaged[:10])
        more = f"<li>... {len(self.damaged) - 10} more (explorer check)</li>" if len(self.damaged) > 10 else ""
        damaged = f"<p>{len(self.damaged)} damaged file(s), not used:</p><ul>{hurt}{more}</ul>" if self.damaged else ""
        self.header.value = (
            f"<p>{ok} measured cells in <code>{html.escape(Path(folder).name)}</code>, measured on: "
            f"{html.escape(devices)}{beside}. Click a point for its details and per-document results.</p>{damaged}"
        )
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
        for col, ctl in self._selections():
            if set(ctl.value) != set(ctl.options):
                out += [f"--only-{col}={v}" for v in ctl.value]
        if self.reported.value != "matching":
            out.append("--no-reported" if self.reported.value == "off" else f"--protocols={self.reported.value}")
        return out + (["--chance-normalised"] if self.chance.value else [])

    def build(self) -> Report:
        """The report of the current controls (service times cached per filters and workload service key)."""
        inputs, workload = self._filtered(), self.deploy.workload()
        if inputs.evals.filter(pl.col("status") == "ok").is_empty():
            raise ValueError("no configuration matches the filters")
        key = (self.tasks.value, self.models.value, self.quants.value, self.reported.value, workload.service_key())
        if key not in self._service:
            on = self.reported.value != "off"
            extra = reported_for(inputs.evals, inputs.reported if on else None, dict(inputs.ceilings),
                                 protocols=self.reported.value if on else "matching")  # fmt: skip
            self._service = {key: serve(inputs.evals, self.catalog, workload, ceilings=inputs.ceilings,
                                        profiles=inputs.profiles, extra=extra)}  # fmt: skip
        return build_report(inputs, self.catalog, workload, target_fraction=self.target.value,
                            cost=self.deploy.cost_axis.value, chance_normalised=self.chance.value,
                            service=self._service[key])  # fmt: skip

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
        except Exception as exc:  # EXPECTED ones say what to change; anything else is a bug (read-only: logged)
            self.report, self.recommendation = None, None
            self.rec_html.value = self.table_html.value = self.excluded_html.value = self.claim_html.value = ""
            self.jchart.layout.display = "none"  # no stale chart under an error
            self._chart, self._chart_rows, self._chart_shape = None, pl.DataFrame(), None
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        self.status.value = error_html(exc, self.read_only)
        if not (self.read_only or isinstance(exc, EXPECTED)):
            raise exc  # a notebook: the traceback is the owner's to read

    def _show_answer(self) -> None:
        rep, wl = self.report, self.deploy.workload()
        text = format_answer(rep.answer, wl.queries_per_day).replace(MEAN_TASK, "all tasks")
        cli = f"explorer frontier {Path(self.results_dir).name} {' '.join(self.flags())}"
        self.rec_html.value = (
            f"<pre>{html.escape(text)}</pre><small>same numbers: <code>{html.escape(cli)}</code></small>"
        )
        try:
            said = claim(
                rep.table, task=rep.answer["task"], fraction=self.target.value, cost=self.deploy.cost_axis.value
            )
            self.claim_html.value = f"<p><b>Against the most accurate:</b> {html.escape(said['sentence'])}</p>"
        except ValueError as exc:
            self.claim_html.value = f"<p><i>no comparison: {html.escape(str(exc))}</i></p>"
        per_hw = pl.DataFrame(rep.answer["per_hardware"]) if rep.answer["per_hardware"] else pl.DataFrame()
        self.table_html.value = "<b>cheapest deployment per hardware</b>" + html_table(per_hw, ANSWER_COLUMNS)
        ex = rep.excluded.filter(pl.col("task") == rep.answer["task"])
        self.excluded_html.value = (
            f"<details><summary>{ex.height} deployments excluded (memory, latency, no service time)</summary>"
            + html_table(ex, ("model", "quant", "hardware", "excluded_reason"), max_rows=60)
            + "</details>"
            if ex.height
            else ""
        )

    def _chart_frame(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The columns the chart shows (a shorter tooltip above BIG points)."""
        cost = self.deploy.cost_axis.value
        tips = SHORT_TIPS if frame.height > BIG else TOOLTIP_FIELDS
        keep = ["cell_id", "on_frontier", cost, f"{cost}_optimistic", "cost_provenance", *tips]
        return frame.select([c for c in dict.fromkeys(keep) if c in frame.columns])

    @property
    def chart(self) -> alt.TopLevelMixin | None:
        """The Altair chart on show (built on demand after a row swap, which does not need it)."""
        if self._chart is None and not self._chart_rows.is_empty():
            self._chart = frontier_chart(self._chart_rows, cost=self.deploy.cost_axis.value)
        return self._chart

    def _draw(self) -> None:
        view, rep, cost = self.view.value, self.report, self.deploy.cost_axis.value
        shape, self._chart, self._chart_rows = None, None, pl.DataFrame()
        per_task = rep.task_rows
        if view == "efficiency":
            self._chart, points = efficiency_chart(per_task.filter(pl.col("efficiency").is_not_null())), per_task.height
        elif view == "bills":
            picks = pl.DataFrame([r for r in rep.answer["per_hardware"] if r.get("monthly_usd") is not None])
            if picks.is_empty():
                raise ValueError(f"no bills to show: {rep.answer.get('reason') or 'no deployment reaches the target'}")
            self._chart, points = bill_chart(picks), picks.height
        elif view == "quantization":
            table = quant_view(rep.table, task=rep.answer["task"], cost=cost)
            self._chart, points = quant_chart(table), table.height
        elif view == "relative":
            frame = self._chart_frame(rep.scope_rows)
            self._chart, points = relative_chart(frame, cost=cost, target_fraction=self.target.value), frame.height
        else:
            data = rep.scope_rows if view == "mean over tasks" else per_task
            frame = chart_data(self._chart_frame(data), cost)
            self._chart_rows, points = frame, frame.height
            ids = frame.get_column("cell_id") if "cell_id" in frame.columns else pl.Series([None])
            one_id_each = ids.null_count() == 0 and ids.is_unique().all()
            # all the spec depends on besides the rows: the same shape -> only the rows go to the browser
            shape = (view, cost, frame["task"].n_unique() > 1, tuple(frame.columns), points > BIG, one_id_each)
        if shape is not None and shape == self._chart_shape and self.jchart.spec is not None:
            self._swap_rows(self._chart_rows)
        else:
            set_chart(self.jchart, self.chart, points=points)
            if hasattr(self.jchart.selections, "pick"):  # recreated with every chart: re-attach
                self.jchart.selections.observe(self._on_pick, "pick")
        self._chart_shape = shape
        self.detail_html.value = "<p><i>click a point for its details</i></p>"

    def _swap_rows(self, rows: pl.DataFrame) -> None:
        """Replace the rows of the Vega view in the browser (no new spec, no re-embed: several times faster)."""
        update = {"namespace": "data", "name": self.jchart.spec["data"]["name"], "scope": []}
        self.jchart._py_to_js_updates = [{**update, "value": rows.to_dicts()}]

    def chart_rows(self) -> list[dict[str, Any]]:
        """The rows of the frontier chart on show (after a row swap the spec keeps its first rows: read these)."""
        return self._chart_rows.to_dicts()

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
            self.detail_html.value = "<p><i>click a point for its details</i></p>"
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
        n_ok = int(self.samples.get_column("correct").sum()) if self.samples.height else 0
        picked_rows = self.selected.select(figures)
        if picked_rows.height == 1:  # one point: a figure / value table reads better than one wide row
            row = picked_rows.row(0, named=True)
            picked_rows = pl.DataFrame({"figure": list(row), "value": [_text(v) for v in row.values()]})
        self.detail_html.value = (
            "<b>selected deployment</b>"
            + html_table(picked_rows)
            + f"<b>per-document results</b>: {n_ok}/{self.samples.height} correct"
            + html_table(self.samples, SAMPLE_COLUMNS, max_rows=25)
        )
