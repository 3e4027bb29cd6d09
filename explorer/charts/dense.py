"""Big frontier charts: above DENSE_ROWS rows, the points that matter are drawn as points and the rest as a density.

At 10,000 configurations (x several hardware) one point per deployment is a blot a viewer cannot read, and the
browser spends a second a redraw on it. Here the chart keeps, as points with their stderr bars, every row that
can be an answer or is named: each hardware's own Pareto frontier per task (so every colour keeps its best
trade-offs), the overall frontier and its noise groups, the recommended and the baseline deployment. Every other
(dominated) row goes into a cell of a grid on log cost x accuracy (per task), drawn as a grey rectangle whose
opacity says how many deployments it holds. Nothing is dropped: the cells' counts add up to the rows not drawn as
points (`dense_rows` is tested for that).
"""

from __future__ import annotations

import altair as alt
import polars as pl

from explorer.analysis.frontier import ACCURACY, pareto_frontier

DENSE_ROWS = 2000  # above this many rows: featured points + density cells
X_CELLS, Y_CELLS = 48, 32  # the grid of a task's dominated rows (at most 1,536 cells a task)
CELL_FIELDS = ("cell_x0", "cell_x1", "cell_y0", "cell_y1", "configurations")


def featured(data: pl.DataFrame, shown: str, accuracy: str = ACCURACY) -> pl.Expr:
    """True on the rows drawn as points: on the frontier (or its noise groups), ringed (role), or on the Pareto
    frontier of their own hardware (per task)."""
    by = [c for c in ("task", "hardware") if c in data.columns]
    slim = data.select(shown, accuracy, *by).with_row_index("_row")
    own = pareto_frontier(slim, cost=shown, accuracy=accuracy, by=by).filter(pl.col("on_frontier"))
    mask = pl.Series("own", [False] * data.height)
    mask = mask.scatter(own.get_column("_row").to_list(), True) if own.height else mask
    named = [pl.col(c).fill_null(False) for c in ("on_frontier",) if c in data.columns]
    named += [pl.col("noise_group_size").fill_null(0) > 1] if "noise_group_size" in data.columns else []
    named += [pl.col("role").is_not_null()] if "role" in data.columns else []
    return pl.any_horizontal(pl.lit(mask), *named)


def dense_rows(data: pl.DataFrame, shown: str, accuracy: str = ACCURACY) -> pl.DataFrame:
    """The rows a frontier chart draws, from `chart_data` rows (`shown`: the cost column as drawn): all of them up
    to DENSE_ROWS; above, the `featured` rows (`kind` = "point") and one row per non-empty cell of the grid of the
    others (`kind` = "cells", with its edges `cell_x0`..`cell_y1` and `configurations`: how many rows it holds)."""
    if data.height <= DENSE_ROWS:
        return data
    marked = data.with_columns(featured(data, shown, accuracy).alias("_featured"))
    points = marked.filter(pl.col("_featured")).drop("_featured").with_columns(pl.lit("point").alias("kind"))
    rest = marked.filter(~pl.col("_featured"))
    return pl.concat([points, _cells(rest, data, shown, accuracy)], how="diagonal_relaxed")


def _cells(rest: pl.DataFrame, data: pl.DataFrame, shown: str, accuracy: str) -> pl.DataFrame:
    """The grid cells of `rest` (edges fitted to all of `data`, so cells never widen the axes)."""
    lx, y = pl.col(shown).cast(pl.Float64).log10(), pl.col(accuracy).cast(pl.Float64)
    ends = [e.alias(n) for e, n in ((lx.min(), "x0"), (lx.max(), "x1"), (y.min(), "y0"), (y.max(), "y1"))]
    (x_lo, x_hi, y_lo, y_hi) = data.select(ends).row(0)
    x_w, y_w = max(x_hi - x_lo, 1e-9) / X_CELLS, max(y_hi - y_lo, 1e-9) / Y_CELLS
    ix = ((lx - x_lo) / x_w).floor().clip(0, X_CELLS - 1).cast(pl.Int32).alias("_ix")
    iy = ((y - y_lo) / y_w).floor().clip(0, Y_CELLS - 1).cast(pl.Int32).alias("_iy")
    by = [c for c in ("task",) if c in rest.columns]
    cells = rest.group_by([*by, ix, iy]).agg(pl.len().cast(pl.Int64).alias("configurations"))
    edge_x = [(10 ** (x_lo + (pl.col("_ix") + k) * x_w)).alias(n) for k, n in ((0, "cell_x0"), (1, "cell_x1"))]
    edge_y = [(y_lo + (pl.col("_iy") + k) * y_w).alias(n) for k, n in ((0, "cell_y0"), (1, "cell_y1"))]
    cells = cells.with_columns(*edge_x, *edge_y, pl.lit("cells").alias("kind"))
    return cells.sort([*by, "_ix", "_iy"]).drop("_ix", "_iy")


def is_dense(data: pl.DataFrame) -> bool:
    return "kind" in data.columns and "cell_x0" in data.columns


def point_rows(base: alt.Chart, data: pl.DataFrame) -> alt.Chart:
    """`base` limited to the rows drawn as points (all of them unless `data` is dense)."""
    return base.transform_filter(alt.FieldEqualPredicate(field="kind", equal="point")) if is_dense(data) else base


def density_layer(data: pl.DataFrame, x: alt.X, y: alt.Y) -> list[alt.Chart]:
    """The grey cells of the dominated rows (none unless `data` is dense), under the points."""
    if not is_dense(data):
        return []
    total = int(data.get_column("configurations").sum())
    cells = alt.Chart(data).transform_filter(alt.FieldEqualPredicate(field="kind", equal="cells"))
    legend = alt.Legend(title=f"dominated ({total:,}): per cell")
    return [
        cells.mark_rect(color="#888", strokeWidth=0).encode(
            x=alt.X(**{**x.to_dict(), "field": "cell_x0"}),
            x2="cell_x1:Q",
            y=alt.Y(**{**y.to_dict(), "field": "cell_y0"}),
            y2="cell_y1:Q",
            opacity=alt.Opacity("configurations:Q", scale=alt.Scale(type="sqrt", range=[0.12, 0.7]), legend=legend),
            tooltip=[alt.Tooltip("configurations:Q", title="dominated deployments in this cell", format=",")],
        )
    ]
