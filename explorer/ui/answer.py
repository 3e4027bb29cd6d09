"""What the explore app says above its chart: the headline (the answer in one sentence with its provenance), the
settings that produced it, and the details (every hardware's cheapest deployment, the command giving the same
numbers). Pure functions: report + controls' values -> HTML; the same texts go into the exports."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from explorer.analysis.frontier import MEAN_TASK
from explorer.analysis.headline import settings_line
from explorer.analysis.recommend import format_answer


def headline_html(sentence: str, values: Mapping[str, str]) -> str:
    """The headline in large type, the settings under it in one small wrapped line."""
    items = "".join(
        f"<span style='margin-right:14px;white-space:nowrap'><b>{html.escape(k)}</b>: {html.escape(v)}</span> "
        for k, v in values.items()
    )
    return (
        f"<p class='explorer-sentence' style='font-size:1.25em;line-height:1.4;max-width:72em;margin:0 0 4px 0'>"
        f"{html.escape(sentence)}</p>"
        f"<div class='explorer-settings' style='font-size:0.85em;color:#444;line-height:1.6'>{items}</div>"
    )


def details_html(ans: Mapping[str, Any], queries_per_day: float, cli: str) -> str:
    """The answer's lines (chosen, baseline, saving) and the command giving the same numbers, folded."""
    text = format_answer(ans, queries_per_day).replace(MEAN_TASK, "all tasks")
    return (
        f"<details><summary>the answer in full, and the command that gives the same numbers</summary>"
        f"<pre>{html.escape(text)}</pre><small>same numbers: <code>{html.escape(cli)}</code></small></details>"
    )


def export_lines(sentence: str, values: Mapping[str, str]) -> list[str]:
    """The lines every export carries: the headline and the settings (CSV header, chart subtitle, metadata)."""
    return [sentence, settings_line(values)]


def wrap(text: str, width: int = 150) -> Sequence[str]:
    """`text` in lines of at most `width` characters (a chart subtitle does not wrap by itself)."""
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line] if line else lines


def loaded_html(real: pl.DataFrame, folder: str, reported: pl.DataFrame | None, damaged: Sequence[Any]) -> str:
    """What was loaded: measured cells, on which devices, the reported figures beside them, damaged files (file
    names only, never a server path)."""
    ok = real.filter(pl.col("status") == "ok").get_column("cell_id").n_unique() if real.height else 0
    devices = ", ".join(sorted(real.get_column("device_name").drop_nulls().unique().to_list())) or "none"
    n_rep = reported.height if reported is not None else 0
    beside = f", beside {n_rep} reported figures (data/reported, each with its source)" if n_rep else ""
    hurt = "".join(f"<li>{html.escape(Path(d.path).name)}: {html.escape(d.reason)}</li>" for d in damaged[:10])
    more = f"<li>... {len(damaged) - 10} more (explorer check)</li>" if len(damaged) > 10 else ""
    bad = f"<p>{len(damaged)} damaged file(s), not used:</p><ul>{hurt}{more}</ul>" if damaged else ""
    return (f"<p>{ok} measured cells in <code>{html.escape(Path(folder).name)}</code>, measured on: "
            f"{html.escape(devices)}{beside}.</p>{bad}")  # fmt: skip
