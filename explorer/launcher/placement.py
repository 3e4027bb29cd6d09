"""Memory-aware placement (pure): which nodes can hold a job's model, before anything is sent there.

A job needs `need_bytes = weight_bytes + working_bytes`:
- `weight_bytes` = parameters x bytes per weight of the level (fp32 4, bf16/fp16 2, int8 1, int4/nf4 0.5 plus
  one bf16 scale per 64 weights); GGUF files and local folders count their weight files' size on disk at the
  stored precision, scaled to the level.
- `working_bytes` = 20% of the weights + 1 GiB: activations and lm-eval's logits at the sweep's batch size,
  the CUDA context and the allocator's slack. A deliberately safe margin, not a measurement.
A hub model's size is not known before it is downloaded: it is placed anywhere, and a worker that runs out of
memory is recorded failed with that reason as on one machine. A node's memory is its GPU's total memory for a
CUDA job, its RAM for a CPU job. A job no node can hold is not sent anywhere: its cells are recorded failed
with the numbers (`no_fit_reason`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GIB = 1024**3
BYTES_PER_WEIGHT = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "int8": 1.0, "int4": 0.5 + 2 / 64, "nf4": 0.5 + 2 / 64,
                    # GGUF blocks: Q8_0 34 bytes / 32 weights, Q4_0 18 / 32, Q4_K_M ~4.85 bits; the file's own
                    # type (`gguf`) taken as Q4_1's 20 / 32 (the demo models' files are 4-bit)
                    "gguf-f32": 4.0, "gguf-f16": 2.0, "gguf-q8_0": 34 / 32, "gguf-q4_k_m": 4.85 / 8,
                    "gguf-q4_0": 18 / 32, "gguf": 20 / 32}  # fmt: skip
WORKING_FRACTION, WORKING_FIXED_BYTES = 0.2, 1 * GIB
TINY_PARAMS = 200_000  # the 2-layer, hidden-64 tiny-random-llama (explorer/models/demo.py), rounded up
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")


@dataclass(frozen=True)
class Node:
    """One place jobs can run: a Ray node (or this machine), the device kind its jobs use and that device's
    memory (one GPU's total memory for cuda, RAM for cpu)."""

    node_id: str
    device_kind: str  # "cuda" | "cpu"
    device_bytes: int
    device_name: str = ""
    address: str = ""
    slots: int = 1  # GPUs (cuda) or CPUs (cpu) it offers
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.device_kind not in ("cuda", "cpu"):
            raise ValueError(f"node {self.node_id}: device_kind {self.device_kind!r}, expected cuda or cpu")
        if self.device_bytes <= 0:
            raise ValueError(f"node {self.node_id}: device_bytes must be > 0, got {self.device_bytes}")


def _params(model: dict[str, Any]) -> int | None:
    """Dense parameters of a job's model without loading it; None when only a download could tell (hub)."""
    kind, ref = model.get("kind"), model.get("ref", "")
    if kind == "random":
        from explorer.models.architectures import param_count

        return param_count(ref)
    if kind == "demo":
        from explorer.models.demo import DEMO_MODELS

        return DEMO_MODELS[ref].expected_params
    if kind == "tiny":
        return TINY_PARAMS
    return None


def _stored_bytes(model: dict[str, Any]) -> int | None:
    """Size on disk of a local folder's / GGUF file's weights (bf16 assumed for folders, the file for GGUF)."""
    kind, ref = model.get("kind"), Path(model.get("ref", ""))
    if kind == "gguf" and ref.is_file():
        return ref.stat().st_size
    if kind == "local" and ref.is_dir():
        return sum(p.stat().st_size for p in ref.iterdir() if p.suffix in WEIGHT_SUFFIXES) or None
    return None


def weight_bytes(model: dict[str, Any], level: str) -> int | None:
    """The weights' bytes at a quantization level (module text); None when unknown before a download."""
    per_weight = BYTES_PER_WEIGHT.get(level, 2.0)
    params = _params(model)
    if params is not None:
        return int(params * per_weight)
    stored = _stored_bytes(model)
    if stored is None:
        return None
    return stored if model.get("kind") == "gguf" else int(stored / 2.0 * per_weight)


def need_bytes(model: dict[str, Any], level: str) -> int | None:
    """weight_bytes + working memory (module text); None when the size is unknown."""
    weights = weight_bytes(model, level)
    return None if weights is None else int(weights * (1 + WORKING_FRACTION) + WORKING_FIXED_BYTES)


def fitting_nodes(need: int | None, nodes: list[Node]) -> list[Node]:
    """The nodes whose device memory holds `need` bytes (every node when the need is unknown)."""
    return list(nodes) if need is None else [n for n in nodes if n.device_bytes >= need]


def no_fit_reason(model_name: str, level: str, need: int, nodes: list[Node]) -> str:
    """The failed record's line for a job no node can hold."""
    biggest = max(nodes, key=lambda n: n.device_bytes) if nodes else None
    where = (
        f"the largest node ({biggest.address or biggest.node_id}, {biggest.device_name or biggest.device_kind}) "
        f"has {biggest.device_bytes / GIB:.1f} GiB"
        if biggest
        else "no node is available"
    )
    return (
        f"not placed: {model_name} at {level} needs {need / GIB:.1f} GiB (parameters x bytes per weight + "
        f"working memory) and {where}: add a node with more memory or pick a smaller level"
    )
