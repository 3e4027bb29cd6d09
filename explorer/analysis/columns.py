"""The one check every analysis function makes first: the columns it needs are in the frame."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl


def require_columns(frame: pl.DataFrame, columns: Sequence[str], where: str) -> None:
    """One-line ValueError naming the first missing column, the function, and what the frame has."""
    for col in columns:
        if col not in frame.columns:
            raise ValueError(f"{where}: missing column {col!r} (frame has: {', '.join(frame.columns) or 'none'})")


def keep_rows(frame: pl.DataFrame, predicate: pl.Expr) -> pl.DataFrame:
    """`frame.filter(predicate)` (null counts as false), returning `frame` itself when every row passes: the mask
    is computed on its own, so a wide table (the deployment table has ~100 columns) is not copied for nothing."""
    mask = frame.select(predicate.fill_null(False).alias("keep")).to_series()
    return frame if mask.all() else frame.filter(mask)


def column_values(frame: pl.DataFrame, column: str, predicate: pl.Expr | None = None) -> list:
    """The distinct values of `column` (of the rows where `predicate` holds), computed on that column alone."""
    cols = frame.select(pl.col(column), *([predicate.fill_null(False).alias("keep")] if predicate is not None else []))
    if predicate is not None:
        cols = cols.filter(pl.col("keep"))
    return cols.get_column(column).unique().to_list()
