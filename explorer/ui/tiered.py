"""The tiered page: a cascade (small model first) of measured configurations, priced as one fleet per tier.

notebooks/tiered.ipynb and the app's "tiered" tab only build `TieredApp` and display it. Every change recomputes
`explorer.cascade.report.cascade_report` with the CLI's functions (`explorer cascade` with the flags `flags()`
returns gives the same numbers): choose the chain (two or three tiers, each on the cheapest hardware for it or on
one named), the thresholds or "fit them for me" at a target share of the best member's accuracy, and the traffic.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import ipywidgets as w
import polars as pl

from explorer.analysis.frontier import MEAN_TASK
from explorer.analysis.report import load_inputs
from explorer.cascade.report import cascade_report, frontier_rows
from explorer.charts.frontier import frontier_chart
from explorer.charts.views import cascade_chart
from explorer.deployment.table import bill, serve
from explorer.deployment.workload import workload_flags
from explorer.hardware.catalog import Catalog, load_catalog
from explorer.records.store import load_samples
from explorer.ui.common import jupyter_chart, one_line, set_chart
from explorer.ui.controls import SLIDER, WorkloadControls

CHEAPEST = "cheapest for it"
NONE = "(no third tier)"


class TieredApp(w.VBox):
    """Set the widgets' `.value` (or call `refresh()`), read `report` (the cascade), `error`, `chart` (frontier
    with the cascade and oracle points), `curve_chart` (accuracy, bill, escalation vs threshold)."""

    def __init__(self, results_dir: str | Path, catalog: Catalog | None = None) -> None:
        super().__init__(layout=w.Layout(width="100%"))
        self.results_dir = Path(results_dir)
        self.catalog = catalog or load_catalog()
        self.inputs = load_inputs(self.results_dir, reported=False, cost_dirs=())
        self.samples = load_samples(self.results_dir)
        self.report: dict[str, Any] | None = None
        self.error: str | None = None
        self.chart = self.curve_chart = None
        self._service: dict[tuple, pl.DataFrame] = {}
        self._busy = False
        self._build()
        self.refresh()

    # ------------------------------------------------------------------ widgets
    def _configs(self) -> list[str]:
        """'model/quant' of every measured configuration, smallest model first (the natural first tier)."""
        ok = self.inputs.evals.filter((pl.col("status") == "ok") & pl.col("weights").ne_missing("random"))
        rows = ok.select("model", "quant", pl.col("model_params").fill_null(0)).unique()
        return [f"{m}/{q}" for m, q, _ in rows.sort(["model_params", "model", "quant"]).iter_rows()]

    def _build(self) -> None:
        configs = self._configs()
        tasks = mc_tasks(self.samples)
        hardware = [CHEAPEST, *self.catalog.names]
        self.task = w.Dropdown(description="task", options=tasks, value=tasks[0] if tasks else None)
        self.tiers = [w.Dropdown(description=f"tier {k + 1}", options=opts) for k, opts in
                      enumerate((configs, configs, [NONE, *configs]))]  # fmt: skip
        self.tiers[1].value = configs[-1] if configs else None
        self.hardware = [w.Dropdown(description="on", options=hardware, layout=w.Layout(width="260px"))
                         for _ in self.tiers]  # fmt: skip
        self.fit = w.Checkbox(value=True, description="fit the thresholds for me (on the fit half)")
        self.target = w.FloatSlider(description="target (of the best)", value=0.95, min=0.5, max=1.0, step=0.01,
                                    readout_format=".0%", **SLIDER)  # fmt: skip
        self.thresholds = [w.FloatSlider(description=f"tier {k + 1} answers at >=", value=0.7, min=0.0, max=1.0,
                                         step=0.01, **SLIDER) for k in range(2)]  # fmt: skip
        self.seed = w.BoundedIntText(description="split seed", value=0, min=0, max=10**6)
        self.deploy = WorkloadControls(self.catalog)
        self.deploy.set_devices(self.inputs.evals)
        for ctl in (self.deploy.output_tokens, self.deploy.ttft, self.deploy.tpot, self.deploy.cost_axis):
            ctl.layout.display = "none"  # a cascade routes scored queries and is compared on its monthly bill
        self.summary, self.status, self.flags_html = w.HTML(), w.HTML(), w.HTML()
        self.summary.add_class("explorer-tiered-summary")
        self.jchart, self.curve_jchart = jupyter_chart(), jupyter_chart()
        for ctl in (self.task, *self.tiers, *self.hardware, self.fit, self.target, *self.thresholds, self.seed):
            ctl.observe(lambda _: self.refresh(), "value")
        self.deploy.observe(lambda _: self.refresh(), "changed")
        chain = w.VBox([w.HBox([t, h]) for t, h in zip(self.tiers, self.hardware, strict=True)])
        choose = w.VBox([self.task, chain, self.fit, self.target, *self.thresholds, self.seed])
        self.children = [
            w.HTML("<h3>Tiered deployment: the small model answers first, the next one only when it is unsure</h3>"),
            w.HBox([choose, self.deploy], layout=w.Layout(flex_flow="row wrap")),
            self.status, self.summary, self.jchart, self.curve_jchart, self.flags_html,
        ]  # fmt: skip

    # ------------------------------------------------------------------ state
    def chain(self) -> list[str]:
        """The chain as `explorer cascade --chain` members."""
        out = []
        for tier, hw in zip(self.tiers, self.hardware, strict=True):
            if tier.value in (None, NONE):
                continue
            out.append(tier.value + ("" if hw.value == CHEAPEST else f"@{hw.value}"))
        return out

    def flags(self) -> list[str]:
        """The `explorer cascade` flags that give the same numbers."""
        w_ = self.deploy.workload()
        out = [f"--chain={','.join(self.chain())}", f"--task={self.task.value}", f"--seed={self.seed.value}"]
        n = len(self.chain())
        out.append(f"--target={self.target.value:g}" if self.fit.value else
                   "--thresholds=" + ",".join(f"{t.value:g}" for t in self.thresholds[: n - 1]))  # fmt: skip
        return [*out, *workload_flags(w_)]

    def _table(self, workload) -> pl.DataFrame:
        key = workload.service_key()
        if key not in self._service:
            self._service[key] = serve(self.inputs.evals, self.catalog, workload, ceilings=self.inputs.ceilings,
                                       profiles=self.inputs.profiles)  # fmt: skip
        return bill(self._service[key], self.catalog, workload)

    def refresh(self) -> None:
        """Recompute the cascade and redraw; a setting that cannot make a cascade says why on the page."""
        if self.task.value is None:
            self.status.value = "<p>no multiple-choice per-document samples in this folder: nothing to route</p>"
            return
        if self._busy:
            return
        self._busy = True
        try:
            workload = self.deploy.workload()
            n = len(self.chain())
            thresholds = None if self.fit.value else [t.value for t in self.thresholds[: n - 1]]
            for k, t in enumerate(self.thresholds):
                t.disabled = self.fit.value or k >= n - 1
            self.report = cascade_report(self._table(workload), self.samples, self.chain(), self.task.value,
                                         workload, thresholds=thresholds, target_fraction=self.target.value,
                                         seed=int(self.seed.value))  # fmt: skip
            self.error = None
            self._draw()
        except Exception as exc:  # noqa: BLE001 (a viewer gets one line without server paths, never a traceback)
            self._fail(one_line(exc))
        finally:
            self._busy = False

    def _fail(self, message: str) -> None:
        """Nothing of an earlier cascade stays on the page under the error."""
        self.report, self.error, self.chart, self.curve_chart = None, message, None, None
        self.status.value = f"<p class='explorer-error'>cannot build this cascade: {html.escape(message)}</p>"
        self.summary.value = self.flags_html.value = ""
        self.jchart.chart = self.curve_jchart.chart = None

    def _draw(self) -> None:
        r = self.report
        self.status.value = ""
        self.summary.value = summary_html(r)
        self.chart = frontier_chart(frontier_rows(r), facet=None, title=f"{r['task']}: held-out documents")
        self.curve_chart = cascade_chart(pl.DataFrame(r["curve"]), r["thresholds"][0])
        set_chart(self.jchart, self.chart)
        set_chart(self.curve_jchart, self.curve_chart)
        line = html.escape(" ".join(self.flags()))
        self.flags_html.value = f"<small>same numbers: <code>explorer cascade DIR {line}</code></small>"


def _usd(v: float | None) -> str:
    return "-" if v is None else f"${v:,.0f}"


def summary_html(r: dict[str, Any]) -> str:
    """The cascade in a few lines: held-out vs fit accuracy, escalation, bill, latency, references, metrics."""
    h, f, s = r["held_out"], r["fit"], r["split"]
    esc = ", ".join("-" if e is None else f"{e:.0%}" for e in h["escalation_rate"])
    best = max(r["singles"], key=lambda x: x["accuracy"])
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    rows = [
        f"<b>{html.escape(' → '.join(r['chain']))}</b> on {html.escape(r['task'])}, thresholds "
        f"{', '.join('never' if math.isinf(t) else f'{t:.3f}' for t in r['thresholds'])} "
        f"({html.escape(r['thresholds_source'])})",
        f"held out ({s['n_held_out']} documents): accuracy <b>{h['accuracy']:.3f}</b> (fit part, {s['n_fit']} "
        f"documents: {f['accuracy']:.3f}); escalation {esc}; bill <b>{_usd(h['monthly_usd'])}/month</b>; latency "
        f"p50 {h['latency']['p50_s']:.3g} s, p99 {h['latency']['p99_s']:.3g} s",
        f"best single on the same documents: {html.escape(best['label'])}, {best['accuracy']:.3f} at "
        f"{_usd(best['monthly_usd'])}/month; oracle router (bound): {r['oracle']['accuracy']:.3f} at "
        f"{_usd(r['oracle']['monthly_usd'])}/month; random escalation at the same rates: {r['random']['accuracy']:.3f}",
        f"PGR {fmt(r['pgr'])}, APGR {fmt(r['apgr'])}, CPT(50%) {fmt(r['cpt50'])}, AIQ {fmt(r['aiq'])}"
        + (f" ({html.escape(r['route_note'])})" if r.get("route_note") else ""),
    ]
    return "".join(f"<p>{line}</p>" for line in rows)


def mc_tasks(samples: pl.DataFrame) -> list[str]:
    """Tasks whose samples carry per-choice log-likelihoods (the ones a cascade can route)."""
    if samples.is_empty():
        return []
    mc = samples.filter(pl.col("logliks").is_not_null() & (pl.col("task") != MEAN_TASK))
    return sorted(set(mc.get_column("task").to_list()))
