"""The one set of trackers every run uses (as optimum-benchmark does): latency, memory, energy.

- `LatencyTracker`: synchronised wall time of device work. On CUDA each bracket is
  `synchronize; t0; work; synchronize; t1`, so it holds the kernels the work launched, not only their launch.
- `MemoryTracker`: the peak memory of a window.
  CUDA: `torch.cuda.max_memory_allocated` after a reset at the window's start (weights, activations and
  whatever the window allocates; the previous window's freed blocks are returned to the allocator first).
  CPU: `weight_bytes` + the window's peak working set = the resident-set high-water mark (VmHWM, reset
  through /proc/self/clear_refs) minus the resident set at the window's start, taken after a garbage
  collection and `malloc_trim`. Memory another window kept alive is in that start and so never counted
  again, and freed heap is handed back to the system first, so a task's figure does not depend on the task
  before it. Windows nest: an inner window's reset never lowers the outer window's peak.
- `EnergyTracker`: the NVML total-energy counter (millijoules) difference over a window; None without a
  sensor (CPUs here expose no readable RAPL).
`Trackers` opens all three over one window (a task's evaluation, a serving-profile point).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from explorer.runner.measure import proc_status_bytes


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


class LatencyTracker:
    """Accumulates synchronised device time: `with tracker.track(): work()` adds one bracket."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.reset()

    def reset(self) -> None:
        self.total_s, self.count, self.last_s = 0.0, 0, 0.0

    @contextlib.contextmanager
    def track(self) -> Iterator[None]:
        _sync(self.device)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            _sync(self.device)
            self.last_s = time.perf_counter() - t0
            self.total_s += self.last_s
            self.count += 1

    def repeat(self, fn: Callable[[], Any], warmup: int, repeats: int) -> list[float]:
        """`warmup` untimed calls, then the time of each of `repeats` calls."""
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(repeats):
            with self.track():
                fn()
            times.append(self.last_s)
        return times


def cv(times: list[float]) -> float:
    """Coefficient of variation (stdev / mean); 0 for fewer than two samples."""
    return statistics.stdev(times) / statistics.mean(times) if len(times) > 1 else 0.0


def _trim_heap() -> None:
    """Collect garbage and hand freed heap back to the system (glibc), so the next window starts clean."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _reset_hwm() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        return True
    except OSError:
        return False


class MemoryTracker:
    """Peak memory of a window (see the module docstring for the definition on each device)."""

    _open: list[MemoryTracker] = []  # the windows open now, outermost first

    def __init__(self, device: str, weight_bytes: int = 0) -> None:
        self.device, self.weight_bytes = device, int(weight_bytes)
        self.cuda = device.startswith("cuda")
        self.peak_mem_bytes: int | None = None
        self.peak_mem_kind = "cuda_max_memory_allocated" if self.cuda else "weights_plus_working_set"

    def _reading(self) -> int:
        if self.cuda:
            return int(torch.cuda.max_memory_allocated(self.device))
        return proc_status_bytes("VmHWM") or 0

    def __enter__(self) -> MemoryTracker:
        for outer in self._open:  # what the outer windows saw before this reset
            outer._seen = max(outer._seen, self._reading())
        if self.cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            _trim_heap()
            self.start_rss = proc_status_bytes("VmRSS") or 0
            if not _reset_hwm():  # no resettable high-water mark: the process's peak, load included
                self.peak_mem_kind = "process_peak_rss"
        self._seen = self._reading()
        self._open.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)
        self._seen = max(self._seen, self._reading())
        self._open.remove(self)
        for outer in self._open:
            outer._seen = max(outer._seen, self._seen)
        if self.cuda:
            self.peak_mem_bytes = self._seen
        else:
            self.peak_mem_bytes = self.weight_bytes + max(0, self._seen - self.start_rss)


class EnergyTracker:
    """NVML total energy of one GPU; `read_j()` is None where there is no sensor."""

    def __init__(self, device: str) -> None:
        self._handle = None
        if not device.startswith("cuda"):
            return
        try:
            import pynvml

            pynvml.nvmlInit()
            index = torch.device(device).index or 0
            uuid = str(torch.cuda.get_device_properties(index).uuid)
            try:  # NVML numbers GPUs physically; torch's index is remapped by CUDA_VISIBLE_DEVICES
                handle = pynvml.nvmlDeviceGetHandleByUUID(uuid if uuid.startswith("GPU-") else f"GPU-{uuid}")
            except Exception:
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
            self._handle = handle
        except Exception:  # no pynvml, no permission, no sensor on this GPU
            self._handle = None

    def read_j(self) -> float | None:
        if self._handle is None:
            return None
        import pynvml

        return pynvml.nvmlDeviceGetTotalEnergyConsumption(self._handle) / 1000.0


class Trackers:
    """One window measured by all three trackers: `wall_s`, `peak_mem_bytes` / `peak_mem_kind`, `energy_j`."""

    def __init__(self, device: str, energy: EnergyTracker, weight_bytes: int = 0) -> None:
        self.device, self.energy = device, energy
        self.memory = MemoryTracker(device, weight_bytes)
        self.latency = LatencyTracker(device)

    def __enter__(self) -> Trackers:
        self.memory.__enter__()
        self.energy0 = self.energy.read_j()
        self._bracket = self.latency.track()
        self._bracket.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._bracket.__exit__(None, None, None)
        energy1 = self.energy.read_j()
        self.memory.__exit__(*exc)
        self.wall_s = self.latency.last_s
        self.energy_j = None if energy1 is None or self.energy0 is None else energy1 - self.energy0
        self.peak_mem_bytes, self.peak_mem_kind = self.memory.peak_mem_bytes, self.memory.peak_mem_kind
