"""The one process launcher: every typed job (eval, profile, ceilings; explorer/runner/jobs.py) runs in a fresh
worker process started here, with the results folder's lock, a log per job and the reason of a death.

- `results_folder(out_dir)`: create the folder (a file in its place, or no write access, is a ValueError: exit
  2) and hold an exclusive lock on `.sweep.lock` while the block runs: two launchers writing one folder would
  run the same cells twice.
- `launch(job)`: write `jobs/<name>.json`, run `python -m explorer.runner` on it with its output appended to
  `logs/<name>.log`, call `on_poll` every 0.3 s while it runs (progress: records landing), terminate it when
  `stop` is set; returns the exit code. The worker gets PR_SET_PDEATHSIG (explorer/runner/__main__.py), so
  killing the launcher kills it too.
- `exit_reason(code, log)`: the line a failed record keeps for a worker that died: "worker killed by SIGKILL
  (likely out of memory); last log line: ...".
- `writing(path)`: an OSError while the launcher writes becomes one `SweepWriteError` line.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from explorer.records.files import atomic_write_text
from explorer.runner.jobs import Job, job_json


class SweepWriteError(RuntimeError):
    """The launcher could not write a file of the sweep (disk full, folder not writable): one line; the
    records already written are intact (each is written to a temp file, then renamed)."""


@contextlib.contextmanager
def writing(what: Path) -> Iterator[None]:
    """Turn an OSError while the launcher writes ``what`` into one SweepWriteError line."""
    try:
        yield
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise SweepWriteError(
            f"cannot write {exc.filename or what}: {why}; the records written so far are intact: "
            "free space or fix the folder's permissions, then run the same command again to resume"
        ) from None


def make_out_dir(out_dir: Path) -> None:
    """Create the results folder; a file in its place or an unwritable folder is a ValueError (exit 2)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"results folder {out_dir} is a file: give a folder (it is created when missing)")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create the results folder {out_dir}: {exc.strerror or exc}") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise ValueError(f"results folder {out_dir} is not writable: give another folder or fix its permissions")


@contextlib.contextmanager
def results_folder(out_dir: Path) -> Iterator[Path]:
    """The results folder, made and locked (released when the process dies) while the block runs."""
    import fcntl

    out_dir = Path(out_dir)
    make_out_dir(out_dir)
    try:
        handle = open(out_dir / ".sweep.lock", "a+")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise ValueError(f"results folder {out_dir}: cannot create its lock file: {exc.strerror or exc}") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise ValueError(
                f"another sweep (pid {holder}) is writing to {out_dir}: wait for it or use another --out"
            ) from None
        with writing(out_dir / ".sweep.lock"):
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
        try:
            yield out_dir
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def exit_reason(code: int, log_path: Path) -> str:
    """Why a worker ended without writing everything: its signal or exit code and its log's last line."""
    if code < 0:
        try:
            sig = signal.Signals(-code).name
        except ValueError:
            sig = f"signal {-code}"
        why = f"worker killed by {sig}" + (" (likely out of memory)" if sig == "SIGKILL" else "")
    else:
        why = f"worker exited with code {code}"
    lines = (
        [ln.strip() for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()]
        if log_path.exists()
        else []
    )
    return f"{why}; last log line: {lines[-1][:200] if lines else '(none)'}; log: {log_path}"


def log_path(job: Job) -> Path:
    return Path(job.out_dir) / "logs" / f"{job.job_name}.log"


def launch(
    job: Job,
    on_poll: Callable[[], None] | None = None,
    stop: threading.Event | None = None,
    env: dict[str, str] | None = None,
) -> int:
    """Run `job` in a fresh worker process (see the module docstring), `env` added to this process's
    environment (CUDA_VISIBLE_DEVICES of a local GPU worker); returns its exit code."""
    out_dir = Path(job.out_dir)
    job_path = out_dir / "jobs" / f"{job.job_name}.json"
    with writing(job_path):
        atomic_write_text(job_path, job_json(job))
        log_path(job).parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path(job), "a")  # noqa: SIM115 (closed below)
    env = {**os.environ, **(env or {}), "EXPLORER_LAUNCHER_PID": str(os.getpid())}
    if job.offline:  # nothing to fetch: never wait on an unreachable hub
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("HF_DATASETS_OFFLINE", "1")
    with log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "explorer.runner", str(job_path)], stdout=log, stderr=subprocess.STDOUT, env=env
        )
        while True:
            code = proc.poll()
            if on_poll is not None:
                on_poll()
            if code is not None:
                return code
            if stop is not None and stop.is_set():
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            time.sleep(0.3)
