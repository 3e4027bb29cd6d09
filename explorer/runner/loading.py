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


LLAMACPP_N_CTX = 2048  # lm-eval's default max_length; the logits of every position are kept (logits_all)


def load_gguf(model: dict[str, Any], level: str, baseline_rss: int, logits_all: bool = True) -> tuple[Any, dict]:
    """(llama_cpp.Llama, info) for a llama.cpp level: the level's GGUF file (written once by llama.cpp's
    quantizer when it is not the model's own; `quantize_s` is that time, 0 when it was there), read into memory
    (no mmap, so the resident set holds the weights), on the threads torch would use. Info as load_quantized's.
    `logits_all`: keep every position's logits (scoring); serving profiles keep only the last one's."""
    import torch

    from explorer.models.architectures import tokenizer_label
    from explorer.models.gguf_files import gguf_facts, gguf_variant, source_gguf, variant_info
    from explorer.quant.registry import select_backend
    from explorer.runner.measure import device_name, rss_bytes

    backend = select_backend(level, "cpu")
    threads = torch.get_num_threads()
    try:
        src = source_gguf(model)
        t0 = time.perf_counter()
        path = gguf_variant(src, backend.settings["gguf_type"])
        quantize_s = time.perf_counter() - t0
        import llama_cpp

        t0 = time.perf_counter()
        llm = llama_cpp.Llama(str(path), n_ctx=LLAMACPP_N_CTX, n_threads=threads, n_threads_batch=threads,
                              logits_all=logits_all, use_mmap=False, seed=0, verbose=False)  # fmt: skip
    except Exception as exc:
        raise ModelLoadError(
            f"cannot load model {model.get('ref')!r} with llama.cpp: {type(exc).__name__}: {exc}"
        ) from exc
    load_s = time.perf_counter() - t0
    facts, made = gguf_facts(path), variant_info(src, backend.settings["gguf_type"])
    settings = {**backend.settings, **made, "file": path.name, "source_file": src.name, "n_ctx": LLAMACPP_N_CTX,
                "n_threads": threads}  # fmt: skip
    info = {"device_name": device_name("cpu", threads), "quant_backend": backend.name, "quant_settings": settings,
            "compute_dtype": made["gguf_type"], "model_params": facts["model_params"],
            "weight_bytes": facts["weight_bytes"], "load_s": load_s, "quantize_s": quantize_s,
            "model_rss_bytes": rss_bytes() - baseline_rss, "architecture": facts["architecture"],
            "tokenizer": tokenizer_label(model["kind"], model["ref"], model.get("tokenizer"))}  # fmt: skip
    return llm, info
