"""The click detail beside the explore chart: the picked deployment's figures, then its per-document results with
the question text, the gold answer and the model's choice (from the results folder's docs/, written by the
worker), a page of `PAGE_ROWS` at a time (`page` trait; the buttons step it)."""

from __future__ import annotations

from pathlib import Path

import ipywidgets as w
import polars as pl
import traitlets

from explorer.records.docs import doc_texts, load_docs
from explorer.ui.common import _text, html_table

PAGE_ROWS = 10
DOC_COLUMNS = ("task", "doc_id", "question", "gold", "pred", "correct")
HINT = "<p><i>click a point for its details and per-document results</i></p>"


def _short(text: str | None, n: int = 160) -> str | None:
    return text if text is None or len(text) <= n else text[: n - 1] + "…"


class DetailPanel(w.VBox):
    """`show(folder, figures, samples)` fills it; `page` (0-based) pages the per-document rows; `clear()`."""

    page = traitlets.Int(0)

    def __init__(self) -> None:
        super().__init__(layout=w.Layout(width="440px", flex="0 0 auto", margin="0 0 0 12px"))
        self.add_class("explorer-detail")
        self.figures_html, self.docs_html, self.page_label = w.HTML(HINT), w.HTML(), w.Label()
        self.prev = w.Button(description="previous", layout=w.Layout(width="90px"))
        self.next = w.Button(description="next", layout=w.Layout(width="90px"))
        self.prev.on_click(lambda _: self._step(-1))
        self.next.on_click(lambda _: self._step(1))
        self.pager = w.HBox([self.prev, self.page_label, self.next])
        self.rows = pl.DataFrame()
        self.children = [self.figures_html, self.docs_html, self.pager]
        self.pager.layout.display = "none"

    @property
    def value(self) -> str:
        """All the panel's HTML (what a test or a reader sees)."""
        return self.figures_html.value + self.docs_html.value

    @property
    def pages(self) -> int:
        return max(1, -(-self.rows.height // PAGE_ROWS))

    def clear(self) -> None:
        self.rows = pl.DataFrame()
        self.figures_html.value, self.docs_html.value = HINT, ""
        self.pager.layout.display = "none"

    def show(self, folder: str | Path, figures: pl.DataFrame, samples: pl.DataFrame) -> None:
        """The figures of the picked rows (one row: a figure / value table) and the documents of `samples`."""
        if figures.height == 1:
            row = figures.row(0, named=True)
            figures = pl.DataFrame({"figure": list(row), "value": [_text(v) for v in row.values()]})
        tasks = samples.get_column("task").unique().to_list() if samples.height else []
        docs = pl.concat([load_docs(folder, t) for t in tasks], how="diagonal_relaxed") if tasks else None
        self.rows = doc_texts(samples, docs) if samples.height else pl.DataFrame()
        n_ok = int(samples.get_column("correct").sum()) if samples.height else 0
        texts = "" if docs is None or docs.is_empty() else " (question, gold answer and the model's choice)"
        self.figures_html.value = (
            "<b>selected deployment</b>" + html_table(figures, max_rows=30)
            + f"<b>per-document results</b>: {n_ok}/{samples.height} correct{texts}"
        )  # fmt: skip
        self.pager.layout.display = None if self.pages > 1 else "none"
        self.page = 0
        self._render()

    def _step(self, by: int) -> None:
        self.page = min(max(self.page + by, 0), self.pages - 1)

    @traitlets.observe("page")
    def _on_page(self, _: dict) -> None:
        self._render()

    def _render(self) -> None:
        if self.rows.is_empty():
            self.docs_html.value = ""
            return
        start = self.page * PAGE_ROWS
        part = self.rows.slice(start, PAGE_ROWS)
        part = part.with_columns(pl.col(c).map_elements(_short, return_dtype=pl.String)
                                 for c in ("question", "gold", "pred") if c in part.columns)  # fmt: skip
        self.page_label.value = f"page {self.page + 1} of {self.pages}"
        self.prev.disabled, self.next.disabled = self.page == 0, self.page >= self.pages - 1
        self.docs_html.value = html_table(part, DOC_COLUMNS, max_rows=PAGE_ROWS) + (
            f"<small>documents {start + 1}-{start + part.height} of {self.rows.height}</small>"
        )
