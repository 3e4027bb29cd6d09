"""Quantization registry: per-device backends, readable errors, and that quantizing changes the weights."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from explorer.quant.registry import GGUF_LEVELS, QuantizationError, available_levels, check_level, select_backend


def test_cpu_backends() -> None:
    assert select_backend("bf16", "cpu").name == "torch"
    assert select_backend("int8", "cpu").name == "torchao-int8-weight-only"
    assert select_backend("int4", "cpu").name == "torchao-int4-prototype-opaque"
    llama = [lvl for lvl in GGUF_LEVELS if all(importlib.util.find_spec(m) for m in ("llama_cpp", "gguf"))]
    assert available_levels("cpu") == ["fp32", "bf16", "fp16", "int8", "int4", *llama]
    assert not set(GGUF_LEVELS) & set(available_levels("cuda"))  # the llama.cpp build here is CPU-only


def test_nf4_on_cpu_lists_what_is_available() -> None:
    with pytest.raises(QuantizationError) as err:
        select_backend("nf4", "cpu")
    msg = str(err.value)
    assert "not available on cpu" in msg and "available on cpu: fp32, bf16, fp16, int8, int4" in msg


def test_unknown_level_suggests() -> None:
    with pytest.raises(QuantizationError, match=r"did you mean 'int8'"):
        check_level("int7")


@pytest.mark.parametrize("level", ["int8", "int4"])
def test_quantizing_tiny_model_shrinks_and_changes_it(level: str) -> None:
    from explorer.models.sources import load_model, parse_model
    from explorer.runner.measure import weight_bytes

    backend = select_backend(level, "cpu")
    model, tok = load_model(parse_model("tiny-random-llama"), torch.bfloat16, "cpu", log=lambda *_: None)
    ids = torch.tensor([tok("the cat sat on the mat")["input_ids"]])
    with torch.no_grad():
        ref = model(ids).logits.float()
    before = weight_bytes(model)
    model = backend.apply(model, backend.settings)
    with torch.no_grad():
        out = model(ids).logits.float()
    assert weight_bytes(model) < before
    assert not torch.equal(out, ref)
    assert torch.allclose(out, ref, atol=0.5)  # same model, small quantization error


def test_cuda_backends_follow_what_is_installed() -> None:
    import importlib.util

    levels = available_levels("cuda")
    assert {"fp32", "bf16", "fp16", "int8", "int4"} <= set(levels)  # torchao covers int8/int4 on CUDA
    if importlib.util.find_spec("bitsandbytes") is None:
        assert select_backend("int8", "cuda").name == "torchao-int8-weight-only"
        with pytest.raises(QuantizationError, match=r"bitsandbytes-nf4 needs cuda \+ bitsandbytes"):
            select_backend("nf4", "cuda")
    else:
        assert select_backend("nf4", "cuda").name == "bitsandbytes-nf4"
        assert select_backend("int8", "cuda").name == "bitsandbytes-llm.int8"


def test_plan_time_check_and_backend_versions() -> None:
    from importlib.metadata import version

    from explorer.quant.registry import check_levels, package_version

    check_levels(["fp32", "bf16", "int8", "int4"], "cpu")
    with pytest.raises(QuantizationError, match=r"quantization 'nf4' is not available on cpu"):
        check_levels(["bf16", "nf4"], "cpu")
    assert select_backend("int8", "cpu").versions() == {"torchao": version("torchao")}
    assert select_backend("bf16", "cpu").versions() == {}
    assert package_version("no-such-distribution-xyz") == "not installed"
