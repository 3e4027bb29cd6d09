"""Facts of the device and the model at hand: device name, resident set, weight bytes.

The trackers (latency, memory, energy over a window) are in explorer/runner/trackers.py.
"""

from __future__ import annotations

import platform
import resource
from pathlib import Path

import torch


def proc_status_bytes(field: str) -> int | None:
    """A size field of /proc/self/status (VmRSS, VmHWM, VmSize) in bytes; None where there is none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def rss_bytes() -> int:
    rss = proc_status_bytes("VmRSS")
    return rss if rss is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def device_name(device: str, threads: int | None = None) -> str:
    """The GPU's name, or the CPU's model with the threads torch uses (`threads`: those a worker will get)."""
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
    return f"{name or platform.processor() or 'cpu'} ({threads or torch.get_num_threads()} threads)"


def device_memory(device_kind: str, threads: int | None = None) -> tuple[str, int]:
    """(device name, bytes) of this machine's device of a kind: GPU 0's total memory, or the RAM."""
    import os

    if device_kind == "cuda":
        return device_name("cuda:0"), torch.cuda.get_device_properties(0).total_memory
    return device_name("cpu", threads), os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


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
