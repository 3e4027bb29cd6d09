"""The widgets, driven from Python by setting their controls' values, on hand-made results (and one real sweep)."""

from __future__ import annotations

import html
import json
import math
import time
from pathlib import Path

import polars as pl
import pytest

from explorer.analysis.headline import settings_line
from explorer.analysis.recommend import usd
from explorer.hardware.catalog import load_catalog
from explorer.records.files import atomic_write_text, write_record, write_samples
from explorer.records.store import load_evals

pytest.importorskip("ipywidgets")
pytest.importorskip("anywidget")

from explorer.ui.explore import VIEWS, ExploreApp  # noqa: E402
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
        "device_kind": "cpu",
        "chance": 0.25,
        "provenance": "measured",
        "architecture": {
            "n_layers": 4,
            "hidden_size": 256,
            "n_kv_heads": 2,
            "head_dim": 64,
            "vocab_size": 1000,
            "tied_embeddings": True,
        },  # fmt: skip
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
    """This machine (and the baseline H200) at 1M queries/day: a fleet of 1 / 2 / 15 replicas for cheap / mid /
    best (peak 23.1 queries/s x 0.01 / 0.05 / 0.5 s over the 0.8 ceiling); one H200 replica (4 layers x the
    conservative 1.2 ms launch cost per layer) for each."""
    app = ExploreApp(results, reported=False)
    app.deploy.hardware.value = (DEVICE,)
    app.traffic.value = 1e6
    return app


def _chart_rows(app: ExploreApp) -> list[dict]:
    """The rows the browser shows: the spec's, or those of the last row swap (same chart shape, new rows)."""
    return app.jchart.sent_rows()


def _cli_json(app: ExploreApp, capsys) -> dict:
    """What `explorer frontier DIR --json` prints for the app's current settings (its own flags)."""
    from explorer.cli import main

    capsys.readouterr()
    assert main(["frontier", app.results_dir, "--json", *app.flags()]) == 0
    return json.loads(capsys.readouterr().out)


BEST_A = (pl.col("task") == "task_a") & (pl.col("model") == "best")


def _key(row: dict) -> tuple:
    return row["model"], row["quant"], row["hardware"], row["task"]


def test_loads_everything_and_recommends(results: Path, app: ExploreApp) -> None:
    fresh = ExploreApp(results, reported=False)
    assert fresh.status.value == ""
    assert set(fresh.tasks.options) == {"task_a", "task_b"}
    assert fresh.deploy.measured_device == DEVICE and DEVICE in fresh.deploy.hardware.value
    # 3 configurations x 2 tasks (+ the mean) on every catalog entry and this machine
    assert fresh.table.filter(pl.col("task") != "__mean__").height == 6 * (len(load_catalog().names) + 1)
    # at 10k queries/day every fleet is one replica: the most accurate costs no more than the others
    assert fresh.recommendation["chosen"]["model"] == "best"
    placeholder = load_catalog().price("c7i.large", "aws")["usd_per_hour"]
    assert app.price.value == pytest.approx(placeholder) and "placeholder" in app.deploy.price_note.value
    bills = {r["model"]: r["monthly_usd"] for r in app.chart_rows() if r["hardware"] == DEVICE}
    assert bills == pytest.approx(
        {"cheap": placeholder * 720, "mid": 2 * placeholder * 720, "best": 15 * placeholder * 720}
    )
    rec = app.recommendation
    assert rec["task"] == "__mean__" and rec["chosen"]["model"] == "mid"  # 0.75 >= 0.9 x 0.8; cheap (0.6) is not
    assert "mid int8" in app.rec_html.value and "/month" in app.rec_html.value
    # the headline, by hand: mid on two replicas of this machine at the placeholder price, flagged as such
    assert f"mid int8 on 2x {DEVICE}, {usd(2 * placeholder * 720)}/month (measured; its " in app.sentence
    assert "/h price is a placeholder: set it)" in app.sentence and "Within noise of its accuracy" in app.sentence
    assert app.sentence in html.unescape(app.headline_html.value)
    assert {r["task"] for r in _chart_rows(app)} == {"__mean__"}  # the frontier view: the headline's scope
    app.view.value = "per task"
    assert {r["task"] for r in _chart_rows(app)} == {"task_a", "task_b"}


def test_price_and_traffic_sequences_match_the_cli_and_the_export(app: ExploreApp, capsys, tmp_path: Path) -> None:
    """0.1 -> 0.5 -> 0.2 -> 0.1 -> 1 $/h with traffic changes between: every state equals a fresh CLI run."""
    app.deploy.hardware.value = (DEVICE, "L4", "c7i.large")
    for price, traffic in ((0.1, 10_000), (0.5, 10_000), (0.2, 3e6), (0.1, 3e6), (1.0, 50_000)):
        app.price.value, app.traffic.value = price, traffic
        doc = _cli_json(app, capsys)
        cli = {_key(r): r for r in doc["rows"]}
        shown = {_key(r): r for r in app.chart_rows()}
        assert shown and set(shown) <= set(cli)
        for key, row in shown.items():
            assert row["monthly_usd"] == pytest.approx(cli[key]["monthly_usd"]), (price, traffic, key)
        mine = app.table.filter(
            (pl.col("hardware") == DEVICE) & (pl.col("task") == "task_a") & (pl.col("model") == "best")
        )
        replicas = math.ceil(traffic / 86_400 * 2.0 * 0.50 / 0.8)  # peak twice the mean, 0.5 s a query
        assert mine["replicas"].item() == max(1, replicas)
        assert mine["monthly_usd"].item() == pytest.approx(max(1, replicas) * price * 720)
        assert app.recommendation["chosen"]["monthly_usd"] == pytest.approx(doc["answer"]["chosen"]["monthly_usd"])
        assert app.flags()[0] in app.rec_html.value  # the page shows the command that gives these numbers
        path = app.export("csv", tmp_path)
        head = path.read_text().splitlines()[:2]  # the headline and its settings ride with the table
        assert head == [f"# {app.sentence}", f"# {settings_line(app.settings)}"]
        assert f"{usd(doc['answer']['chosen']['monthly_usd'])}/month" in app.sentence
        assert f"traffic: {traffic:,.0f} queries/day" in head[1] and f"${price:.2f}/h" in head[1]
        exported = pl.read_csv(path, comment_prefix="#")
        best = exported.filter(
            (pl.col("hardware") == DEVICE) & (pl.col("task") == "task_a") & (pl.col("model") == "best")
        )
        assert best["monthly_usd"].item() == pytest.approx(mine["monthly_usd"].item())


def test_catalog_price_controls(app: ExploreApp) -> None:
    catalog = load_catalog()
    app.deploy.hardware.value = ("L4",)
    assert set(app.table["hardware"]) == {"L4", "H200"}  # the baseline is always compared
    l4 = app.table.filter(pl.col("hardware") == "L4")
    assert set(l4["cost_provenance"]) == {"projected"}
    assert l4["usd_per_hour"][0] == pytest.approx(catalog.price("L4")["usd_per_hour"])
    app.deploy.provider.value = "gcp"
    assert app.table.filter(pl.col("hardware") == "L4")["usd_per_hour"][0] == pytest.approx(0.70683)
    app.deploy.price_scale.value = 0.5
    l4 = app.table.filter((pl.col("hardware") == "L4") & (pl.col("task") == "task_a"))
    assert l4["usd_per_hour"][0] == pytest.approx(0.70683 * 0.5)
    assert l4["monthly_usd"].to_list() == pytest.approx([0.70683 * 0.5 * 720] * 3)


def test_billing_latency_and_cost_axis(app: ExploreApp) -> None:
    app.deploy.hardware.value = (DEVICE,)
    app.deploy.billing.value = "per-second"
    best = app.table.filter((pl.col("hardware") == DEVICE) & (pl.col("model") == "best") & (pl.col("task") == "task_a"))
    assert best["monthly_usd"].item() == pytest.approx(30e6 * 0.5 * app.price.value / 3600)  # busy seconds only
    app.deploy.latency.value = 0.1  # best takes 0.5 s a query: excluded, with the reason on the page
    assert "latency 0.5 s &gt; target 0.1 s" in app.excluded_html.value  # HTML-escaped on the page
    assert app.recommendation["chosen"]["model"] == "mid"  # best can no longer be served: 0.9 x 0.75 -> mid
    app.deploy.cost_axis.value = "usd_per_correct"
    assert app.jchart.spec is not None and "usd_per_correct" in json.dumps(app.jchart.spec)


def test_filters_reduce_rows_and_an_empty_filter_clears_the_chart(app: ExploreApp) -> None:
    app.view.value = "per task"
    faceted = app.jchart.spec
    app.tasks.value = ("task_a",)
    assert set(app.table["task"]) == {"task_a"}
    assert app.jchart.spec is not faceted and "facet" not in app.jchart.spec  # another shape: a new spec
    one_task = app.jchart.spec
    app.models.value = ("cheap", "best")
    assert set(app.table["model"]) == {"cheap", "best"}
    assert app.jchart.spec is one_task  # same shape: only the rows went to the browser
    assert {r["model"] for r in _chart_rows(app)} == {"best", "cheap"} == {r["model"] for r in app.chart_rows()}
    assert app.recommendation["task"] == "task_a"
    app.quants.value = ()
    assert "no configuration" in app.status.value and app.jchart.layout.display == "none" and app.report is None
    app.quants.value = ("bf16",)
    assert app.status.value == "" and app.jchart.layout.display is None


def test_target_slider_changes_the_recommended_config(app: ExploreApp) -> None:
    picks = {}
    for target in (0.7, 0.9, 1.0):
        app.target.value = target
        picks[target] = app.recommendation["chosen"]["model"]
    assert picks == {0.7: "cheap", 0.9: "mid", 1.0: "best"}
    assert "best bf16" in app.rec_html.value and "100%" in app.rec_html.value


def test_chance_normalised_toggle(app: ExploreApp) -> None:
    app.chance.value = True
    cheap = app.table.filter((pl.col("model") == "cheap") & (pl.col("task") != "__mean__"))["value"].unique().to_list()
    assert cheap == pytest.approx([(0.6 - 0.25) / 0.75])
    app.target.value = 0.8  # normalised: cheap 0.467, mid 0.667, best 0.733 -> 0.8 x 0.733 = 0.587
    assert app.recommendation["chosen"]["model"] == "mid" and app.recommendation["chance_normalised"]


def test_views(app: ExploreApp) -> None:
    app.view.value = "efficiency"
    assert app.status.value == "" and app.jchart.spec["mark"]["type"] == "bar"
    app.view.value = "bills"
    assert app.status.value == "" and "idle" in json.dumps(app.jchart.spec)
    app.view.value = "frontier"
    rows = _chart_rows(app)
    assert {r["task"] for r in rows} == {"__mean__"} and len({(r["model"], r["hardware"]) for r in rows}) == len(rows)
    app.view.value = "relative"
    assert app.status.value == "" and "relative_cost" in json.dumps(app.jchart.spec)


def test_click_fills_the_detail_view_with_per_sample_rows(app: ExploreApp) -> None:
    point = {"model": "mid", "quant": "int8", "hardware": DEVICE, "provider": None, "task": "task_b"}
    # what the browser sends when a point is clicked (the "pick" selection on the configuration fields)
    app.jchart._vl_selections = {"pick": {"value": {"vlPoint": {"or": [point]}}, "store": []}}
    assert app.selected["cell_id"].to_list() == ["mid-int8-task_b"]
    assert app.samples.height == 4 and set(app.samples["cell_id"]) == {"mid-int8-task_b"}
    assert "2/4 correct" in app.detail_html.value
    app.view.value = "frontier"  # a mean point stands for every task of the configuration
    mean = {**point, "model": "best", "quant": "bf16", "task": "__mean__"}
    app.jchart._vl_selections = {"pick": {"value": {"vlPoint": {"or": [mean]}}, "store": []}}
    assert app.selected.height == 2 and app.samples.height == 8
    app.jchart._vl_selections = {"pick": {"value": None, "store": []}}
    assert app.samples.is_empty() and "click a point" in app.detail_html.value


def test_export_files(app: ExploreApp, tmp_path: Path) -> None:
    app.tasks.value = ("task_a",)
    csv = pl.read_csv(app.export("csv", tmp_path / "out"), comment_prefix="#")
    assert csv.height == app.table.height and set(csv["task"]) == {"task_a"}
    assert pl.read_parquet(app.export("parquet", tmp_path / "out")).height == app.table.height
    assert app.export("png", tmp_path / "out").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert app.export("svg", tmp_path / "out").read_text().lstrip().startswith("<svg")


def test_read_only_creates_no_path_widget_and_exports_as_downloads(results: Path) -> None:
    app = ExploreApp(results, read_only=True, reported=False)
    assert app.dir_text is None and app.export_dir is None and app.reload is None  # not created, not just hidden
    assert app.shows(app.price) and app.shows(app.export_buttons["CSV"])
    app.export_buttons["CSV"].click()
    assert "download explorer_table.csv" in app.export_html.value and "data:text/csv;base64," in app.export_html.value
    assert not (results / "exports").exists()
    rows = app.table.height
    app._on_reload(None)  # even called directly, a read-only app opens no folder
    assert app.results_dir == str(results) and app.table.height == rows
    editable = ExploreApp(results, reported=False)
    assert editable.shows(editable.dir_text) and editable.shows(editable.export_dir) and editable.shows(editable.reload)
    editable.export_buttons["CSV"].click()
    assert (results / "exports" / "explorer_table.csv").is_file()
    assert str(results / "exports") in editable.export_html.value  # the owner's notebook says where
    other = results / "other"
    write_record(other, _record("x", "solo", "bf16", "task_a", 0.5, 0.02))
    editable.dir_text.value = str(other)
    editable.reload.click()
    assert editable.results_dir == str(other) and set(editable.table["model"]) == {"solo"}


def test_a_failing_callback_shows_one_line(results: Path, capfd) -> None:
    """Read-only: the page gets one line without paths, the server log the traceback; a notebook gets it raised."""
    app = ExploreApp(results, read_only=True, reported=False)

    def broken() -> None:
        raise KeyError(f"{results}/records/gone.json")

    app.build = broken
    app.target.value = 0.8
    assert (
        app.status.value
        == "<span style='color:#b00'>KeyError: &#x27;gone.json&#x27; (details in the server log)</span>"
    )
    assert app.report is None and app.jchart.layout.display == "none"
    assert "Traceback" in capfd.readouterr().err
    notebook = ExploreApp(results, reported=False)
    notebook.build = broken
    with pytest.raises(KeyError):
        notebook.target.value = 0.8
    assert str(results) in notebook.status.value  # the owner may read their own paths


def test_two_machines_outside_the_catalog_are_not_priced_as_one(results: Path) -> None:
    write_record(results, {**_record("other", "other", "int8", "task_a", 0.7, 0.01), "device_name": "OtherCPU"})
    ceil = {"device_name": "OtherCPU", "dtype": "bfloat16", "matmul_flops": 1e12, "copy_bytes_per_s": 4e10}
    atomic_write_text(results / "ceilings" / "OtherCPU_bfloat16.json", json.dumps(ceil))
    app = ExploreApp(results, reported=False)
    assert app.deploy.measured_device is None and DEVICE not in app.deploy.hardware.options
    assert app.status.value == "" and set(app.table["cost_provenance"]) == {"projected"}


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
    # tiny-random-llama has random weights: its cost is real, its accuracy is never put on a frontier
    assert panel.jchart.spec is None and "random-weight" in panel.frontier_note


def test_sweep_panel_draws_the_frontier_of_real_cells(tmp_path: Path) -> None:
    """The live frontier of finished real-model cells (the shipped demo records), priced at the panel's rate."""
    import json

    panel = SweepPanel(out_dir=tmp_path)
    demo = Path(__file__).resolve().parents[1] / "data" / "demo_cpu" / "records"
    panel.records = [json.loads(p.read_text()) for p in sorted(demo.glob("*.json"))[:3]]
    panel._draw_frontier()
    assert panel.jchart.spec is not None and panel.frontier_note == ""
    models = {r["model"] for r in panel.records}
    drawn = {v["model"] for v in panel.jchart.spec["datasets"].values() for v in v if "model" in v}
    assert drawn == models


def test_filters_reach_the_cli_flags(app: ExploreApp, capsys) -> None:
    app.tasks.value, app.models.value = ("task_a",), ("mid", "best")
    assert "--only-task=task_a" in app.flags() and "--only-model=mid" in app.flags()
    doc = _cli_json(app, capsys)
    assert doc["answer"]["chosen"]["monthly_usd"] == pytest.approx(app.recommendation["chosen"]["monthly_usd"])
    assert {_key(r) for r in doc["rows"]} == {_key(r) for r in app.report.frontier.to_dicts()}


def test_damaged_files_are_said_on_the_page_and_never_used(results: Path) -> None:
    """A truncated record and a truncated samples file: the header names both (file names only, no server path),
    their cells are not on the chart, the intact ones are."""
    record = results / "records" / "cheap-int4-task_a.json"
    record.write_text(record.read_text()[:40])
    samples = results / "samples" / "mid-int8-task_b.jsonl"
    samples.write_text("".join(samples.read_text().splitlines(keepends=True)[:-1]))  # a document lost
    app = ExploreApp(results, reported=False)
    header = app.header.value
    assert "2 damaged file(s), not used" in header and "cheap-int4-task_a.json" in header
    assert "mid-int8-task_b" in header and str(results) not in header
    cells = set(app.report.table.get_column("cell_id").drop_nulls().to_list())
    assert "cheap-int4-task_a" not in cells and "mid-int8-task_b" not in cells and "cheap-int4-task_b" in cells


def test_nothing_above_chance_says_so_in_every_view() -> None:
    """SmolLM2 on BoolQ, chance-normalised: every level is below chance (the issue's Polars out-of-bounds crash)."""
    shipped = Path(__file__).resolve().parents[1] / "data" / "demo_cpu"
    app = ExploreApp(shipped, reported=False)
    app.models.value, app.tasks.value = ("smollm2-135m",), ("boolq",)
    app.chance.value = True
    assert "no configuration beats chance on boolq" in app.rec_html.value
    assert "not above chance" in app.claim_html.value
    for view in VIEWS:
        app.view.value = view
        assert "Traceback" not in app.status.value and "missing column" not in app.status.value, (view, app.status)
    app.view.value = "bills"
    assert "no bills to show" in app.status.value


def test_table_frontier_and_cascade_say_each_damaged_file_once(results: Path, capsys) -> None:
    from explorer.cli import main

    record = results / "records" / "cheap-int4-task_a.json"
    record.write_text(record.read_text()[:40])
    line = f"damaged, not used: {record}: record is not valid JSON"
    for argv in (["table", str(results)], ["frontier", str(results), "--no-reported"],
                 ["cascade", str(results), "--chain", "cheap/int4,best/bf16", "--task", "task_b"]):  # fmt: skip
        rc = main(argv)  # the hand-made samples have no doc_hash: the cascade stops after saying the damage
        assert rc == (2 if argv[0] == "cascade" else 0), argv
        err = capsys.readouterr().err
        assert err.count("damaged, not used:") == 1 and line in err, (argv, err)


def test_a_link_reproduces_the_view_and_bad_values_keep_the_defaults(results: Path) -> None:
    """The URL a page sends (`url.initial`) sets the controls, and after each refresh `url.query` holds the state
    that reproduces the view; a bad value keeps its default and says so in one line."""
    sender = ExploreApp(results, reported=False)
    sender.task.value, sender.traffic.value, sender.target.value = "task_b", 1e6, 0.8
    sender.deploy.hardware.value, sender.view.value = (DEVICE, "L4"), "latency"
    link = sender.url.query
    assert "task=task_b" in link and "view=latency" in link and "traffic=1000000" in link
    viewer = ExploreApp(results, reported=False)
    viewer.url.initial = link  # what the browser sends once its page connects
    assert (viewer.task.value, viewer.traffic.value, viewer.target.value) == ("task_b", 1e6, 0.8)
    assert viewer.deploy.hardware.value == (DEVICE, "L4") and viewer.view.value == "latency"
    assert viewer.sentence == sender.sentence and viewer.chart_rows() == sender.chart_rows()
    assert viewer.link_note.value == ""
    bad = ExploreApp(results, reported=False)
    bad.url.initial = "task=task_z&traffic=banana&view=frontier"
    assert bad.task.value == "" and bad.traffic.value == 10_000  # defaults kept
    note = html.unescape(bad.link_note.value)
    assert "link: task 'task_z' is not an option (did you mean 'task_b' or 'task_a'?): default kept" in note
    assert "traffic 'banana' is not a number: default kept" in note
    assert bad.sentence.startswith("For 10,000 queries/day")


def test_detail_pages_documents_with_their_text(app: ExploreApp) -> None:
    """With the task's docs/ file, each document row shows its question, the gold answer and the model's choice as
    text, ten to a page."""
    from explorer.records.docs import docs_path
    from explorer.ui.detail import PAGE_ROWS

    rows = app.samples if not app.samples.is_empty() else None
    assert rows is None  # nothing picked yet
    folder = Path(app.results_dir)
    docs_path(folder, "task_b").parent.mkdir(exist_ok=True)
    lines = [{"task": "task_b", "doc_id": i, "doc_hash": None, "question": f"Question {i}?",
              "choices": ["yes", "no"], "gold": None} for i in range(4)]  # fmt: skip
    docs_path(folder, "task_b").write_text("".join(json.dumps(r) + "\n" for r in lines))
    point = {"model": "mid", "quant": "int8", "hardware": DEVICE, "provider": None, "task": "task_b"}
    app.show_detail([point])
    shown = app.detail.rows
    assert shown.height == app.samples.height == 4 and shown["question"].to_list() == [
        f"Question {i}?" for i in range(4)
    ]
    by_id = {r["doc_id"]: r for r in app.samples.iter_rows(named=True)}
    for r in shown.iter_rows(named=True):  # the indices 0/1 read as the choices' text
        assert r["gold"] == ["yes", "no"][int(by_id[r["doc_id"]]["target"])]
        assert r["pred"] == ["yes", "no"][int(by_id[r["doc_id"]]["pred"])]
    assert "Question 3?" in app.detail_html.value and app.detail.pages == 1 and PAGE_ROWS == 10
