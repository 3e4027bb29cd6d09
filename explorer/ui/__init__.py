"""Widgets (ipywidgets + offline Altair charts) for notebooks and the Voila app.

`ExploreApp` (explore a results folder), `SweepPanel` (run a sweep and watch it), `serve_app` (read-only web app).
Imported lazily: `import explorer.ui` does not load ipywidgets or Altair until a name is used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ExploreApp", "SweepPanel", "default_results_dir", "serve_app"]

_WHERE = {
    "ExploreApp": "explorer.ui.explore",
    "default_results_dir": "explorer.ui.explore",
    "SweepPanel": "explorer.ui.sweep_panel",
    "serve_app": "explorer.ui.app",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'explorer.ui' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_WHERE[name]), name)
