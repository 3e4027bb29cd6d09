"""The read-only web app: Voila serving notebooks/explore.ipynb on a results folder, for the public.

- Read-only: the notebook builds `ExploreApp(read_only=read_only_default())`, read-only under any Voila (no path
  widgets at all, exports are downloads, tracebacks stay in the server log); Voila strips the sources and only
  lets the page send widget messages to its kernel. Settings live in voila.json at the repository root (preheated
  kernel, pool of 1, idle kernels culled even while a page is connected), which Voila reads from its working
  directory, so Voila is started there. The results folder reaches the kernel through EXPLORER_RESULTS.
- At most `max_kernels` viewers at once: Voila runs as `ExplorerVoila` (`python -m explorer.ui.app`), whose page
  handler answers 503 with a "busy, retry in a minute" page (Retry-After: 60) beyond the cap; the preheated spare
  kernel comes on top (at most max_kernels + 1 kernel processes).
- Children end with their parent: Voila runs in a process group of its own with PR_SET_PDEATHSIG (SIGTERM when
  `explorer app` dies, even by SIGKILL: Voila then shuts its kernels down; ipykernel's parent poller ends a kernel
  whose Voila died); `run_app` turns SIGTERM / SIGHUP / Ctrl-C into stopping the group, then kills what is left.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import webbrowser
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO_ROOT / "notebooks" / "explore.ipynb"
VOILA_CONFIG = REPO_ROOT / "voila.json"
DEFAULT_MAX_KERNELS = 8  # ~310 MB RSS (~240 MB USS) each once the page painted: scripts/load_test.py
RETRY_AFTER_S = 60
BUSY_HTML = """<!DOCTYPE html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="{retry}">
<title>LLM cost explorer: busy</title></head><body style="font-family:sans-serif;max-width:40em;margin:4em auto">
<h2>The explorer is busy</h2><p>{n} people are using it right now, as many as this server takes at once.
Please retry in a minute: this page reloads itself in {retry} seconds.</p></body></html>"""


def _help(text: str, default: Any) -> Any:
    return field(default=default, metadata={"help": text})


@dataclass(frozen=True)
class AppConfig:
    """What `explorer app` serves and how many viewers at once; checked on construction (one line per problem)."""

    results_dir: Path = _help("results folder with a records/ folder (explorer sweep --out DIR)", Path("."))
    port: int = _help("TCP port on 127.0.0.1", 8866)
    max_kernels: int = _help("viewers served at once (one kernel each); more get a busy page", DEFAULT_MAX_KERNELS)

    def __post_init__(self) -> None:
        folder = Path(self.results_dir).expanduser().resolve()
        object.__setattr__(self, "results_dir", folder)
        if not (folder / "records").is_dir():
            raise FileNotFoundError(
                f"{folder} has no records/ folder: give a results folder (explorer sweep --out DIR)"
            )
        if not 1 <= int(self.port) <= 65535:
            raise ValueError(f"--port {self.port}: give a TCP port between 1 and 65535")
        if int(self.max_kernels) < 1:
            raise ValueError(f"--max-kernels {self.max_kernels}: at least 1 (viewers served at once)")


def jupyter_path(environ: dict[str, str] | None = None) -> str:
    """JUPYTER_PATH with the repository's share/jupyter first: Voila finds the "explorer" template there (voila.json;
    Voila's lab template without its Font Awesome CDN stylesheets: the page requests nothing off its server)."""
    rest = (os.environ if environ is None else environ).get("JUPYTER_PATH", "")
    return os.pathsep.join([str(REPO_ROOT / "share" / "jupyter"), *([rest] if rest else [])])


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def voila_command(port: int, max_kernels: int = DEFAULT_MAX_KERNELS) -> list[str]:
    """The Voila command line (run it with cwd=REPO_ROOT so voila.json applies): Voila with the kernel cap."""
    return [
        sys.executable,
        "-m",
        "explorer.ui.app",  # voila_main below: Voila's own command line, plus the cap
        str(NOTEBOOK),
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--no-browser",  # serve_app opens it once the server answers
        f"--ExplorerVoila.max_kernels={max_kernels}",
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


@functools.cache
def _prctl() -> Any:
    """libc's prctl, loaded in the parent (a forked child only calls it)."""
    return ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def _die_with_parent(parent_pid: int, prctl: Any) -> None:
    """preexec_fn (in the child, before exec): SIGTERM when the parent dies; exit if it already has."""
    prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:
        os._exit(1)


def stop_process_tree(proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """SIGTERM Voila's process group (Voila shuts its kernels down), then SIGKILL what is left of it: the group and
    every process that descended from it (kernels run in sessions of their own)."""
    import psutil

    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        family = []
    try:
        group = os.getpgid(proc.pid) == proc.pid  # serve_app's Voila leads a group of its own
    except OSError:
        group = False
    for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig) if group else proc.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait_s)
            break
    _, alive = psutil.wait_procs(family, timeout=3)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(alive, timeout=3)


def serve_app(
    results_dir: str | Path,
    port: int = 8866,
    open_browser: bool = False,
    wait: bool = True,
    log_file: str | Path | None = None,
    max_kernels: int = DEFAULT_MAX_KERNELS,
) -> subprocess.Popen:
    """Start Voila on `results_dir` (read-only explorer) at http://127.0.0.1:<port>/ and return the process.

    `wait`: return once the server answers (raises if Voila exits first). `open_browser`: then open the page.
    Stop it with `stop_process_tree(proc)` (or `proc.terminate()`). Voila's output goes to `log_file` (default:
    inherited). The process gets SIGTERM when this one dies."""
    config = AppConfig(results_dir=Path(results_dir), port=port, max_kernels=max_kernels)
    if not NOTEBOOK.is_file():
        raise FileNotFoundError(f"{NOTEBOOK} is missing: the app needs the repository's notebooks/ folder")
    env = {**os.environ, "EXPLORER_RESULTS": str(config.results_dir), "EXPLORER_READ_ONLY": "1",
           "JUPYTER_PATH": jupyter_path()}  # fmt: skip
    out = open(log_file, "ab") if log_file else None  # noqa: SIM115 (handed to the child)
    prctl = _prctl()
    proc = subprocess.Popen(
        voila_command(config.port, config.max_kernels),
        cwd=REPO_ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT if out else None,
        start_new_session=True,  # a process group of its own: Ctrl-C reaches it once, through run_app
        preexec_fn=functools.partial(_die_with_parent, os.getpid(), prctl) if prctl else None,  # noqa: PLW1509
    )
    url = f"http://127.0.0.1:{config.port}/"
    if wait:
        try:
            wait_until_up(url, proc=proc)
        except BaseException:
            stop_process_tree(proc)
            raise
    if open_browser:
        webbrowser.open(url)
    return proc


class _Stopped(Exception):
    """SIGTERM / SIGHUP reached `run_app`."""


def _raise_stopped(signum: int, _frame: Any) -> None:
    raise _Stopped(signum)


def run_app(
    results_dir: str | Path | None = None,
    port: int = 8866,
    open_browser: bool = True,
    max_kernels: int = DEFAULT_MAX_KERNELS,
) -> int:
    """Blocking (what `explorer app [DIR]` runs): serve until Ctrl-C, SIGTERM or SIGHUP, then stop Voila and its
    kernels (nothing keeps the port). Returns Voila's exit code, 0 when stopped by a signal."""
    from explorer.ui.explore import default_results_dir

    previous = {sig: signal.signal(sig, _raise_stopped) for sig in (signal.SIGTERM, signal.SIGHUP)}
    proc = None
    try:
        proc = serve_app(results_dir or default_results_dir(), port=port, open_browser=open_browser,
                         max_kernels=max_kernels)  # fmt: skip
        print(f"explorer app: http://127.0.0.1:{port}/  (at most {max_kernels} viewers at once; Ctrl-C stops)",
              flush=True)  # fmt: skip
        return proc.wait()
    except (KeyboardInterrupt, _Stopped):
        return 0
    finally:
        if proc is not None:
            stop_process_tree(proc)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(results_dir: str | Path | None = None, port: int = 8866, open_browser: bool = True) -> int:
    """Former name of `run_app` (the default cap)."""
    return run_app(results_dir, port=port, open_browser=open_browser)


# ---------------------------------------------------------------------------------------- inside the Voila process
_TICKET: ContextVar[list | None] = ContextVar("explorer_ticket", default=None)


class KernelGuard:
    """Counts the kernels viewers hold (handed out by the pool or started for a page) plus the page requests
    admitted that have not got theirs yet; `admit` says no at `max_kernels`. A kernel leaves the count when it is
    shut down (page closed, culled)."""

    def __init__(self, max_kernels: int) -> None:
        self.max_kernels = max_kernels
        self.viewers: set[str] = set()
        self.waiting = 0

    def in_use(self, live_ids: Any) -> int:
        self.viewers &= set(live_ids)
        return len(self.viewers) + self.waiting

    def admit(self, live_ids: Any) -> list | None:
        """A ticket (hold it until the request ends) or None: over the cap."""
        if self.in_use(live_ids) >= self.max_kernels:
            return None
        self.waiting += 1
        return [True]  # [waiting]

    def got_kernel(self, ticket: list | None, kernel_id: str) -> None:
        self.viewers.add(kernel_id)
        self.done(ticket)

    def done(self, ticket: list | None) -> None:
        if ticket and ticket[0]:
            ticket[0] = False
            self.waiting -= 1

    def track(self, kernel_manager: Any) -> None:
        """Wrap the two calls a page request gets its kernel from (the pool's, or a fresh one)."""
        get_rendered, start = getattr(kernel_manager, "get_rendered_notebook", None), kernel_manager.start_kernel

        async def rendered(*args: Any, **kwargs: Any) -> Any:
            task, cache, kernel_id = await get_rendered(*args, **kwargs)
            self.got_kernel(_TICKET.get(), kernel_id)
            return task, cache, kernel_id

        async def started(*args: Any, **kwargs: Any) -> str:
            result = start(*args, **kwargs)
            kernel_id = await result if hasattr(result, "__await__") else result
            self.got_kernel(_TICKET.get(), kernel_id)
            return kernel_id

        if get_rendered is not None:
            kernel_manager.get_rendered_notebook = rendered
        kernel_manager.start_kernel = started


def voila_main(argv: list[str] | None = None) -> int:
    """Voila (same command line and voila.json) whose page handler enforces `--ExplorerVoila.max_kernels`."""
    from traitlets import Int
    from voila.app import Voila
    from voila.tornado.handler import TornadoVoilaHandler

    class CappedVoilaHandler(TornadoVoilaHandler):
        async def prepare(self, *args: Any, **kwargs: Any) -> None:
            await super().prepare(*args, **kwargs)
            if self._finished:
                return
            guard: KernelGuard = self.settings["explorer_guard"]
            self._ticket = guard.admit(self.kernel_manager.list_kernel_ids())
            if self._ticket is None:
                self.set_status(503)
                self.set_header("Retry-After", str(RETRY_AFTER_S))
                self.set_header("Cache-Control", "no-store")
                self.finish(BUSY_HTML.format(retry=RETRY_AFTER_S, n=guard.max_kernels))
                return
            _TICKET.set(self._ticket)
            self.xsrf_token  # noqa: B018 (sets the _xsrf cookie the page's shutdown beacon needs, else 403)

        def on_finish(self) -> None:
            self.settings["explorer_guard"].done(getattr(self, "_ticket", None))

        def on_connection_close(self) -> None:
            self.on_finish()
            super().on_connection_close()

    class ExplorerVoila(Voila):
        max_kernels = Int(DEFAULT_MAX_KERNELS, config=True, help="viewers served at once; more get a busy page")

        def init_settings(self) -> dict:
            settings = super().init_settings()
            settings["explorer_guard"] = guard = KernelGuard(self.max_kernels)
            guard.track(self.kernel_manager)
            return settings

        def init_handlers(self) -> list:
            return [(h[0], CappedVoilaHandler, *h[2:]) if h[1] is TornadoVoilaHandler else h
                    for h in super().init_handlers()]  # fmt: skip

    ExplorerVoila.launch_instance(argv)
    return 0


if __name__ == "__main__":
    sys.exit(voila_main(sys.argv[1:]))
