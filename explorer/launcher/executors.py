"""Executors: where the jobs of a plan run. Both start each job as the one launcher does (a fresh
`python -m explorer.runner` process, explorer/launcher/process.py), so records, resume and death reasons are
the same whichever runs them.

- `LocalExecutor`: this machine. One job at a time; with several visible GPUs (device auto / cuda), one worker
  per GPU, each started with CUDA_VISIBLE_DEVICES set to its GPU (the job's device is then cuda:0 inside it).
- `RayExecutor` (explorer/launcher/ray_executor.py): a Ray cluster; each (model, quantization) job is a Ray task.

An executor says what device the plan is for (`target`), which nodes there are (`nodes`, for memory-aware
placement, explorer/launcher/placement.py) and runs jobs (`run`), yielding one `JobEnd` per job as it ends;
the sweep records a death reason for the cells a job did not write.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from explorer.launcher.placement import Node
from explorer.runner.jobs import EvalJob

Account = Callable[[dict], None]
EXECUTORS = ("local", "ray")


@dataclass
class JobEnd:
    """A job that ended: the cell ids whose records it wrote and, for the others, why (a death reason)."""

    job: EvalJob
    seen: set[str] = field(default_factory=set)
    reason: str = ""

    def missing(self) -> list:
        return [c for c in self.job.cells if c.cell_id not in self.seen]


def run_one(job: EvalJob, account: Account, stop: threading.Event | None, env: dict | None = None) -> JobEnd:
    """Launch one job here, following its records as they land; the reason names how it ended."""
    from explorer.launcher.process import exit_reason, launch, log_path
    from explorer.launcher.sweep import RecordFollower

    follow = RecordFollower(job, account)
    code = launch(job, on_poll=follow, stop=stop, env=env)
    return JobEnd(job, follow.seen, exit_reason(code, log_path(job)))


class LocalExecutor:
    """This machine (module text). `gpus`: the CUDA device ids to spread jobs over (None: decided by target)."""

    name = "local"

    def __init__(self, gpus: list[str] | None = None) -> None:
        self.gpus = gpus

    def target(self, spec_device: str) -> tuple[str, str]:
        """(device, device name) the cells are planned for; the GPUs to use when several are visible."""
        import torch

        from explorer.launcher.sweep import resolve_device
        from explorer.runner.measure import device_name

        device = resolve_device(spec_device)
        if self.gpus is None:
            many = spec_device in ("auto", "cuda") and device == "cuda:0" and torch.cuda.device_count() > 1
            self.gpus = [str(i) for i in range(torch.cuda.device_count())] if many else []
        return device, device_name(device)

    def nodes(self, device: str) -> list[Node]:
        from explorer.runner.measure import device_memory

        kind = device.split(":")[0]
        name, total = device_memory(kind)
        return [Node("local", kind, total, name, "this machine", max(len(self.gpus or []), 1))]

    def run(self, jobs: list[EvalJob], account: Account, stop: threading.Event | None) -> Iterator[JobEnd]:
        if len(self.gpus or []) <= 1:
            for job in jobs:
                yield JobEnd(job) if stop is not None and stop.is_set() else run_one(job, account, stop)
            return
        yield from self._run_per_gpu(jobs, account, stop)

    def _run_per_gpu(self, jobs: list[EvalJob], account: Account, stop: threading.Event | None) -> Iterator[JobEnd]:
        """One thread per GPU takes the next job and runs it with CUDA_VISIBLE_DEVICES=<its GPU>."""
        todo: queue.Queue = queue.Queue()
        for job in jobs:
            todo.put(job)
        ends: queue.Queue = queue.Queue()
        lock = threading.Lock()

        def locked(record: dict) -> None:
            with lock:
                account(record)

        def worker(gpu: str) -> None:
            while True:
                try:
                    job = todo.get_nowait()
                except queue.Empty:
                    return
                if stop is not None and stop.is_set():
                    ends.put(JobEnd(job))
                    continue
                try:
                    ends.put(run_one(job, locked, stop, env={"CUDA_VISIBLE_DEVICES": gpu}))
                except BaseException as exc:  # noqa: BLE001 (a launcher write error: the sweep raises it)
                    ends.put(exc)

        threads = [threading.Thread(target=worker, args=(g,), daemon=True) for g in self.gpus or []]
        for t in threads:
            t.start()
        for _ in jobs:
            end = ends.get()
            if isinstance(end, BaseException):
                raise end
            yield end


def make_executor(name: str, address: str | None = None, cpus_per_job: int | None = None):
    """The executor of a name (`explorer sweep --executor`); an unknown name is a ValueError with a hint."""
    from explorer.hints import did_you_mean

    if name == "local":
        return LocalExecutor()
    if name == "ray":
        from explorer.launcher.ray_executor import RayExecutor

        return RayExecutor(address=address, cpus_per_job=cpus_per_job)
    raise ValueError(f"unknown executor {name!r}{did_you_mean(name, list(EXECUTORS), known=True)}")
