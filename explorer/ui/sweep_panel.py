"""The sweep panel: pick models x quantizations x tasks, Run in a background thread, watch the cells land.

`run_sweep` runs in a thread; its `on_record` callback (called as each cell's record lands) updates the
progress bar, the ETA, the results table and the frontier chart in place. Stop sets the sweep's stop event:
the running worker is terminated, finished cells stay on disk (a re-run skips them).
"""

from __future__ import annotations

import html
import threading
import time
from pathlib import Path
from typing import Any

import ipywidgets as w
import polars as pl

from explorer.analysis.recommend import with_frontier
from explorer.charts.frontier import TOOLTIP_FIELDS, frontier_chart
from explorer.deployment.options import measured_option
from explorer.deployment.table import bill, serve
from explorer.deployment.workload import Workload
from explorer.hardware.catalog import load_catalog
from explorer.models.demo import DEMO_MODELS, TINY_ALIAS
from explorer.quant.registry import LEVELS
from explorer.tasks.offline import OFFLINE_TASKS
from explorer.tasks.synthetic import SYNTHETIC_TASKS
from explorer.ui.common import html_table, jupyter_chart, set_chart
from explorer.ui.controls import PLACEHOLDER
from explorer.ui.explore import REPO_ROOT

LIVE_COLUMNS = ("model", "quant", "task", "status", "acc", "device_s_per_query", "n_docs", "error")


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


def _fmt_s(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class SweepPanel(w.VBox):
    """Widgets for a sweep. From Python: set the controls' `.value`, call `run()` (or click Run), `stop()`;
    read `records` (dicts, as they landed), `counts` (run_sweep's result), `spec()`; `wait(timeout)` joins."""

    def __init__(self, out_dir: str | Path | None = None, usd_per_hour: float | None = None):
        super().__init__(layout=w.Layout(width="100%"))
        self.usd_per_hour = (
            usd_per_hour if usd_per_hour is not None else load_catalog().price(*PLACEHOLDER)["usd_per_hour"]
        )
        self.records: list[dict[str, Any]] = []
        self.counts: dict[str, int] | None = None
        self.error: str | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._t0 = 0.0
        self._make_spec_controls(out_dir)
        self._make_run_controls()
        self.children = [
            w.HBox([self.models, self.quants, self.tasks]),
            self.extra_models,
            self.extra_tasks,
            w.HBox([self.limit, self.batch_size, self.device]),
            w.HBox([self.executor, self.ray_address]),
            self.data_dir,
            self.out_dir,
            w.HBox([self.run_button, self.stop_button]),
            w.HBox([self.progress, self.eta]),
            self.status,
            self.table_html,
            self.jchart,
        ]

    def _make_spec_controls(self, out_dir: str | Path | None) -> None:
        """The controls the spec is read from (models, levels, tasks, limit, batch, device, folders)."""
        wide = w.Layout(width="520px")
        style = {"description_width": "120px"}
        self.models = w.SelectMultiple(
            options=[*DEMO_MODELS, TINY_ALIAS], value=("smollm2-135m",), description="demo models", rows=4, style=style
        )
        self.extra_models = w.Text(
            description="other models",
            placeholder="HF ids (org/name[@rev]) or local paths, comma-separated",
            layout=wide,
            style=style,
        )
        self.quants = w.SelectMultiple(options=LEVELS, value=("bf16",), description="quantization", rows=6, style=style)
        self.tasks = w.SelectMultiple(
            options=[*SYNTHETIC_TASKS, *OFFLINE_TASKS],
            value=("explorer_arith",),
            description="tasks",
            rows=6,
            style=style,
        )
        self.extra_tasks = w.Text(
            description="other tasks", placeholder="lm-eval task names, comma-separated", layout=wide, style=style
        )
        self.limit = w.BoundedIntText(value=100, min=0, max=1_000_000, description="limit (0 = all)", style=style)
        self.batch_size = w.BoundedIntText(value=8, min=1, max=4096, description="batch size", style=style)
        self.device = w.Dropdown(options=["auto", "cpu", "cuda"], value="auto", description="device", style=style)
        self.executor = w.Dropdown(options=["local", "ray"], value="local", description="run on", style=style)
        self.ray_address = w.Text(
            description="Ray address", placeholder="auto | ray://head:10001 (empty: a local Ray)", style=style
        )
        self.data_dir = w.Text(
            description="data dir", placeholder="benchmark files (optional)", layout=wide, style=style
        )
        self.out_dir = w.Text(
            value=str(out_dir or REPO_ROOT / "results"), description="results dir", layout=wide, style=style
        )

    def _make_run_controls(self) -> None:
        """Run / Stop, the progress bar with its ETA, the status line, the live table and chart."""
        self.run_button = w.Button(description="Run", button_style="success", icon="play")
        self.stop_button = w.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.progress = w.IntProgress(value=0, min=0, max=1, description="cells", layout=w.Layout(width="520px"))
        self.eta = w.Label()
        self.status, self.table_html = w.HTML(), w.HTML()
        self.status.add_class("explorer-status")
        self.table_html.add_class("explorer-live-table")
        self.jchart = jupyter_chart()
        self.frontier_note = ""  # why the frontier is not drawn, when it is not
        self.run_button.on_click(lambda _: self.run())
        self.stop_button.on_click(lambda _: self.stop())

    def spec(self) -> Any:
        """The SweepSpec the controls describe (raises SpecError naming the field)."""
        from explorer.config.spec import SweepSpec

        return SweepSpec(
            models=[*self.models.value, *_split(self.extra_models.value)],
            quantizations=list(self.quants.value),
            tasks=list(dict.fromkeys([*self.tasks.value, *_split(self.extra_tasks.value)])),
            limit=self.limit.value or None,
            batch_size=self.batch_size.value,
            device=self.device.value,
            data_dir=self.data_dir.value.strip() or None,
        )

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run(self) -> None:
        """Start the sweep in a background thread (returns at once)."""
        if self.running:
            return
        try:
            spec = self.spec()
        except ValueError as exc:
            self._say(f"<span style='color:#b00'>{html.escape(str(exc))}</span>")
            return
        self.records, self.counts, self.error = [], None, None
        self._stop.clear()
        self.run_button.disabled, self.stop_button.disabled = True, False
        self.progress.value, self.eta.value, self.table_html.value = 0, "", ""
        self._say("planning (models are fetched and converted once)...")
        self._thread = threading.Thread(target=self._work, args=(spec, Path(self.out_dir.value)), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the cells that are done; the running worker is terminated."""
        self._stop.set()
        self.stop_button.disabled = True
        self._say("stopping: finished cells are kept...")

    def wait(self, timeout: float | None = None) -> bool:
        """Join the sweep thread; True when it has finished."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    def _on_plan(self, plan: Any) -> None:
        """run_sweep's first callback: the number of cells to run sets the progress bar; the clock starts."""
        pending = sum(len(job.cells) for job in plan.jobs)
        self.progress.max = max(pending, 1)
        self._t0 = time.monotonic()
        where = f"{html.escape(plan.device_name)}" + (" (Ray cluster)" if self.executor.value == "ray" else "")
        self._say(f"{pending} cells to run ({plan.skipped} already done) on {where}")

    def _work(self, spec: Any, out_dir: Path) -> None:
        from explorer.launcher.executors import make_executor
        from explorer.launcher.sweep import run_sweep

        try:
            executor = make_executor(self.executor.value, address=self.ray_address.value.strip() or None)
            self.counts = run_sweep(spec, out_dir, progress=False, on_record=self._on_record, stop=self._stop,
                                    on_plan=self._on_plan, executor=executor)  # fmt: skip
            c = self.counts
            self._say(
                f"done: {c['ok']} ok, {c['failed']} failed, {c['skipped']} skipped, {c['stopped']} stopped; "
                f"records in <code>{html.escape(str(out_dir / 'records'))}</code>"
            )
        except Exception as exc:  # shown in the panel: the thread has nobody else to tell
            self.error = f"{type(exc).__name__}: {exc}"
            self._say(f"<span style='color:#b00'>sweep failed: {html.escape(self.error)}</span>")
        finally:
            self.run_button.disabled, self.stop_button.disabled = False, True

    def _on_record(self, record: dict[str, Any]) -> None:
        """run_sweep's callback (sweep thread): one cell finished; update everything in place."""
        with self._lock:
            self.records.append(record)
            self.progress.value = min(self.progress.value + 1, self.progress.max)
            done, left = self.progress.value, self.progress.max - self.progress.value
            spent = time.monotonic() - self._t0
            eta = f", ETA {_fmt_s(spent / done * left)}" if left and not self._stop.is_set() else ""
            self.eta.value = f"{done}/{self.progress.max} cells, {_fmt_s(spent)}{eta}"
            self.table_html.value = html_table(self.live_table(), LIVE_COLUMNS, max_rows=200)
            self._draw_frontier()

    def live_table(self) -> pl.DataFrame:
        """One row per finished cell (as they landed): status, acc, device seconds per query."""
        rows = []
        for r in self.records:
            acc = next((m["value"] for m in r.get("metrics") or [] if m.get("metric") == "acc"), None)
            rows.append({**{k: r.get(k) for k in LIVE_COLUMNS}, "acc": acc})
        schema = {k: pl.Float64 if k in ("acc", "device_s_per_query") else pl.String for k in LIVE_COLUMNS}
        schema["n_docs"] = pl.Int64
        return pl.DataFrame(rows, schema=schema, strict=False)

    def _draw_frontier(self) -> None:
        """The frontier of the cells of this sweep so far on the measuring machine, one replica at
        `usd_per_hour` serving the default traffic (the explore app compares hardware and traffic)."""
        from explorer.records.store import evals_frame

        ok = [r for r in self.records if r.get("status") == "ok"]
        if not ok:
            return
        if all(r.get("weights") == "random" for r in ok):
            self.frontier_note = "frontier not drawn: random-weight cells measure cost only, never accuracy"
            return self._say(self.frontier_note)
        try:
            evals, catalog, workload = evals_frame(ok), load_catalog(), Workload()
            device, kind = evals["device_name"][0], evals["device_kind"][0] or "cpu"
            options = [measured_option(device, kind, self.usd_per_hour)]
            table = bill(serve(evals, catalog, workload, options=options), catalog, workload, options=options)
            front = with_frontier(table, "effective_usd_per_query").filter(pl.col("task") != "__mean__")
            if front.is_empty():
                return
            title = f"Accuracy vs cost so far (this machine at ${self.usd_per_hour:g}/h)"
            wanted = dict.fromkeys(("cell_id", "on_frontier", "effective_usd_per_query", *TOOLTIP_FIELDS))
            keep = [c for c in wanted if c in front.columns]
            set_chart(self.jchart, frontier_chart(front.select(keep), cost="effective_usd_per_query", title=title))
        except ValueError as exc:  # e.g. no metric named acc yet
            self.frontier_note = f"frontier not drawn: {exc}"
            self._say(html.escape(self.frontier_note))

    def _say(self, text: str) -> None:
        self.status.value = f"<p>{text}</p>"
