"""Load a model source at a quantization level on a device: the one path every runner shares."""

from __future__ import annotations

import gc
import time
from typing import Any


class ModelLoadError(RuntimeError):
    """The model could not be loaded; the message names it."""


def preimport(level: str, device: str) -> None:
    """Import what loading and quantizing will need, so a memory baseline taken after this call counts
    the model and not the libraries (transformers' model classes, torchao's kernels)."""
    import importlib

    import transformers.modeling_utils  # noqa: F401

    from explorer.quant.registry import QuantizationError, select_backend

    try:
        backend = select_backend(level, device.split(":")[0])
    except QuantizationError:
        return  # load_quantized raises it, as a failed record
    for mod in backend.requires:
        importlib.import_module(mod + ".quantization" if mod == "torchao" else mod)


def load_quantized(model: dict[str, Any], level: str, device: str, baseline_rss: int) -> tuple[Any, Any, dict]:
    """(model, tokenizer, info): info has quant_backend, quant_settings, compute_dtype, model_params,
    weight_bytes, model_rss_bytes, load_s, quantize_s, device_name, architecture. Raises with a readable message."""
    import torch

    from explorer.models.architectures import architecture_of, tokenizer_label
    from explorer.models.sources import ModelSource, count_params, load_model
    from explorer.quant.registry import select_backend
    from explorer.runner.measure import device_name, rss_bytes, weight_bytes

    info: dict[str, Any] = {"device_name": device_name(device)}
    backend = select_backend(level, device.split(":")[0])
    info.update(quant_backend=backend.name, quant_settings=backend.settings, compute_dtype=backend.load_dtype)
    t0 = time.perf_counter()
    extra = backend.load_kwargs(backend.settings, device) if backend.load_kwargs else {}
    source = ModelSource(**model)
    try:
        net, tokenizer = load_model(source, getattr(torch, backend.load_dtype), device, **extra)
    except Exception as exc:
        raise ModelLoadError(f"cannot load model {source.name!r} ({source.kind}): {type(exc).__name__}: {exc}") from exc
    info["load_s"] = time.perf_counter() - t0
    # dense count: before torchao quantizes; bitsandbytes packs at load time, which num_parameters() undoes
    info["model_params"] = int(net.num_parameters()) if extra else count_params(net)
    t0 = time.perf_counter()
    if backend.apply is not None:
        net = backend.apply(net, backend.settings)
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
    info["quantize_s"] = time.perf_counter() - t0
    gc.collect()  # drop load-time temporaries before measuring
    info.update(weight_bytes=weight_bytes(net), model_rss_bytes=rss_bytes() - baseline_rss)
    info["architecture"] = architecture_of(net.config)  # layers, KV heads, ...: what projections need
    info["tokenizer"] = tokenizer_label(source.kind, source.ref, source.tokenizer)
    return net, tokenizer, info
