"""Big frontier charts (explorer/charts/dense.py): the rows drawn as points are exactly those that can be an
answer or are named, every other row is counted in exactly one cell, and the chart draws both."""

from __future__ import annotations

import math
import random

import altair as alt
import polars as pl
import pytest

from explorer.charts.dense import DENSE_ROWS, X_CELLS, Y_CELLS, dense_rows
from explorer.charts.frontier import chart_data, frontier_chart

N = 2600  # just above DENSE_ROWS


@pytest.fixture(scope="module")
def big() -> pl.DataFrame:
    rng = random.Random(3)
    return pl.DataFrame(
        {
            "model": [f"m{i // 2}" for i in range(N)],
            "quant": [("bf16", "int4")[i % 2] for i in range(N)],
            "hardware": [f"hw{i % 12}" for i in range(N)],
            "task": ["arc_easy"] * N,
            "value": [round(rng.uniform(0.25, 0.8), 3) for _ in range(N)],
            "stderr": [0.04] * N,
            "monthly_usd": [rng.lognormvariate(3, 1) for _ in range(N)],
            "cell_id": [f"c{i}" for i in range(N)],
            "cost_provenance": ["measured"] * N,
        }
    )


def _own_frontier(rows: list[dict]) -> set[str]:
    """Brute force: no row of the same hardware is at most as dear and at least as accurate, one strictly."""
    out = set()
    for r in rows:
        same = [o for o in rows if o["hardware"] == r["hardware"]]
        beaten = any(
            o["monthly_usd"] <= r["monthly_usd"]
            and o["value"] >= r["value"]
            and (o["monthly_usd"] < r["monthly_usd"] or o["value"] > r["value"])
            for o in same
        )
        out |= set() if beaten else {r["cell_id"]}
    return out


def test_a_small_frame_is_drawn_whole(big: pl.DataFrame) -> None:
    data = chart_data(big.head(DENSE_ROWS))
    assert dense_rows(data, "monthly_usd") is data


def test_points_are_the_frontiers_and_the_named_and_every_other_row_is_in_one_cell(big: pl.DataFrame) -> None:
    pick = big.row(7, named=True)
    data = chart_data(big, roles={"recommended": pick})
    drawn = dense_rows(data, "monthly_usd")
    points, cells = drawn.filter(pl.col("kind") == "point"), drawn.filter(pl.col("kind") == "cells")
    rows = data.to_dicts()
    want = _own_frontier(rows) | {r["cell_id"] for r in rows if r["on_frontier"]} | {pick["cell_id"]}
    want |= {r["cell_id"] for r in rows if (r["noise_group_size"] or 0) > 1}
    assert set(points.get_column("cell_id")) == want and points.height == len(want)
    assert 12 <= len(want) < 400  # every hardware keeps its own best trade-offs, and that is few
    assert int(cells.get_column("configurations").sum()) + points.height == N
    # by hand: the cell of one dominated row, on the grid fitted to all rows
    lx = [math.log10(r["monthly_usd"]) for r in rows]
    ys = [r["value"] for r in rows]
    rest = [r for r in rows if r["cell_id"] not in want]
    x_w, y_w = (max(lx) - min(lx)) / X_CELLS, (max(ys) - min(ys)) / Y_CELLS

    def cell(r: dict) -> tuple[int, int]:
        ix = min(int((math.log10(r["monthly_usd"]) - min(lx)) / x_w), X_CELLS - 1)
        return ix, min(int((r["value"] - min(ys)) / y_w), Y_CELLS - 1)

    ix, iy = cell(rest[0])
    count = sum(1 for r in rest if cell(r) == (ix, iy))
    x0, y0 = 10 ** (min(lx) + ix * x_w), min(ys) + iy * y_w
    match = cells.filter(((pl.col("cell_x0") - x0).abs() < 1e-9 * x0) & ((pl.col("cell_y0") - y0).abs() < 1e-9))
    assert match.height == 1 and match.item(0, "configurations") == count
    assert match.item(0, "cell_x0") <= rest[0]["monthly_usd"] <= match.item(0, "cell_x1")
    assert cells.select((pl.col("cell_x1") > pl.col("cell_x0")).all()).item()


def test_the_big_chart_draws_points_over_grey_cells(big: pl.DataFrame) -> None:
    with alt.data_transformers.disable_max_rows():
        spec = frontier_chart(big).to_dict()
    (rows,) = spec["datasets"].values()
    assert len(rows) < N / 2 and {r["kind"] for r in rows} == {"point", "cells"}
    layers = {layer.get("name"): layer for layer in spec["layer"]}
    point_filter = {"filter": {"field": "kind", "equal": "point"}}
    assert point_filter in layers["points"]["transform"]
    (rect,) = [la for la in spec["layer"] if la["mark"]["type"] == "rect"]
    assert rect["encoding"]["x"]["field"] == "cell_x0" and rect["encoding"]["x"]["scale"]["type"] == "log"
    total = sum(r["configurations"] for r in rows if r["kind"] == "cells")
    assert rect["encoding"]["opacity"]["legend"]["title"] == f"dominated ({total:,}): per cell"
    assert spec["layer"].index(rect) == 0  # under everything else
    others = [la for la in spec["layer"] if la is not rect]
    assert all(point_filter in la.get("transform", []) for la in others)  # frontier, bars, rings: points only
