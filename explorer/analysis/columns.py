"""The one check every analysis function makes first: the columns it needs are in the frame."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl


def require_columns(frame: pl.DataFrame, columns: Sequence[str], where: str) -> None:
    """One-line ValueError naming the first missing column, the function, and what the frame has."""
    for col in columns:
        if col not in frame.columns:
            raise ValueError(f"{where}: missing column {col!r} (frame has: {', '.join(frame.columns) or 'none'})")
