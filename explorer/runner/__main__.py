"""`python -m explorer.runner JOB.json`: the one worker entry point; runs a typed job (explorer/runner/jobs.py)."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def die_with_parent(parent_pid: int) -> None:
    """Linux: get SIGKILL when the launcher dies, so no orphan keeps writing records a resumed sweep also
    writes. Called first thing in the worker (not as preexec_fn, which is unsafe in threaded launchers)."""
    import contextlib
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # the launcher died before the line above
        os._exit(1)


def run(job) -> int:
    """Run a typed job in this process; returns its number of failed cells / points (0 when all went well)."""
    if job.kind == "eval":
        from explorer.runner.worker import run_job

        return run_job(job)
    if job.kind == "profile":
        from explorer.runner.profile import run_profile_job

        return int(run_profile_job(job).get("status") != "ok")
    from explorer.runner.ceilings import run_ceilings_job

    run_ceilings_job(job)
    return 0


def main(argv: list[str] | None = None) -> int:
    die_with_parent(int(os.environ.get("EXPLORER_LAUNCHER_PID", os.getppid())))
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m explorer.runner JOB.json", file=sys.stderr)
        return 2
    from explorer.runner.jobs import read_job

    try:
        job = read_job(argv[0])
    except (OSError, ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    run(job)
    return 0


if __name__ == "__main__":
    sys.exit(main())
