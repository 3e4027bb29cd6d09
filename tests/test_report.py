"""The app's service rows per filter (`serve_filtered`): cut from the rows of every configuration, they equal the
rows served from the filtered inputs (with the reported rows of each protocol choice)."""

from __future__ import annotations

from pathlib import Path

import pytest

from explorer.analysis.report import _extra, build_report, filter_inputs, load_inputs, serve_filtered
from explorer.analysis.reported import reported_depends_on
from explorer.deployment.table import serve
from explorer.deployment.workload import Workload
from explorer.hardware.catalog import load_catalog

SHIPPED = Path(__file__).resolve().parents[1] / "data" / "demo_cpu"


@pytest.fixture(scope="module")
def inputs():
    return load_inputs(SHIPPED)


@pytest.mark.parametrize("protocols", ["matching", "off", "all"])
def test_cut_rows_equal_the_rows_served_from_the_filtered_inputs(inputs, protocols: str) -> None:
    catalog, workload, cache = load_catalog(), Workload(queries_per_day=20_000), {}
    models = sorted(inputs.evals.get_column("model").unique())
    quants = sorted(inputs.evals.get_column("quant").unique())
    tasks = sorted(inputs.evals.get_column("task").unique())
    for chosen in [(models, quants, tasks), (models[:1], quants, tasks), (models, quants[1:], tasks[:1]), ((), (), ())]:
        got = serve_filtered(inputs, catalog, workload, *chosen, protocols=protocols, cache=cache)
        part = filter_inputs(inputs, *chosen)
        want = serve(part.evals, catalog, workload, ceilings=part.ceilings, profiles=part.profiles,
                     extra=_extra(part, protocols))  # fmt: skip
        assert got.equals(want), chosen
        assert got.height > 0
        # and the report built on them is the report of the filtered inputs
        rep = build_report(part, catalog, workload, service=got, protocols=protocols)
        assert rep.answer == build_report(part, catalog, workload, service=want, protocols=protocols).answer
    (served,) = cache.values()  # one full serve for every filter of this workload and protocols
    assert served.height >= got.height and len(cache) == 1


def test_a_filter_that_changes_the_reported_rows_is_served_anew(inputs) -> None:
    # one model measured 5-shot: without it the matching protocol is 0-shot only, so other reported rows match
    import dataclasses

    import polars as pl

    model = sorted(inputs.evals.filter(pl.col("weights").ne_missing("random"))["model"].unique())[0]
    evals = inputs.evals.with_columns(
        pl.when(pl.col("model") == model).then(5).otherwise(pl.col("num_fewshot")).alias("num_fewshot")
    )
    five = dataclasses.replace(inputs, evals=evals)
    others = [m for m in evals["model"].unique().sort() if m != model]
    part = filter_inputs(five, others)
    assert reported_depends_on(part.evals)[0] != reported_depends_on(five.evals)[0]
    catalog, workload = load_catalog(), Workload(queries_per_day=20_000)
    got = serve_filtered(five, catalog, workload, others, cache={})
    want = serve(part.evals, catalog, workload, ceilings=part.ceilings, profiles=part.profiles,
                 extra=_extra(part, "matching"))  # fmt: skip
    assert got.equals(want)
    everything = serve(five.evals, catalog, workload, ceilings=five.ceilings, profiles=five.profiles,
                       extra=_extra(five, "matching"))  # fmt: skip
    reported = pl.col("accuracy_provenance") != "measured"
    assert got.filter(reported).height != everything.filter(reported).height  # a cut would have been wrong
