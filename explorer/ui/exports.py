"""Exports of what the explore app shows: the table behind it (CSV / Parquet) and the chart (PNG / SVG), as files
or as in-page downloads (read-only: no "export to" field exists, and the table leaves out the folders of any
server path a record holds, e.g. `task_source: data_dir:/srv/benchmarks` -> `data_dir:benchmarks`)."""

from __future__ import annotations

import html
import io
from pathlib import Path

import altair as alt
import ipywidgets as w
import polars as pl

from explorer.ui.answer import wrap
from explorer.ui.common import EXPECTED, PATH_DIRS, download_link, error_html

FORMATS = ("CSV", "Parquet", "PNG", "SVG")


class Exports:
    """Mixin for ExploreApp (needs `table`, `chart`, `export_lines`, `read_only`, `results_dir`, `_load` and
    `export_html`): the export buttons, and only when not read-only the path widgets (`dir_text`, `reload`,
    `export_dir`; else None). Every export carries `export_lines` (the headline and the settings behind it): as
    '# ' lines above the CSV header (`pl.read_csv(..., comment_prefix="#")`), as Parquet metadata
    (`explorer_headline`, `explorer_settings`), as the chart's subtitle."""

    def _build_paths_and_exports(self) -> None:
        self.export_buttons = {fmt: w.Button(description=fmt) for fmt in FORMATS}
        for fmt, button in self.export_buttons.items():
            button.on_click(lambda _, fmt=fmt: self._on_export(fmt))
        self.dir_text = self.reload = self.export_dir = None
        if not self.read_only:  # created only here: a read-only app has no path in any widget's state
            self.dir_text = w.Text(description="results dir", layout=w.Layout(width="520px"))
            self.reload = w.Button(description="reload", icon="refresh")
            self.reload.on_click(self._on_reload)
            self.export_dir = w.Text(description="export to", layout=w.Layout(width="520px"))

    def _on_reload(self, _: object) -> None:
        if self.read_only or self.dir_text is None:  # never wired then; no path is ever opened from the page
            return
        if self.dir_text.value == self.results_dir:
            self._load(self.results_dir)  # re-read (new records)
        else:
            self.results_dir = self.dir_text.value

    def export_bytes(self, fmt: str) -> tuple[bytes, str, str]:
        """(bytes, filename, mime) of the current table (CSV / Parquet) or chart (PNG / SVG)."""
        import vl_convert as vlc

        fmt = fmt.lower()
        flat = self.table.select([c for c, t in self.table.schema.items() if not t.is_nested()])
        if self.read_only:  # a download for anyone: no folder of this server in it
            flat = flat.with_columns(pl.col(pl.String).str.replace_all(PATH_DIRS, "${1}"))
        lines = list(self.export_lines)
        if fmt in ("csv", "parquet"):
            buf = io.BytesIO()
            if fmt == "csv":
                buf.write("".join(f"# {line}\n" for line in lines).encode())
                flat.write_csv(buf)
            else:
                keys = ("explorer_headline", "explorer_settings")
                flat.write_parquet(buf, metadata=dict(zip(keys, lines, strict=False)))
            return buf.getvalue(), f"explorer_table.{fmt}", "text/csv" if fmt == "csv" else "application/octet-stream"
        if self.chart is None:
            raise ValueError("no chart to export")
        with alt.data_transformers.disable_max_rows():
            spec = self.chart.to_dict()
        title = spec.get("title")
        text = title.get("text", "") if isinstance(title, dict) else title or ""
        spec["title"] = {"text": text, "anchor": "start", "subtitle": [part for line in lines for part in wrap(line)]}
        if fmt == "png":
            return vlc.vegalite_to_png(spec, scale=2.0), "explorer_chart.png", "image/png"
        if fmt == "svg":
            return vlc.vegalite_to_svg(spec).encode(), "explorer_chart.svg", "image/svg+xml"
        raise ValueError(f"unknown export format {fmt!r}: csv, parquet, png or svg")

    def export(self, fmt: str, folder: str | Path) -> Path:
        """Write the current table / chart into `folder`; returns the file."""
        data, name, _ = self.export_bytes(fmt)
        out = Path(folder) / name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        return out

    def _on_export(self, fmt: str) -> None:
        try:
            data, name, mime = self.export_bytes(fmt)
            saved = ""
            if not self.read_only:
                saved = f" saved to <code>{html.escape(str(self.export(fmt, self.export_dir.value)))}</code>"
            self.export_html.value = download_link(data, name, mime) + saved
        except Exception as exc:
            self.export_html.value = error_html(exc, self.read_only)
            if not (self.read_only or isinstance(exc, EXPECTED)):
                raise
