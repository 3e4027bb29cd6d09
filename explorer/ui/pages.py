"""The app's pages as tabs: "explore" (every configuration on every hardware) and "tiered" (cascades).

The tiered page is built the first time its tab is opened, so the explore page loads as fast as alone.
"""

from __future__ import annotations

import ipywidgets as w

from explorer.ui.common import EXPECTED, error_html
from explorer.ui.explore import ExploreApp

TITLES = ("explore", "tiered")


class Pages(w.Tab):
    """Tabs over one results folder; `tiered` is None until the tab is first selected (or `open_tiered()`)."""

    def __init__(self, explore: ExploreApp) -> None:
        self.explore = explore
        self.tiered = None
        self._waiting = w.HTML("<p>building the tiered page...</p>")
        super().__init__(children=[explore, self._waiting])
        for k, title in enumerate(TITLES):
            self.set_title(k, title)
        self.observe(lambda change: change["new"] == 1 and self.open_tiered(), "selected_index")

    def open_tiered(self):
        """Build the tiered page (once) and show it in its tab."""
        from explorer.ui.tiered import TieredApp

        if self.tiered is None:
            try:
                self.tiered = TieredApp(self.explore.results_dir, catalog=self.explore.catalog)
            except Exception as exc:  # one line on the page (read-only: no server path, traceback to the log)
                self._waiting.value = (
                    f"<p>no tiered page for this folder: {error_html(exc, self.explore.read_only)}</p>"
                )
                if not (self.explore.read_only or isinstance(exc, EXPECTED)):
                    raise
                return None
            self.children = [self.explore, self.tiered]
            for k, title in enumerate(TITLES):
                self.set_title(k, title)
        return self.tiered
