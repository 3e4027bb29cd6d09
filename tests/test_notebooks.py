"""Every notebook runs headlessly (nbclient, the python3 kernel of this environment), plus an appended cell that
sets widget values from Python and asserts on the resulting frames; notebooks are committed without outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from explorer.records.files import atomic_write_text, write_record, write_samples

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
DEVICE = "TestCPU (2 threads)"


def _run(name: str, extra: str, env: dict[str, str], timeout: int = 120) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(extra))
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=timeout, resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        client.execute()
    return nb


def _results(folder: Path) -> Path:
    for model, quant, acc, secs in (("small", "int4", 0.5, 0.01), ("large", "bf16", 0.8, 0.2)):
        cid = f"{model}-{quant}"
        record = {
            "cell_id": cid, "model": model, "quant": quant, "task": "arc_easy", "status": "ok", "n_docs": 2,
            "metrics": [{"metric": "acc", "value": acc, "stderr": 0.1}], "device_s_per_query": secs,
            "device_name": DEVICE, "chance": 0.25, "weight_bytes": 1000, "model_params": 500,
            "tokens_in_per_query": 50.0, "provenance": "measured",
        }  # fmt: skip
        write_record(folder, record)
        rows = [{"cell_id": cid, "task": "arc_easy", "doc_id": i, "correct": 1.0, "pred": "0", "target": "0"}
                for i in range(2)]  # fmt: skip
        write_samples(folder, cid, rows)
    ceil = {"device_name": DEVICE, "dtype": "bfloat16", "matmul_flops": 5e11, "copy_bytes_per_s": 2e10}
    atomic_write_text(folder / "ceilings" / "test.json", json.dumps(ceil))
    return folder


@pytest.mark.parametrize("name", ["explore.ipynb", "run_sweep.ipynb", "tiered.ipynb"])
def test_notebooks_are_committed_without_outputs(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert len(nb.cells) <= 6  # thin: import, configure, wire, display
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_explore_notebook(tmp_path: Path) -> None:
    results = _results(tmp_path / "results")
    check = """
import polars as pl
assert str(app.results_dir) == RESULTS_EXPECTED, app.results_dir
assert not app.read_only and app.status.value == ""
app.reported.value = "off"  # the hand-made cells alone (the shipped reported models are on by default)
mine = lambda: app.table.filter(pl.col("hardware") == "TestCPU (2 threads)").sort("model")
assert mine().height == 2 and mine()["replicas"].to_list() == [1, 1]  # 10k queries/day: one replica each
before = mine()["monthly_usd"].to_list()
app.price.value = app.price.value * 10
after = mine()["monthly_usd"].to_list()
assert all(abs(a / b - 10) < 1e-9 for a, b in zip(after, before)), (before, after)
app.traffic.value = 1e7  # peak 231 queries/s: 58 replicas of large (0.2 s), 3 of small (0.01 s)
assert mine()["replicas"].to_list() == [58, 3], mine()
app.target.value = 0.6
assert app.recommendation["chosen"]["model"] == "small", app.recommendation
app.target.value = 1.0
assert app.recommendation["chosen"]["model"] == "large"
app.models.value = ("small",)
assert set(app.table["model"]) == {"small"}
app.jchart._vl_selections = {"pick": {"value": {"vlPoint": {"or": [{"cell_id": "small-int4"}]}}, "store": []}}
assert app.samples.height == 2 and "2/2 correct" in app.detail_html.value
pages = Pages(app)
assert pages.tiered is None  # built when its tab is first opened
pages.selected_index = 1
assert pages.tiered is not None and "nothing to route" in pages.tiered.status.value  # no per-choice logliks here
""".replace("RESULTS_EXPECTED", repr(str(results)))
    nb = _run("explore.ipynb", check, {"EXPLORER_RESULTS": str(results)})
    shown = nb.cells[-2].outputs  # the cell that displays the app: a widget view
    assert any("application/vnd.jupyter.widget-view+json" in out.get("data", {}) for out in shown)


@pytest.mark.parametrize(
    "env",
    [
        {"EXPLORER_READ_ONLY": "1"},
        {"VOILA_PREHEAT": "True", "VOILA_BASE_URL": "/"},  # a preheated Voila kernel (explorer app)
        {"VOILA_PREHEAT": "False", "SERVER_SOFTWARE": "voila/0.5.13"},  # /voila/render (Binder, Jupyter)
    ],
)
def test_explore_notebook_read_only(tmp_path: Path, env: dict[str, str]) -> None:
    results = _results(tmp_path / "results")
    check = """
assert app.read_only and READ_ONLY
assert app.dir_text is None and app.export_dir is None and app.reload is None
"""
    _run("explore.ipynb", check, {"EXPLORER_RESULTS": str(results), **env})


def test_explore_notebook_under_voila_is_read_write_only_when_asked(tmp_path: Path) -> None:
    results = _results(tmp_path / "results")
    check = "assert not app.read_only and app.shows(app.dir_text)"
    _run("explore.ipynb", check, {"EXPLORER_RESULTS": str(results), "VOILA_BASE_URL": "/", "EXPLORER_READ_ONLY": "0"})


def test_tiered_notebook_on_the_demo_results() -> None:
    check = """
assert tiered.error is None and tiered.report is not None, tiered.error
first = tiered.report["held_out"]["monthly_usd"]
tiered.deploy.traffic.value = 1e7
assert tiered.report["held_out"]["monthly_usd"] > first
assert len(tiered.report["chain"]) == 2 and "held out" in tiered.summary.value
"""
    nb = _run("tiered.ipynb", check, {})
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in nb.cells[-2].outputs)


@pytest.mark.slow
def test_run_sweep_notebook_runs_a_tiny_sweep(tmp_path: Path) -> None:
    check = f"""
panel.out_dir.value = {str(tmp_path / "sweep")!r}
panel.models.value = ("tiny-random-llama",)
panel.quants.value = ("bf16",)
panel.tasks.value = ("explorer_arith",)
panel.limit.value, panel.device.value = 4, "cpu"
panel.run()
assert panel.wait(240), "sweep did not finish"
assert panel.error is None, panel.error
table = panel.live_table()
assert table.height == 1 and table["status"].to_list() == ["ok"] and table["acc"][0] is not None, table
assert panel.counts["ok"] == 1 and panel.progress.value == panel.progress.max == 1
assert "ETA" not in panel.eta.value and "1/1 cells" in panel.eta.value
"""
    _run("run_sweep.ipynb", check, {}, timeout=300)
    assert len(list((tmp_path / "sweep" / "records").glob("*.json"))) == 1
