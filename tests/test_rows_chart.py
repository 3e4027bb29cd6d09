"""The chart rows travel as one JSON buffer holding only the fields the spec reads (explorer/ui/rows_chart.py),
and a target change re-answers the billed report (explorer/analysis/report.py `at_target`)."""

from __future__ import annotations

import altair as alt
import polars as pl
import pytest

from explorer.ui.rows_chart import MIN_ROWS, RowsChart, patched_source, spec_fields


def _frame(n: int) -> pl.DataFrame:
    return pl.DataFrame({"x": [float(i) for i in range(n)], "y": [i % 7 for i in range(n)],
                         "name": [f"p{i}" for i in range(n)], "unused": list(range(n))})  # fmt: skip


def test_big_dataset_moves_to_the_buffer_with_only_the_read_fields() -> None:
    frame = _frame(MIN_ROWS + 5)
    chart = alt.Chart(frame).mark_point().encode(x="x:Q", y="y:Q", tooltip="name:N").transform_filter("datum.y > 2")
    widget = RowsChart(chart)
    name = widget.spec["data"]["name"]
    assert widget.spec["datasets"][name] == [] and widget._rows_name == name
    assert widget.sent_rows() == frame.select("x", "y", "name").to_dicts()  # "unused" stays in Python
    assert spec_fields(widget.spec) == {"x", "y", "name"}
    assert widget.show_rows(frame.head(3)) and widget.sent_rows() == frame.head(3).select("x", "y", "name").to_dicts()


def test_small_dataset_stays_in_the_spec() -> None:
    frame = _frame(MIN_ROWS - 1)
    widget = RowsChart(alt.Chart(frame).mark_point().encode(x="x:Q", y="y:Q"))
    assert widget._rows == b"" and len(widget.spec["datasets"][widget.spec["data"]["name"]]) == MIN_ROWS - 1
    assert widget.sent_rows() == frame.to_dicts()


def test_patch_refuses_a_changed_altair_script() -> None:
    with pytest.raises(RuntimeError, match="anchor"):
        patched_source("async function render({ model, el }) {\n")  # the second anchor is missing


def test_at_target_equals_a_full_report(tmp_path) -> None:
    from explorer.analysis.report import at_target, build_report, load_inputs
    from explorer.deployment.workload import Workload
    from explorer.hardware.catalog import load_catalog
    from tests.test_browser import synth_results

    inputs, catalog, workload = (
        load_inputs(synth_results(tmp_path / "s", 200), reported=False),
        load_catalog(),
        Workload(measured_usd_per_hour=0.1),
    )
    first = build_report(inputs, catalog, workload, target_fraction=0.9)
    for target in (0.7, 0.95):
        assert (
            at_target(first, catalog, target).answer
            == build_report(inputs, catalog, workload, target_fraction=target).answer
        )
    lower = at_target(first, catalog, 0.7).answer
    assert lower["threshold"] == pytest.approx(0.7 * first.answer["best_accuracy"]) != first.answer["threshold"]
    assert (
        lower["chosen"]["value"] >= lower["threshold"] and first.answer["chosen"]["value"] >= first.answer["threshold"]
    )
