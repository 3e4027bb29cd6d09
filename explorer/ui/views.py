"""The explore app's chart views (mixin for ExploreApp): the frontier of the headline's scope, every task's own
frontier, accuracy against latency, the relative view, the bills, what quantization buys, the share of the
roofline. A view whose chart keeps its shape only sends its new rows to the browser (`_swap_rows`); a new shape
gets a new chart widget (`_new_chart`)."""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl

from explorer.analysis.claim import quant_view
from explorer.charts.dense import DENSE_ROWS, dense_rows
from explorer.charts.frontier import chart_data, frontier_chart, relative_chart, units
from explorer.charts.views import bill_chart, efficiency_chart, quant_chart
from explorer.ui.common import jupyter_chart, set_chart

CHART_COLUMNS = ("model", "quant", "hardware", "provider", "task", "value", "stderr", "accuracy_provenance",
                 "model_kind", "accuracy_mark", "latency_s")  # fmt: skip  # what the chart draws (short tooltip)


class ChartViews:
    """Needs `report`, `view`, `deploy`, `target`, `jchart`, `chart_box`, `detail`, `_retired`, `_chart`,
    `_chart_rows`, `_chart_shape` and `_on_pick`."""

    def _chart_frame(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The columns the chart draws (its tooltip is short: name, accuracy +- stderr, cost, provenance)."""
        cost = self._cost()
        front = [] if cost == "latency_s" else ["on_frontier"]  # latency: its own frontier (chart_data)
        keep = ["cell_id", *front, cost, f"{cost}_optimistic", "cost_provenance", *CHART_COLUMNS]
        return frame.select([c for c in dict.fromkeys(keep) if c in frame.columns])

    def _cost(self) -> str:
        return "latency_s" if self.view.value == "latency" else self.deploy.cost_axis.value

    def _roles(self) -> dict[str, Any]:
        ans = self.report.answer if self.report is not None else {}
        return {"recommended": ans.get("chosen"), "baseline": ans.get("baseline")}

    @property
    def chart(self) -> alt.TopLevelMixin | None:
        """The Altair chart on show (built on demand after a row swap, which does not need it)."""
        if self._chart is None and not self._chart_rows.is_empty():
            self._chart = frontier_chart(self._chart_rows, cost=self._cost())
        return self._chart

    def _draw(self) -> None:
        view, rep, cost = self.view.value, self.report, self._cost()
        shape, drawn, self._chart, self._chart_rows = None, pl.DataFrame(), None, pl.DataFrame()
        if view == "efficiency":
            per_task = rep.task_rows
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
        else:  # frontier, latency: the headline's scope; per task: every task's own frontier
            data = rep.task_rows if view == "per task" else rep.scope_rows
            frame = chart_data(self._chart_frame(data), cost, roles=self._roles())
            self._chart_rows, points = frame, frame.height
            drawn = dense_rows(frame, units(cost)[0])  # above DENSE_ROWS: featured points + density cells
            ids = frame.get_column("cell_id") if "cell_id" in frame.columns else pl.Series([None])
            one_id_each = ids.null_count() == 0 and ids.is_unique().all()
            # all the spec depends on besides the rows: the same shape -> only the rows go to the browser
            shape = (
                view,
                cost,
                frame["task"].n_unique() > 1,
                tuple(frame.columns),
                points > DENSE_ROWS,
                points == 0,
                one_id_each,
            )
        faceted = shape is not None and shape[2]  # a facet's data lives per panel in Vega: no swap, a new spec
        if shape is not None and not faceted and shape == self._chart_shape and self.jchart.spec is not None:
            self._swap_rows(drawn)
        else:
            self._new_chart(points if shape is None else drawn.height)
        self._chart_shape = shape
        self.detail.clear()

    def _new_chart(self, points: int) -> None:  # points: how many rows the browser draws
        """A new chart widget for a new spec: a JupyterChart re-embedding its spec keeps the row-update handlers of
        its earlier views (altair 6), which then fail on data they do not have ("Cannot set properties of
        undefined"); a fresh widget has none."""
        if self.jchart.spec is None and self._retired is None:  # never drawn (the first chart): no handlers yet
            set_chart(self.jchart, self.chart, points=points)
            self._watch_pick()
            return
        old, self.jchart = self.jchart, jupyter_chart()
        set_chart(self.jchart, self.chart, points=points)
        self._watch_pick()
        self.chart_box.children = [self.jchart]
        if self._retired is not None:  # closed one chart later: a widget closed while its page view is still
            self._retired.close()  # being made fails there ("[anywidget] Failed to initialize model")
        self._retired = old

    def _watch_pick(self) -> None:
        if hasattr(self.jchart.selections, "pick"):
            self.jchart.selections.observe(self._on_pick, "pick")

    def _swap_rows(self, rows: pl.DataFrame) -> None:
        """Replace the rows of the Vega view in the browser (no new spec, no re-embed: several times faster)."""
        if not self.jchart.show_rows(rows):
            self._new_chart(rows.height)

    def chart_rows(self) -> list[dict[str, Any]]:
        """The rows of the frontier chart on show (after a row swap the spec keeps its first rows: read these)."""
        return self._chart_rows.to_dicts()
