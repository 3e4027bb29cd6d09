"""A JupyterChart whose big dataset travels as one JSON byte buffer instead of a list of dicts.

ipywidgets walks every value of a widget's state looking for binary buffers (`_separate_buffers`, recursive, in
Python): for 10,000 chart rows of 25 fields that walk alone took ~0.5 s per redraw, longer than computing the
rows. Here the rows go as `_rows` (bytes: Polars' `write_json`, one buffer, never walked) naming their Vega
dataset in `_rows_name`; the spec carries that dataset empty. The browser side is altair's own JupyterChart
script (altair/jupyter/js/index.js) with two additions, bundled offline by vl-convert as altair's
`enable_offline` bundles it: after each embed, and on every change of `_rows`, it decodes the buffer and
replaces the dataset's rows in the Vega view (altair's own `setDataValue`), then re-runs the view.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import altair as alt
import polars as pl
import traitlets

MIN_ROWS = 200  # datasets at least this long go as bytes (a few small ones stay in the spec)

# inserted into altair's render() script: (anchor, text to put after it)
APPLY_ROWS = """
    let rowsView = null;
    const applyRows = async () => {
        const buf = model.get("_rows"), name = model.get("_rows_name");
        if (rowsView == null || !name || buf == null || buf.byteLength === 0) return;
        setDataValue(rowsView, name, [], JSON.parse(new TextDecoder().decode(buf)));
        await rowsView.runAsync();
    };
    model.on('change:_rows', applyRows);
"""
PATCHES = (
    ("async function render({ model, el }) {\n", APPLY_ROWS),
    ("        finalize = api.finalize;\n", "        rowsView = api.view;\n        await applyRows();\n"),
)


def patched_source(src: str) -> str:
    """altair's JupyterChart script with the rows handler; refuses a script whose anchors moved (new altair)."""
    for anchor, text in PATCHES:
        if src.count(anchor) != 1:
            raise RuntimeError(f"altair's JupyterChart script changed: anchor {anchor.strip()!r} not found once")
        src = src.replace(anchor, anchor + text)
    return src


@functools.cache
def offline_esm() -> str:
    """The patched script with its imports bundled by vl-convert (no CDN), as JupyterChart.enable_offline does."""
    from altair.jupyter.jupyter_chart import load_js_src
    from altair.utils._importers import import_vl_convert, vl_version_for_vl_convert

    lines = load_js_src().split("\n")
    while lines and (not lines[0].strip() or lines[0].startswith(("import", "//"))):
        lines.pop(0)
    bundle = import_vl_convert().javascript_bundle
    return bundle(patched_source("\n".join(lines)), vl_version=vl_version_for_vl_convert())


DATUM = re.compile(r"datum\.([A-Za-z_]\w*)|datum\[['\"]([^'\"]+)['\"]\]")


def spec_fields(spec: Any) -> set[str]:
    """Every data field a Vega-Lite spec reads: `field` and `fields` values and `datum.x` / `datum['x']` in its
    expressions (filters, calculations, label expressions)."""
    out: set[str] = set()
    todo = [spec]
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "field" and isinstance(value, str):
                    out.add(value)
                elif key == "fields" and isinstance(value, list):
                    out.update(v for v in value if isinstance(v, str))
                elif key != "datasets":
                    todo.append(value)
        elif isinstance(item, list):
            todo.extend(item)
        elif isinstance(item, str) and "datum" in item:
            out.update(a or b for a, b in DATUM.findall(item))
    return out


def _json(values: list[dict[str, Any]]) -> bytes | None:
    """The rows as JSON bytes; None when a value has no JSON form (NaN, infinity): those stay in the spec."""
    try:
        return json.dumps(values, allow_nan=False, separators=(",", ":")).encode()
    except ValueError:
        return None


class RowsChart(alt.JupyterChart):
    """`chart = ...` as for any JupyterChart; its top-level dataset (when not faceted and >= MIN_ROWS rows) is
    moved out of `spec` into `_rows`. `show_rows(frame)` replaces the drawn rows without a new spec;
    `sent_rows()` is what the browser was last given."""

    _rows = traitlets.Bytes(b"").tag(sync=True)
    _rows_name = traitlets.Unicode("").tag(sync=True)

    def __init__(self, *args: Any, **kwargs: Any):
        RowsChart._esm = offline_esm()  # set here, not in the class body: bundling takes ~2 s (once per process)
        super().__init__(*args, **kwargs)

    @traitlets.observe("spec")
    def _move_rows(self, change: dict) -> None:
        spec = change["new"] or {}
        if spec is getattr(self, "_emptied", None):  # the spec set below
            return
        data = spec.get("data")
        name = data.get("name") if isinstance(data, dict) else None
        values = spec.get("datasets", {}).get(name) if name else None
        big = name and "facet" not in spec and len(values or ()) >= MIN_ROWS
        if big:  # only the fields the spec reads travel (the frame may carry more, for Python's side)
            used = spec_fields({k: v for k, v in spec.items() if k != "datasets"})
            values = [{k: v for k, v in row.items() if k in used} for row in values]
        rows = _json(values) if big else None
        self._rows_name, self._rows = (name, rows) if rows is not None else ("", b"")
        if rows is not None:
            self._emptied = {**spec, "datasets": {**spec["datasets"], name: []}}
            self.spec = self._emptied

    def show_rows(self, rows: pl.DataFrame) -> bool:
        """Send new rows for the drawn dataset; False when the spec has none to replace (a new chart is needed)."""
        name = (self.spec or {}).get("data", {}).get("name")
        if not name or "facet" in self.spec:
            return False
        used = spec_fields({k: v for k, v in self.spec.items() if k != "datasets"})
        self._rows_name, self._rows = name, rows.select([c for c in rows.columns if c in used]).write_json().encode()
        return True

    def sent_rows(self) -> list[dict[str, Any]]:
        """The rows of the top-level dataset as the browser has them (from `_rows`, else from the spec)."""
        if self._rows:
            return json.loads(self._rows)
        name = (self.spec or {}).get("data", {}).get("name")
        return list((self.spec or {}).get("datasets", {}).get(name, []))
