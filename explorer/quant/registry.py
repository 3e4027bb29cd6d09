"""Quantization levels and the backends that realise them on each kind of device.

A *level* is what the user asks for (fp32, bf16, fp16, int8, int4, nf4). A *backend* is the library
path that realises it on the device at hand; the first available backend for (level, device) wins and
the record stores level, backend and settings. Backends were chosen from measurements on this
project's CPU machine (see docs/ARCHITECTURE.md and ../shared/FACTS-ml.md).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TORCH_LEVELS: tuple[str, ...] = ("fp32", "bf16", "fp16", "int8", "int4", "nf4")
# llama.cpp on a GGUF file (explorer/models/gguf_files.py): `gguf` is the file's own type (the demo models:
# Q4_1, Q4_K_M); the others are written from it by llama.cpp's quantizer (F32/F16: its weights exactly)
GGUF_LEVELS: dict[str, str] = {"gguf": "native", "gguf-f32": "F32", "gguf-f16": "F16", "gguf-q8_0": "Q8_0",
                               "gguf-q4_k_m": "Q4_K_M", "gguf-q4_0": "Q4_0"}  # fmt: skip
LEVELS: tuple[str, ...] = TORCH_LEVELS + tuple(GGUF_LEVELS)


class QuantizationError(ValueError):
    """A level that is unknown or cannot be realised on this device (message is one readable line)."""


@dataclass(frozen=True)
class Backend:
    """One way to realise a quantization level on a kind of device."""

    level: str
    name: str  # recorded as quant_backend
    devices: tuple[str, ...]  # device kinds: "cpu", "cuda"
    load_dtype: str  # dtype the dense model is loaded in before quantizing (also the compute dtype)
    settings: dict[str, Any] = field(default_factory=dict)
    requires: tuple[str, ...] = ()  # importable modules needed
    apply: Callable[[Any, dict[str, Any]], Any] | None = None  # (model, settings) -> model, in place ok
    load_kwargs: Callable[[dict[str, Any], str], dict[str, Any]] | None = None  # (settings, device) -> kwargs

    def available(self, device_kind: str) -> bool:
        if device_kind not in self.devices:
            return False
        return all(importlib.util.find_spec(mod) is not None for mod in self.requires)

    def versions(self) -> dict[str, str]:
        """Installed version of each package this backend needs (torchao, bitsandbytes): part of a cell's key."""
        return {mod: package_version(mod) for mod in self.requires}


DISTRIBUTIONS = {"llama_cpp": "llama_cpp_python"}  # module -> the distribution pip installs it as


def package_version(name: str) -> str:
    """The installed version of distribution (or module) `name` (importlib.metadata), or 'not installed'."""
    try:
        return importlib.metadata.version(DISTRIBUTIONS.get(name, name))
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _skip_lm_head(module: Any, fqn: str) -> bool:
    """Filter for torchao.quantize_: every nn.Linear except the output head (kept in load dtype)."""
    import torch

    return isinstance(module, torch.nn.Linear) and not fqn.endswith("lm_head")


def _torchao_int8_weight_only(model: Any, settings: dict[str, Any]) -> Any:
    from torchao.quantization import Int8WeightOnlyConfig, quantize_

    quantize_(model, Int8WeightOnlyConfig(), filter_fn=_skip_lm_head)
    return model


def _torchao_int4_prototype(model: Any, settings: dict[str, Any]) -> Any:
    from torchao.prototype.quantization.int4.inference_workflow import PrototypeInt4WeightOnlyConfig

    quantize_cfg = PrototypeInt4WeightOnlyConfig(group_size=settings["group_size"], set_inductor_config=False)
    from torchao.quantization import quantize_

    quantize_(model, quantize_cfg, filter_fn=_skip_lm_head)
    return model


def _torchao_int4_cuda(model: Any, settings: dict[str, Any]) -> Any:
    from torchao.quantization import Int4WeightOnlyConfig, quantize_

    quantize_(model, Int4WeightOnlyConfig(group_size=settings["group_size"]), filter_fn=_skip_lm_head)
    return model


def _bnb_kwargs(settings: dict[str, Any], device: str) -> dict[str, Any]:
    import torch
    from transformers import BitsAndBytesConfig

    if settings["bits"] == 8:
        cfg = BitsAndBytesConfig(load_in_8bit=True)
    else:
        cfg = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=settings["quant_type"],
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
    return {"quantization_config": cfg, "device_map": {"": torch.device(device).index or 0}}


BACKENDS: tuple[Backend, ...] = (
    Backend("fp32", "torch", ("cpu", "cuda"), "float32"),
    Backend("bf16", "torch", ("cpu", "cuda"), "bfloat16"),
    Backend("fp16", "torch", ("cpu", "cuda"), "float16"),
    # CUDA: bitsandbytes when installed (LLM.int8 / nf4 / fp4), torchao otherwise.
    Backend(
        "int8", "bitsandbytes-llm.int8", ("cuda",), "bfloat16", {"bits": 8}, ("bitsandbytes",), load_kwargs=_bnb_kwargs
    ),
    Backend(
        "int8",
        "torchao-int8-weight-only",
        ("cpu", "cuda"),
        "bfloat16",
        {"granularity": "per-channel", "skip": "lm_head"},
        ("torchao",),
        apply=_torchao_int8_weight_only,
    ),
    Backend(
        "int4",
        "torchao-int4-weight-only",
        ("cuda",),
        "bfloat16",
        {"group_size": 64, "skip": "lm_head"},
        ("torchao",),
        apply=_torchao_int4_cuda,
    ),
    Backend(
        "int4",
        "bitsandbytes-fp4",
        ("cuda",),
        "bfloat16",
        {"bits": 4, "quant_type": "fp4"},
        ("bitsandbytes",),
        load_kwargs=_bnb_kwargs,
    ),
    Backend(
        "int4",
        "torchao-int4-prototype-opaque",
        ("cpu",),
        "bfloat16",
        {"group_size": 64, "skip": "lm_head", "qparams": "tinygemm"},
        ("torchao",),
        apply=_torchao_int4_prototype,
    ),
    Backend(
        "nf4",
        "bitsandbytes-nf4",
        ("cuda",),
        "bfloat16",
        {"bits": 4, "quant_type": "nf4"},
        ("bitsandbytes",),
        load_kwargs=_bnb_kwargs,
    ),
    # llama.cpp (llama-cpp-python, the [llamacpp] extra; this project builds it for the CPU)
    *(
        Backend(level, "llama.cpp", ("cpu",), "gguf", {"gguf_type": gguf_type}, ("llama_cpp", "gguf"))
        for level, gguf_type in GGUF_LEVELS.items()
    ),
)


def check_level(level: str) -> str:
    """Return `level` if known, else raise with a did-you-mean suggestion."""
    if level in LEVELS:
        return level
    from explorer.hints import did_you_mean

    hint = did_you_mean(level, LEVELS)
    raise QuantizationError(f"unknown quantization level {level!r}{hint}; known levels: {', '.join(LEVELS)}")


def available_levels(device_kind: str) -> list[str]:
    """Levels that have at least one working backend on this kind of device."""
    return [lvl for lvl in LEVELS if any(b.level == lvl and b.available(device_kind) for b in BACKENDS)]


def check_levels(levels: list[str], device: str) -> None:
    """Plan-time check: every level has a backend on this device ('cpu', 'cuda', 'cuda:N'); the first one that
    has none raises select_backend's line (the level, what it needs, what this device can do)."""
    for level in levels:
        select_backend(level, device.split(":")[0])


def select_backend(level: str, device_kind: str) -> Backend:
    """First available backend for (level, device kind); a readable error listing alternatives otherwise."""
    check_level(level)
    for backend in BACKENDS:
        if backend.level == level and backend.available(device_kind):
            return backend
    candidates = [b for b in BACKENDS if b.level == level]
    wanted = "; ".join(
        f"{b.name} needs {'/'.join(b.devices)}" + (f" + {', '.join(b.requires)}" if b.requires else "")
        for b in candidates
    )
    raise QuantizationError(
        f"quantization {level!r} is not available on {device_kind} ({wanted}); "
        f"available on {device_kind}: {', '.join(available_levels(device_kind))}"
    )
