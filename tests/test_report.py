"""The app's service rows per filter (`serve_filtered`): cut from the rows of every configuration, they equal the
rows served from the filtered inputs (with the reported rows of each protocol choice)."""

from __future__ import annotations

from pathlib import Path

import pytest

from explorer.analysis.report import _extra, build_report, filter_inputs, load_inputs, serve_filtered
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
    ((served, _),) = cache.values()  # one full serve for every filter of this workload and protocols
    assert served.height >= got.height and len(cache) == 1
