"""The read-only web app: Voila serving notebooks/explore.ipynb on a results folder.

Read-only: the notebook builds `ExploreApp(read_only=True)` (no run controls, no free-text paths; exports are
downloads), Voila strips the sources and only lets the page talk to its widgets. Settings live in voila.json at
the repository root (preheated kernel, pool of 1; idle kernels culled), which Voila reads from its working
directory, so Voila is started there. The results folder reaches the kernel through EXPLORER_RESULTS.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import webbrowser
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO_ROOT / "notebooks" / "explore.ipynb"
VOILA_CONFIG = REPO_ROOT / "voila.json"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def voila_command(port: int) -> list[str]:
    """The Voila command line (run it with cwd=REPO_ROOT so voila.json applies)."""
    return [
        sys.executable,
        "-m",
        "voila",
        str(NOTEBOOK),
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--no-browser",  # serve_app opens it once the server answers
    ]


def wait_until_up(url: str, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    """Poll `url` until the server answers (any HTTP status); raise if it exits first or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"voila exited with code {proc.returncode} before serving {url}")
        try:  # a static path: does not start a kernel (the page itself would)
            with urllib.request.urlopen(url.rstrip("/") + "/voila/static/", timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.25)
    raise TimeoutError(f"voila did not answer at {url} within {timeout:.0f} s")


def serve_app(
    results_dir: str | Path,
    port: int = 8866,
    open_browser: bool = False,
    wait: bool = True,
    log_file: str | Path | None = None,
) -> subprocess.Popen:
    """Start Voila on `results_dir` (read-only explorer) at http://127.0.0.1:<port>/ and return the process.

    `wait`: return once the server answers (raises if Voila exits first). `open_browser`: then open the page.
    Stop it with `proc.terminate()`. Voila's output goes to `log_file` (default: inherited)."""
    folder = Path(results_dir).expanduser().resolve()
    if not (folder / "records").is_dir():
        raise FileNotFoundError(f"{folder} has no records/ folder: give a results folder (explorer sweep --out DIR)")
    if not NOTEBOOK.is_file():
        raise FileNotFoundError(f"{NOTEBOOK} is missing: the app needs the repository's notebooks/ folder")
    env = {**os.environ, "EXPLORER_RESULTS": str(folder), "EXPLORER_READ_ONLY": "1"}
    out = open(log_file, "ab") if log_file else None  # noqa: SIM115 (handed to the child)
    proc = subprocess.Popen(
        voila_command(port), cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT if out else None
    )
    url = f"http://127.0.0.1:{port}/"
    if wait:
        try:
            wait_until_up(url, proc=proc)
        except Exception:
            proc.terminate()
            raise
    if open_browser:
        webbrowser.open(url)
    return proc


def main(results_dir: str | Path | None = None, port: int = 8866, open_browser: bool = True) -> int:
    """Blocking: serve until Ctrl-C (what `explorer app [DIR]` runs)."""
    from explorer.ui.explore import default_results_dir

    proc = serve_app(results_dir or default_results_dir(), port=port, open_browser=open_browser)
    print(f"explorer app: http://127.0.0.1:{port}/  (Ctrl-C stops)", flush=True)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(timeout=10)
        return 0
