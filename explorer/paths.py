"""Where the explorer keeps things it downloads or generates (user cache, never the repo)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Root cache folder: $EXPLORER_CACHE_DIR, else $XDG_CACHE_HOME/llm-cost-explorer, else ~/.cache/..."""
    env = os.environ.get("EXPLORER_CACHE_DIR")
    if env:
        root = Path(env).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = (Path(xdg) if xdg else Path.home() / ".cache") / "llm-cost-explorer"
    root.mkdir(parents=True, exist_ok=True)
    return root


def sub_cache(name: str) -> Path:
    """A named sub-folder of the cache (created on demand)."""
    path = cache_dir() / name
    path.mkdir(parents=True, exist_ok=True)
    return path
