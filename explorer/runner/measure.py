"""In-situ measurements: synchronised timers, peak memory, NVML energy, weight bytes.

CPU peak memory is the process's resident-set high-water mark (VmHWM), which Linux lets a process reset
(write "5" to /proc/self/clear_refs); the recorded figure is that peak minus the resident set measured
before the model was loaded. CUDA peak memory is torch.cuda.max_memory_allocated. Energy comes from the
NVML total-energy counter (millijoules) and is None without a sensor.
"""

from __future__ import annotations

import platform
import resource
import time
from pathlib import Path
from typing import Any

import torch


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_bytes() -> int:
    kib = _status_kib("VmRSS")
    if kib is not None:
        return kib * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux); False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int:
    kib = _status_kib("VmHWM")
    if kib is not None:
        return kib * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    name = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name or platform.processor() or 'cpu'} ({torch.get_num_threads()} threads)"


class EnergyMeter:
    """NVML total-energy counter of one GPU; `read_j()` is None where there is no sensor."""

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


class Window:
    """Measure one task's evaluation: wall time, peak memory, energy. Model-call time is added by the LM."""

    def __init__(self, device: str, baseline_rss: int, meter: EnergyMeter) -> None:
        self.device, self.baseline_rss, self.meter = device, baseline_rss, meter
        self.cuda = device.startswith("cuda")

    def __enter__(self) -> Window:
        if self.cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self.peak_reset = reset_peak_rss()
        self.energy0 = self.meter.read_j()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)
        self.wall_s = time.perf_counter() - self.t0
        energy1 = self.meter.read_j()
        self.energy_j = None if energy1 is None or self.energy0 is None else energy1 - self.energy0
        if self.cuda:
            self.peak_mem_bytes = int(torch.cuda.max_memory_allocated(self.device))
            self.peak_mem_kind = "cuda_max_memory_allocated"
        else:
            self.peak_mem_bytes = int(peak_rss_bytes() - self.baseline_rss)
            # without a resettable high-water mark the peak is the whole process's, load included
            self.peak_mem_kind = "peak_rss_delta" if self.peak_reset else "process_peak_rss_delta"


def tensor_bytes(t: torch.Tensor) -> int:
    """Storage bytes of a tensor, looking inside tensor subclasses (torchao quantized weights)."""
    if hasattr(t, "__tensor_flatten__") and type(t) not in (torch.Tensor, torch.nn.Parameter):
        names, _ = t.__tensor_flatten__()
        return sum(tensor_bytes(getattr(t, n)) for n in names if getattr(t, n, None) is not None)
    return t.numel() * t.element_size()


def weight_bytes(model: torch.nn.Module) -> int:
    """Bytes of parameters + buffers as stored (tied tensors counted once)."""
    seen: set[int] = set()
    total = 0
    for tensor in [*model.parameters(), *model.buffers()]:
        key = id(tensor)
        if key in seen:
            continue
        seen.add(key)
        total += tensor_bytes(tensor.data if isinstance(tensor, torch.nn.Parameter) else tensor)
    return total
