"""Ceilings of the device at hand, measured by the explorer itself (the roofline's two roofs).

- compute: a large square matmul in the given dtype -> FLOP/s (2 n^3 per product);
- memory: a large tensor copy -> bytes/s (each element read once and written once).
Median over repeats after warm-up; the coefficient of variation says how steady the machine was.
"""

from __future__ import annotations

import statistics
from typing import Any

import torch

from explorer.runner.measure import device_name
from explorer.runner.trackers import LatencyTracker, cv


def measure_ceilings(
    device: str = "cpu",
    dtype: str = "bfloat16",
    matmul_n: int | None = None,
    copy_bytes: int | None = None,
    warmup: int = 2,
    repeats: int = 5,
) -> dict[str, Any]:
    """Measured matmul FLOP/s and copy bytes/s of `device` (sizes default by device kind)."""
    cuda = device.startswith("cuda")
    sizes = [matmul_n] if matmul_n else ([4096, 8192] if cuda else [1024, 2048])
    nbytes = copy_bytes or ((2 << 30) if cuda else (256 << 20))
    tdtype = getattr(torch, dtype)
    latency = LatencyTracker(device)
    best: tuple[float, int, list[float]] = (0.0, 0, [])
    for n in sizes:  # a ceiling is the best any size reaches: small sizes under-use wide units
        a = torch.randn(n, n, device=device, dtype=tdtype)
        b = torch.randn(n, n, device=device, dtype=tdtype)
        with torch.no_grad():
            mm = latency.repeat(lambda a=a, b=b: torch.mm(a, b), warmup, repeats)
        flops = 2.0 * n**3 / statistics.median(mm)
        if flops > best[0]:
            best = (flops, n, mm)
        del a, b
    src = torch.empty(nbytes // 4, device=device, dtype=torch.float32).fill_(1.0)
    dst = torch.empty_like(src)
    cp = latency.repeat(lambda: dst.copy_(src), warmup, repeats)
    cp_s = statistics.median(cp)
    return {
        "device_name": device_name(device),
        "device_kind": "cuda" if cuda else "cpu",
        "dtype": dtype,
        "matmul_n": best[1],
        "matmul_sizes": sizes,
        "matmul_flops": best[0],
        "matmul_cv": cv(best[2]),
        "copy_bytes": src.numel() * 4,
        "copy_bytes_per_s": 2.0 * src.numel() * 4 / cp_s,
        "copy_cv": cv(cp),
        "repeats": repeats,
        "threads": torch.get_num_threads(),
        "provenance": "measured",
    }


def run_ceilings_job(job: Any) -> dict[str, Any]:
    """A `CeilingsJob`: measure, write ceilings/<dtype>.json atomically, return the result."""
    from pathlib import Path

    from explorer.records.files import write_ceilings

    sizes = {"matmul_n": job.matmul_n, "copy_bytes": job.copy_bytes, "warmup": job.warmup, "repeats": job.repeats}
    result = measure_ceilings(job.device, dtype=job.dtype, **sizes)
    write_ceilings(Path(job.out_dir), result)
    return result
