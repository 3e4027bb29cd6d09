"""The widgets, driven from Python by setting their controls' values, on hand-made results (and one real sweep)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl
import pytest

from explorer.analysis.hardware import load_catalog
from explorer.records.files import atomic_write_text, write_record, write_samples
from explorer.records.store import load_evals

pytest.importorskip("ipywidgets")
pytest.importorskip("anywidget")

from explorer.ui.explore import AS_MEASURED, ExploreApp  # noqa: E402
from explorer.ui.sweep_panel import SweepPanel  # noqa: E402

DEVICE = "TestCPU (2 threads)"
# (model, quant) -> (accuracy on task a, accuracy on task b, device seconds per query)
CONFIGS = {
    ("cheap", "int4"): (0.60, 0.60, 0.01),
    ("mid", "int8"): (0.75, 0.75, 0.05),
    ("best", "bf16"): (0.80, 0.80, 0.50),
}


def _record(cid: str, model: str, quant: str, task: str, acc: float, device_s: float) -> dict:
    return {
        "cell_id": cid,
        "model": model,
        "quant": quant,
        "quant_backend": "torch",
        "task": task,
        "status": "ok",
        "metrics": [{"metric": "acc", "value": acc, "stderr": 0.05}],
        "n_docs": 4,
        "model_params": 10_000_000,
        "tokens_in_per_query": 100.0,
        "tokens_out_per_query": 0.0,
        "weight_bytes": 20_000_000,
        "peak_mem_bytes": 50_000_000,
        "model_calls": 4,
        "device_s_per_query": device_s,
        "device_name": DEVICE,
        "chance": 0.25,
        "provenance": "measured",
    }


@pytest.fixture()
def results(tmp_path: Path) -> Path:
    for (model, quant), (acc_a, acc_b, secs) in CONFIGS.items():
        for task, acc in (("task_a", acc_a), ("task_b", acc_b)):
            cid = f"{model}-{quant}-{task}"
            write_record(tmp_path, _record(cid, model, quant, task, acc, secs))
            rows = [
                {"cell_id": cid, "task": task, "doc_id": i, "target": "1", "pred": str(i % 2), "correct": float(i % 2),
                 "confidence": 0.6, "logliks": [-1.0, -0.5]}
                for i in range(4)
            ]  # fmt: skip
            write_samples(tmp_path, cid, rows)
    ceil = {"device_name": DEVICE, "dtype": "bfloat16", "matmul_flops": 5e11, "copy_bytes_per_s": 2e10}
    atomic_write_text(tmp_path / "ceilings" / "TestCPU_bfloat16.json", json.dumps(ceil))
    return tmp_path


@pytest.fixture()
def app(results: Path) -> ExploreApp:
    return ExploreApp(results)


def _chart_rows(app: ExploreApp) -> list[dict]:
    """The rows the browser shows: the spec's, or those of the last row swap (same chart shape, new rows)."""
    spec_rows = next(iter(app.jchart.spec["datasets"].values()))
    swapped = app.jchart._py_to_js_updates
    if swapped and swapped[0]["name"] == app.jchart.spec["data"]["name"]:
        return swapped[0]["value"]
    return spec_rows


def test_loads_everything_and_recommends(app: ExploreApp) -> None:
    assert app.status.value == ""
    assert app.table.height == 6
    assert set(app.tasks.options) == {"task_a", "task_b"}
    assert app.recommendation["chosen"]["model"] == "mid"  # 0.75 >= 0.9 x 0.8; cheap (0.6) is not
    assert "mid / int8" in app.rec_html.value and "/month" in app.rec_html.value
    assert len(_chart_rows(app)) == 6
    front = app.report["per_task"].filter(pl.col("on_frontier"))
    assert front.height == 6  # every point is on its task's frontier (cheaper is less accurate)


def test_price_scales_costs_linearly_without_resending_the_chart(app: ExploreApp) -> None:
    before = app.table.sort("cell_id")
    spec_before = app.jchart.spec
    app.price.value = 3 * app.price.value
    after = app.table.sort("cell_id")
    ratio = after["usd_per_1k_queries"] / before["usd_per_1k_queries"]
    assert ratio.to_list() == pytest.approx([3.0] * 6)
    assert (after["monthly_usd"] / before["monthly_usd"]).to_list() == pytest.approx([3.0] * 6)
    assert app.jchart.spec is spec_before  # not re-sent: a Vega param rescales the costs in the browser
    assert app.jchart.params.price_factor == pytest.approx(3.0)
    app.traffic.value = 20_000
    assert (app.table.sort("cell_id")["monthly_usd"] / after["monthly_usd"]).to_list() == pytest.approx([2.0] * 6)
    assert app.jchart.params.traffic_factor == pytest.approx(2.0)
    rec = app.recommendation
    assert rec["monthly_usd"] == pytest.approx(rec["usd_per_query"] * 20_000 * 30)


def test_price_per_hour_gives_the_cost_by_hand(app: ExploreApp) -> None:
    app.price.value = 3.6
    best_a = app.table.filter((pl.col("model") == "best") & (pl.col("task") == "task_a")).row(0, named=True)
    assert best_a["usd_per_1k_queries"] == pytest.approx(1000 * 0.50 * 3.6 / 3600)
    assert best_a["cost_provenance"] == "measured"


def test_hardware_change_projects_and_takes_the_catalog_price(app: ExploreApp) -> None:
    catalog = load_catalog()
    app.hardware.value = "L4"
    assert app.status.value == ""
    assert set(app.table["cost_provenance"]) == {"projected"}
    assert set(app.table["hardware"]) == {"L4"}
    assert app.price.value == pytest.approx(catalog.price("L4")["usd_per_hour"])
    providers = [v for _, v in app.provider.options if v]
    assert providers and not app.provider.disabled
    app.provider.value = providers[-1]
    assert app.price.value == pytest.approx(catalog.price("L4", providers[-1])["usd_per_hour"])
    assert set(app.table["provider"]) == {providers[-1]}
    app.hardware.value = AS_MEASURED
    assert set(app.table["cost_provenance"]) == {"measured"} and app.provider.disabled


def test_filters_reduce_rows(app: ExploreApp) -> None:
    faceted = app.jchart.spec
    app.tasks.value = ("task_a",)
    assert set(app.table["task"]) == {"task_a"} and app.table.height == 3
    assert app.jchart.spec is not faceted and "facet" not in app.jchart.spec  # another shape: a new spec
    one_task = app.jchart.spec
    app.models.value = ("cheap", "best")
    assert app.table.height == 2 and set(app.table["model"]) == {"cheap", "best"}
    assert app.jchart.spec is one_task  # same shape: only the rows went to the browser
    assert sorted(r["model"] for r in _chart_rows(app)) == ["best", "cheap"]
    assert sorted(r["model"] for r in app.chart_rows()) == ["best", "cheap"]
    assert app.recommendation["task"] == "task_a"
    app.quants.value = ()
    assert app.table.is_empty() and "no configuration" in app.rec_html.value


def test_target_slider_changes_the_recommended_config(app: ExploreApp) -> None:
    picks = {}
    for target in (0.7, 0.9, 1.0):
        app.target.value = target
        picks[target] = app.recommendation["chosen"]["model"]
    assert picks == {0.7: "cheap", 0.9: "mid", 1.0: "best"}
    assert "best / bf16" in app.rec_html.value and "100%" in app.rec_html.value


def test_chance_normalised_toggle(app: ExploreApp) -> None:
    app.chance.value = True
    cheap = app.table.filter(pl.col("model") == "cheap")["value"].to_list()
    assert cheap == pytest.approx([(0.6 - 0.25) / 0.75] * 2)
    assert "chance-normalised" in app.rec_html.value
    app.target.value = 0.8  # normalised: cheap 0.467, mid 0.667, best 0.733 -> 0.8 x 0.733 = 0.587
    assert app.recommendation["chosen"]["model"] == "mid"


def test_views(app: ExploreApp) -> None:
    app.view.value = "efficiency"
    assert app.status.value == "" and app.jchart.spec["mark"]["type"] == "bar"
    app.view.value = "mean over tasks"
    rows = _chart_rows(app)
    assert len(rows) == 3 and {r["task"] for r in rows} == {"__mean__"}
    app.view.value = "relative"
    assert app.status.value == "" and "relative_cost" in json.dumps(app.jchart.spec)


def test_click_fills_the_detail_view_with_per_sample_rows(app: ExploreApp) -> None:
    cid = "mid-int8-task_b"
    # what the browser sends when a point is clicked (the "pick" selection on cell_id)
    app.jchart._vl_selections = {"pick": {"value": {"vlPoint": {"or": [{"cell_id": cid}]}}, "store": []}}
    assert app.selected["cell_id"].to_list() == [cid]
    assert app.samples.height == 4 and set(app.samples["cell_id"]) == {cid}
    assert "2/4 correct" in app.detail_html.value and cid in app.detail_html.value
    app.view.value = "mean over tasks"  # a mean point stands for every task of the configuration
    point = {"model": "best", "quant": "bf16", "hardware": DEVICE, "provider": None, "task": "__mean__"}
    app.jchart._vl_selections = {"pick": {"value": {"vlPoint": {"or": [point]}}, "store": []}}
    assert app.selected.height == 2 and app.samples.height == 8
    app.jchart._vl_selections = {"pick": {"value": None, "store": []}}
    assert app.samples.is_empty() and "click a point" in app.detail_html.value


def test_export_files(app: ExploreApp, tmp_path: Path) -> None:
    app.tasks.value = ("task_a",)
    csv = app.export("csv", tmp_path / "out")
    assert pl.read_csv(csv).height == 3
    assert pl.read_parquet(app.export("parquet", tmp_path / "out")).height == 3
    assert app.export("png", tmp_path / "out").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert app.export("svg", tmp_path / "out").read_text().lstrip().startswith("<svg")


def test_read_only_hides_free_text_paths_and_exports_as_downloads(results: Path) -> None:
    app = ExploreApp(results, read_only=True)
    assert not app.shows(app.dir_text) and not app.shows(app.export_dir) and not app.shows(app.reload)
    assert app.shows(app.price) and app.shows(app.export_buttons["CSV"])
    app.export_buttons["CSV"].click()
    assert "download explorer_table.csv" in app.export_html.value and "data:text/csv;base64," in app.export_html.value
    assert not (results / "exports").exists()
    app.dir_text.value = "/"  # a crafted widget message: the hidden path field is not obeyed
    app.reload.click()
    assert app.results_dir == str(results) and app.table.height == 6
    app.read_only = False
    assert app.shows(app.dir_text) and app.shows(app.export_dir)
    app.export_buttons["CSV"].click()
    assert (results / "exports" / "explorer_table.csv").is_file()
    other = results / "other"
    write_record(other, _record("x", "solo", "bf16", "task_a", 0.5, 0.02))
    app.dir_text.value = str(other)
    app.reload.click()
    assert app.results_dir == str(other) and app.table["model"].to_list() == ["solo"]


def test_two_machines_as_measured_says_pick_a_hardware(results: Path) -> None:
    write_record(results, {**_record("other", "other", "int8", "task_a", 0.7, 0.01), "device_name": "OtherCPU"})
    ceil = {"device_name": "OtherCPU", "dtype": "bfloat16", "matmul_flops": 1e12, "copy_bytes_per_s": 4e10}
    atomic_write_text(results / "ceilings" / "OtherCPU_bfloat16.json", json.dumps(ceil))
    app = ExploreApp(results)
    assert "pick a catalog" in app.status.value
    app.hardware.value = "c7i.large"  # one catalog price for both machines: fine
    assert app.status.value == "" and set(app.table["hardware"]) == {"c7i.large"}


# ------------------------------------------------------------------------------------------ sweep panel
def test_sweep_panel_builds_the_spec_and_reports_bad_fields(tmp_path: Path) -> None:
    panel = SweepPanel(out_dir=tmp_path)
    panel.models.value = ("tiny-random-llama",)
    (tmp_path / "my-model").mkdir()
    panel.extra_models.value = f"org/model@main, {tmp_path / 'my-model'}"
    panel.extra_tasks.value = "piqa, explorer_pattern"
    panel.limit.value = 0
    spec = panel.spec()
    assert spec.models == ["tiny-random-llama", "org/model@main", str(tmp_path / "my-model")]
    assert spec.tasks == ["explorer_arith", "piqa", "explorer_pattern"] and spec.limit is None
    panel.quants.value = ()
    panel.run()
    assert not panel.running and "quantizations" in panel.status.value


@pytest.mark.slow
def test_sweep_panel_runs_live_and_stop_keeps_finished_cells(tmp_path: Path) -> None:
    """tiny-random-llama x {bf16, fp32} x explorer_arith, limit 4: two jobs; Stop once the first cell lands."""
    panel = SweepPanel(out_dir=tmp_path)
    panel.models.value = ("tiny-random-llama",)
    panel.quants.value = ("bf16", "fp32")
    panel.tasks.value = ("explorer_arith",)
    panel.limit.value, panel.device.value = 4, "cpu"
    panel.run_button.click()
    assert panel.running and panel.run_button.disabled and not panel.stop_button.disabled
    deadline = time.monotonic() + 240
    while not panel.records and panel.running and time.monotonic() < deadline:
        time.sleep(0.2)
    panel.stop_button.click()  # while the second job loads (or before it starts)
    assert panel.wait(120), "the sweep thread did not finish after Stop"
    assert panel.error is None, panel.error
    first = panel.records[0]
    assert first["status"] == "ok" and first["quant"] == "bf16"
    live = panel.live_table()
    assert live.height == len(panel.records) >= 1 and live["acc"][0] is not None
    assert "explorer_arith" in panel.table_html.value and "bf16" in panel.table_html.value
    assert panel.progress.max == 2 and panel.progress.value == len(panel.records)
    assert panel.counts["ok"] + panel.counts["stopped"] + panel.counts["failed"] == 2
    assert panel.counts["stopped"] == 1, panel.counts
    on_disk = load_evals(tmp_path)
    assert on_disk["cell_id"].unique().to_list() == [first["cell_id"]]  # the finished cell is kept, nothing else
    assert "stopped" in panel.status.value and not panel.run_button.disabled
    assert panel.jchart.spec is not None  # the frontier of the finished cell was drawn
