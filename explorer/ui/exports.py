"""Exports of what the explore app shows: the table behind it (CSV / Parquet) and the chart (PNG / SVG), as files
or as in-page downloads (read-only)."""

from __future__ import annotations

import html
import io
from pathlib import Path

import altair as alt

from explorer.ui.common import download_link


class Exports:
    """Mixin for ExploreApp: needs `table`, `chart`, `read_only`, `export_dir` and `export_html`."""

    def export_bytes(self, fmt: str) -> tuple[bytes, str, str]:
        """(bytes, filename, mime) of the current table (CSV / Parquet) or chart (PNG / SVG)."""
        import vl_convert as vlc

        fmt = fmt.lower()
        flat = self.table.select([c for c, t in self.table.schema.items() if not t.is_nested()])
        if fmt in ("csv", "parquet"):
            buf = io.BytesIO()
            flat.write_csv(buf) if fmt == "csv" else flat.write_parquet(buf)
            return buf.getvalue(), f"explorer_table.{fmt}", "text/csv" if fmt == "csv" else "application/octet-stream"
        if self.chart is None:
            raise ValueError("no chart to export")
        with alt.data_transformers.disable_max_rows():
            spec = self.chart.to_dict()
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
            saved = (
                ""
                if self.read_only
                else f" saved to <code>{html.escape(str(self.export(fmt, self.export_dir.value)))}</code>"
            )
            self.export_html.value = download_link(data, name, mime) + saved
        except (ValueError, OSError) as exc:
            self.export_html.value = f"<span style='color:#b00'>{html.escape(str(exc))}</span>"
