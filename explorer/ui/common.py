"""Widget helpers shared by the explore and sweep panels: offline charts, HTML tables, download links; and what a
public (read-only) app needs: no server path on the page, tracebacks in the server log, read-only under Voila."""

from __future__ import annotations

import base64
import contextlib
import functools
import html
import os
import re
import sys
import traceback
from collections.abc import Mapping
from typing import Any, TextIO

import altair as alt
import polars as pl

from explorer.ui.rows_chart import RowsChart

BIG = 2000  # above this many drawn points the browser draws on a canvas


def jupyter_chart(chart: alt.TopLevelMixin | None = None, **kwargs: Any) -> RowsChart:
    """An offline JupyterChart (vega bundled by vl-convert, no CDN), SVG renderer, its rows sent as one buffer
    (`explorer.ui.rows_chart`)."""
    return RowsChart(chart, embed_options={"renderer": "svg", "actions": False}, **kwargs)


def set_chart(jchart: alt.JupyterChart, chart: alt.TopLevelMixin, points: int = 0) -> None:
    """Replace the chart in place (no 5000-row limit: the data is ours and already slim). Above BIG `points` the
    browser draws on a canvas (one element instead of one SVG path per point: redraws several times faster)."""
    renderer = "canvas" if points > BIG else "svg"
    with alt.data_transformers.disable_max_rows(), jchart.hold_sync():
        if (jchart.embed_options or {}).get("renderer") != renderer:
            jchart.embed_options = {**(jchart.embed_options or {}), "renderer": renderer}
        jchart.chart = chart


def _text(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else "" if v is None else str(v)


def html_table(frame: pl.DataFrame, columns: tuple[str, ...] | None = None, max_rows: int = 40) -> str:
    """A small HTML table (numbers at 4 significant digits); says how many rows were left out."""
    cols = [c for c in (columns or frame.columns) if c in frame.columns]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)

    def cell(v: Any) -> str:
        return f"<td>{html.escape(_text(v))}</td>"

    body = "".join(
        "<tr>" + "".join(cell(r[c]) for c in cols) + "</tr>" for r in frame.head(max_rows).iter_rows(named=True)
    )
    more = f"<p>... {frame.height - max_rows} more rows</p>" if frame.height > max_rows else ""
    return f"<table class='explorer-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def download_link(data: bytes, filename: str, mime: str) -> str:
    """An <a download> with the bytes inline (data: URI): works in Voila without a file server."""
    b64 = base64.b64encode(data).decode()
    name = html.escape(filename)
    return f"<a download='{name}' href='data:{mime};base64,{b64}' class='explorer-download'>download {name}</a>"


# ------------------------------------------------------------------ served to the public (read-only)
# the folders of an absolute path (the last part stays): '/srv/x/y' -> 'y', 'data_dir:/srv/b' -> 'data_dir:b'
PATH_DIRS = r"(^|[\s:=(\"'>])~?/[^\s\"'<>]*/"
EXPECTED = (ValueError, OSError)  # bad input or a missing / unwritable file: the message says what to change
VOILA_VARIABLES = ("VOILA_PREHEAT", "VOILA_BASE_URL", "VOILA_SERVER_URL", "VOILA_KERNEL_ID")


def strip_paths(text: str) -> str:
    """`text` without the folders of its absolute paths (what a viewer may read of a server's paths: none)."""
    return re.sub(PATH_DIRS, r"\1", text)


def one_line(exc: BaseException, paths: bool = False) -> str:
    """An exception as one line (the type named unless EXPECTED), its server paths left out unless `paths`."""
    text = " ".join(str(exc).split())
    text = text if isinstance(exc, EXPECTED) and text else f"{type(exc).__name__}: {text}".rstrip(": ")
    return text if paths else strip_paths(text)


def error_html(exc: BaseException, read_only: bool) -> str:
    """The one line (HTML) a failed callback shows: read-only without server paths. An EXPECTED error says what
    to change; anything else is a bug, whose traceback goes to the server log when read-only (in a notebook the
    caller raises it)."""
    unexpected = not isinstance(exc, EXPECTED)
    if unexpected and read_only:
        server_log("".join(traceback.format_exception(exc)))
    note = " (details in the server log)" if unexpected and read_only else ""
    return f"<span style='color:#b00'>{html.escape(one_line(exc, paths=not read_only) + note)}</span>"


@functools.cache
def _log_stream() -> TextIO:
    """The server's stderr: under ipykernel sys.stderr and even fd 2 are sent to the page, so write to the copy
    of the original fd 2 that ipykernel keeps (echo target); elsewhere sys.__stderr__."""
    fd = getattr(sys.stderr, "_original_stdstream_copy", None)
    return os.fdopen(os.dup(fd), "w", buffering=1) if fd is not None else (sys.__stderr__ or sys.stderr)


def server_log(text: str) -> None:
    """Write to the server's log (Voila's output), never to the page."""
    stream = _log_stream()
    stream.write(text.rstrip("\n") + "\n")
    stream.flush()


def hide_tracebacks(shell: Any = None) -> bool:
    """In this kernel, every traceback IPython would send to the page (a widget callback that raised, a malformed
    widget message, a failed cell) goes to the server log; the page gets one line without paths. Returns whether
    installed (False outside IPython, or when already)."""
    if shell is None:
        with contextlib.suppress(ImportError):
            from IPython import get_ipython

            shell = get_ipython()
    if shell is None or getattr(shell, "_explorer_quiet", False) or not hasattr(shell, "_showtraceback"):
        return False
    send = shell._showtraceback

    def quiet(etype: type, evalue: BaseException, stb: list[str]) -> None:
        with contextlib.suppress(Exception):
            server_log(shell.InteractiveTB.stb2text(stb))
        line = strip_paths(" ".join(str(evalue).split()))
        send(etype, line, [f"{etype.__name__}: {line}"])

    shell._showtraceback, shell._explorer_quiet = quiet, True
    return True


def read_only_default(environ: Mapping[str, str] | None = None) -> bool:
    """EXPLORER_READ_ONLY=1 / 0 decides; unset: read-only whenever Voila started this kernel (`explorer app`,
    Binder's voila/render, Jupyter's Voila extension: Voila sets VOILA_* and SERVER_SOFTWARE=voila/... in its
    kernels' environment, preheated or not), read-write elsewhere (JupyterLab, nbclient)."""
    env = os.environ if environ is None else environ
    flag = env.get("EXPLORER_READ_ONLY", "").strip().lower()
    if flag in ("1", "true", "yes"):
        return True
    if flag in ("0", "false", "no"):
        return False
    if flag:
        raise ValueError(f"EXPLORER_READ_ONLY={flag!r}: use 1 (read-only) or 0 (read-write)")
    return under_voila(env)


def under_voila(environ: Mapping[str, str] | None = None) -> bool:
    """Did Voila start this kernel (preheated or not)? Voila sets VOILA_* and SERVER_SOFTWARE=voila/... there."""
    env = os.environ if environ is None else environ
    return any(k in env for k in VOILA_VARIABLES) or env.get("SERVER_SOFTWARE", "").startswith("voila")
