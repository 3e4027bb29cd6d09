"""What a device really does, beyond its datasheet: measured ceilings and the fixed overhead of a forward pass.

- Ceilings (`explorer ceilings --out DIR` writes DIR/ceilings/*.json): a large matmul per dtype (FLOP/s) and a
  large copy (bytes/s), per device name. Only the precisions measured are returned: no precision borrows
  another's ceiling.
- Fixed overhead per layer and forward pass: the time a forward costs whatever its size (kernel launches,
  framework dispatch). A model with L layers cannot run a forward faster than L x this, even when its FLOPs and
  bytes would allow it: this is what keeps a projection of a small model at batch 1 above physical floors.
  Measured from serving profiles (batch-1 decode step of a plain-dtype model minus the larger of its compute
  and weight-read floors, divided by its layers; the largest over the profiled models of a device) where a
  results folder has them; otherwise the documented defaults per device class below.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

DTYPE_PRECISION = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}
PLAIN_LEVELS = ("bf16", "fp16", "fp32")
KIND_CLASS = {"cuda": "gpu", "gpu": "gpu", "cpu": "cpu"}


@dataclass(frozen=True)
class Overhead:
    """Fixed seconds per layer per forward pass, as an (optimistic, conservative) pair with where each is from."""

    optimistic_s: float
    conservative_s: float
    source: str
    provenance: str  # "measured" (on a device of this class) | "default" (documented constant)


# ~8 kernels per decoder layer once fused (norm, QKV, attention, O, norm, gate/up, activation, down) x ~3 us, the
# time NVIDIA measured for a short kernel even inside a CUDA graph ("Getting Started with CUDA Graphs",
# developer.nvidia.com/blog/cuda-graphs, 2019: 3.4 us per kernel with graphs, 3.8 us without).
_OPTIMISTIC = 8 * 3e-6
_OPTIMISTIC_SOURCE = "8 fused kernels x 3 us per layer (NVIDIA, Getting Started with CUDA Graphs, 2019)"
DEFAULT_OVERHEAD: dict[str, Overhead] = {
    # PyTorch eager, batch 1: LLaMA-7B (32 layers) at 25.5 tokens/s on an A100, "heavily CPU overhead bound"
    # (pytorch.org/blog/accelerating-generative-ai-2, 2023): 39.2 ms / 32 layers.
    "gpu": Overhead(
        _OPTIMISTIC,
        1.0 / 25.5 / 32,
        f"optimistic: {_OPTIMISTIC_SOURCE}; conservative: PyTorch eager LLaMA-7B 25.5 tok/s on A100 / 32 layers "
        "(pytorch.org/blog/accelerating-generative-ai-2)",
        "default",
    ),
    # HF eager on this project's 2-vCPU machine: gemma3-270m bf16 batch-1 decode 51.8 ms, minus its 17.9 ms
    # weight-read floor, over 18 layers (data/demo_cpu/profiles; tests/test_projection.py re-derives it).
    "cpu": Overhead(
        _OPTIMISTIC,
        1.9e-3,
        f"optimistic: {_OPTIMISTIC_SOURCE}; conservative: HF eager on this project's 2-vCPU machine "
        "(data/demo_cpu/profiles, gemma3-270m bf16 batch-1 decode)",
        "default",
    ),
}


def read_ceilings(out_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Ceilings measured into out_dir/ceilings/*.json, per device name: {"matmul_flops": {precision: FLOP/s},
    "copy_bytes_per_s": float, "device_kind": str}. Re-measured dtypes: the best value is the ceiling."""
    folder = Path(out_dir) / "ceilings"
    found = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    out: dict[str, dict[str, Any]] = {}
    for c in found:
        entry = out.setdefault(
            c["device_name"], {"matmul_flops": {}, "copy_bytes_per_s": 0.0, "device_kind": c.get("device_kind")}
        )
        prec = DTYPE_PRECISION.get(c["dtype"], c["dtype"])
        entry["matmul_flops"][prec] = max(entry["matmul_flops"].get(prec, 0.0), float(c["matmul_flops"]))
        entry["copy_bytes_per_s"] = max(entry["copy_bytes_per_s"], float(c["copy_bytes_per_s"]))
    return out


def measured_overheads(profiles: pl.DataFrame, ceilings: Mapping[str, Mapping[str, Any]]) -> dict[str, dict]:
    """Per device name: {"per_layer_s", "device_kind", "model", "quant"} from the batch-1 decode steps of its
    plain-dtype profiles (see the module text); devices without ceilings or such profiles are left out."""
    from explorer.hardware.work import add_architecture, matmul_params, pass_bytes

    if profiles.is_empty() or "decode_s_per_token" not in profiles.columns:
        return {}
    batch1 = (pl.col("batch_size") == 1) & pl.col("quant").is_in(PLAIN_LEVELS)
    rows = add_architecture(profiles.filter(batch1 & pl.col("decode_s_per_token").is_not_null()))
    rows = rows.with_columns(matmul_params().alias("__params"), pass_bytes().alias("__bytes"))  # as projected
    out: dict[str, dict] = {}
    for row in rows.iter_rows(named=True):
        ceil = ceilings.get(row["device_name"])
        peak = (ceil or {}).get("matmul_flops", {}).get(row["quant"])
        if not ceil or not peak or not row["n_layers"]:
            continue
        floor = max(2.0 * row["__params"] / peak, row["__bytes"] / ceil["copy_bytes_per_s"])
        per_layer = max(row["decode_s_per_token"] - floor, 0.0) / row["n_layers"]
        best = out.get(row["device_name"])
        if best is None or per_layer > best["per_layer_s"]:
            kind = row.get("device_kind") or ceil.get("device_kind")
            out[row["device_name"]] = {
                "per_layer_s": per_layer,
                "device_kind": kind,
                **{k: row[k] for k in ("model", "quant")},
            }
    return out


def overhead_for(kind: str, measured: Mapping[str, Mapping[str, Any]] | None = None) -> Overhead:
    """The overhead pair for a device class ("gpu" | "cpu"): the largest measured on a device of that class as
    the conservative end (the optimistic end stays the kernel-count floor), else the class default."""
    cls = KIND_CLASS.get(kind, kind)
    default = DEFAULT_OVERHEAD.get(cls, DEFAULT_OVERHEAD["gpu"])
    mine = [(name, m) for name, m in (measured or {}).items() if KIND_CLASS.get(m.get("device_kind") or "") == cls]
    if not mine:
        return default
    name, worst = max(mine, key=lambda item: item[1]["per_layer_s"])
    conservative = max(worst["per_layer_s"], default.optimistic_s)
    source = (
        f"optimistic: {_OPTIMISTIC_SOURCE}; conservative: measured on {name} "
        f"({worst['model']} {worst['quant']} batch-1 decode)"
    )
    return Overhead(default.optimistic_s, conservative, source, "measured")
