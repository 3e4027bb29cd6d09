"""The llama.cpp backend on the real demo GGUF files: tokens, log-likelihoods, rolling log-likelihoods and greedy
generations agree with the transformers backend on the same weights (the F32 GGUF holds exactly the weights the
transformers backend dequantizes); a sweep records llama.cpp cells with their files' provenance; the chance guard
(tests/test_guards.py); a model without a GGUF file is refused at planning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

llama_cpp = pytest.importorskip(
    "llama_cpp", reason="llama-cpp-python is not installed (`make llamacpp-deps` builds it, ~7 min; see README)"
)

# (context, continuation) pairs of the kind lm-eval sends: choices of one question share a context
PAIRS = [
    ("The capital of France is", " Paris"),
    ("The capital of France is", " London"),
    ("The capital of France is", " Berlin"),
    ("Question: What is 2 + 3?\nAnswer:", " 5"),
    ("Question: What is 2 + 3?\nAnswer:", " 6"),
    ("Water freezes at zero degrees", " Celsius."),
    ("Water freezes at zero degrees", " Fahrenheit."),
    ("A cat is an animal that", " meows and purrs"),
    ("A cat is an animal that", " barks at the mailman"),
    ("", "Once upon a time"),
]
TEXT = "The quick brown fox jumps over the lazy dog. It was a sunny day, and the fox was happy. " * 3
LOGLIK_TOL = 0.05  # nats per request, F32 GGUF vs transformers fp32 (seen: max 0.010 over 80 requests)


class _Req:
    def __init__(self, *args: object) -> None:
        self.args = args


@pytest.fixture(scope="module")
def pair(smollm2_dir: Path):
    """(llama.cpp over the F32 GGUF, transformers fp32) of SmolLM2-135M: the same weights."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from explorer.runner.llamacpp_lm import LlamaCppLM
    from explorer.runner.loading import load_gguf
    from explorer.runner.timed_lm import TimedHFLM

    llm, info = load_gguf({"kind": "demo", "ref": "smollm2-135m"}, "gguf-f32", 0)
    model = AutoModelForCausalLM.from_pretrained(smollm2_dir, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    hf = TimedHFLM(pretrained=model, tokenizer=tok, batch_size=4, device="cpu", softmax_dtype="float32")
    return LlamaCppLM(llm), hf, info


def test_f32_gguf_is_the_transformers_weights_and_says_so(pair) -> None:
    _, hf, info = pair
    assert info["quant_settings"]["gguf_type"] == "F32" and info["quant_settings"]["made_from"] == "Q4_1"
    assert info["quant_settings"]["requantized"] is False  # a dequantization: no information lost
    assert info["model_params"] == hf.model.num_parameters() == 134_515_008
    assert info["weight_bytes"] == 4 * info["model_params"]
    assert info["device_name"].endswith(f"({info['quant_settings']['n_threads']} threads)")


def test_tokens_are_the_transformers_tokenizer_s(pair) -> None:
    lcpp, hf, _ = pair
    for text in [c + x for c, x in PAIRS] + [TEXT, "naïve café — 東京 \n\t  spaces"]:
        assert lcpp.tok_encode(text) == hf.tok_encode(text), text


def test_log_likelihoods_agree_with_transformers_on_the_same_weights(pair) -> None:
    lcpp, hf, _ = pair
    reqs = [_Req(c, x) for c, x in PAIRS]
    ours, theirs = lcpp.loglikelihood(reqs), hf.loglikelihood(reqs)
    diffs = [abs(a[0] - b[0]) for a, b in zip(ours, theirs, strict=True)]
    print(f"llama.cpp F32 vs transformers fp32: max |dlogL| {max(diffs):.4f}, mean {sum(diffs) / len(diffs):.4f}")
    assert max(diffs) < LOGLIK_TOL
    assert [a[1] for a in ours] == [b[1] for b in theirs]  # is_greedy
    assert ours[0][0] > ours[1][0] > -20  # " Paris" wins: real scores, not a constant
    assert lcpp.tokens_read < lcpp.tokens_in  # a shared context is evaluated once (KV cache of the prefix)
    assert lcpp.device_s > 0 and lcpp.model_calls == len(PAIRS)


def test_rolling_log_likelihood_and_greedy_generation_agree(pair) -> None:
    lcpp, hf, _ = pair
    ours, theirs = lcpp.loglikelihood_rolling([_Req(TEXT)]), hf.loglikelihood_rolling([_Req(TEXT)])
    assert abs(ours[0] - theirs[0]) < LOGLIK_TOL * 4 and ours[0] < -10
    gen = [_Req("Count: 1, 2, 3, 4,", {"until": ["\n", "9"], "max_gen_toks": 12, "do_sample": False})]
    ours_text, theirs_text = lcpp.generate_until(gen), hf.generate_until(gen)
    assert ours_text == theirs_text and ours_text[0].startswith(" 5")
    assert lcpp.tokens_out > 0


def test_a_sweep_records_llama_cpp_levels_with_their_files(tmp_path: Path, smollm2_dir: Path) -> None:
    from explorer.config.spec import SweepSpec
    from explorer.launcher.sweep import run_sweep
    from explorer.models.gguf_files import gguf_facts, gguf_variant, source_gguf
    from explorer.records.files import read_records

    spec = SweepSpec(models=["smollm2-135m"], quantizations=["gguf-q8_0", "gguf"], tasks=["explorer_arith"], limit=6,
                     batch_size=2, device="cpu")  # fmt: skip
    assert run_sweep(spec, tmp_path, progress=False) == {"ok": 2, "failed": 0, "skipped": 0, "stopped": 0}
    records = {r["quant"]: r for r in read_records(tmp_path)}
    q8, native = records["gguf-q8_0"], records["gguf"]
    src = source_gguf({"kind": "demo", "ref": "smollm2-135m"})
    settings = dict(native["quant_settings"])
    assert settings.pop("n_threads") >= 1
    assert settings == {"gguf_type": "Q4_1", "made_from": None, "requantized": False, "file": src.name,
                        "source_file": src.name, "n_ctx": 2048}  # fmt: skip
    assert q8["quant_settings"]["gguf_type"] == "Q8_0" and q8["quant_settings"]["made_from"] == "Q4_1"
    assert q8["quant_settings"]["requantized"] is True
    assert q8["weight_bytes"] == gguf_facts(gguf_variant(src, "Q8_0"))["weight_bytes"] > native["weight_bytes"]
    for r in records.values():
        assert r["quant_backend"] == "llama.cpp" and r["versions"]["llama_cpp_python"] == llama_cpp.__version__
        assert r["n_docs"] == 6 and r["device_s_per_query"] > 0 and r["tokens_in_per_query"] > 0
        lines = (tmp_path / "samples" / f"{r['cell_id']}.jsonl").read_text().splitlines()
        assert len(lines) == 6 and all(len(set(json.loads(ln)["logliks"])) > 1 for ln in lines)
    assert q8["key"]["quant"]["settings"] == {"gguf_type": "Q8_0"} and q8["cell_id"] != native["cell_id"]


def test_a_model_without_a_gguf_file_is_refused_at_planning(tmp_path: Path) -> None:
    from explorer.config.spec import SpecError, SweepSpec
    from explorer.launcher.sweep import run_sweep

    spec = SweepSpec(models=["tiny-random-llama"], quantizations=["gguf-q4_0"], tasks=["explorer_arith"], limit=2)
    with pytest.raises(SpecError, match=r"'tiny-random-llama' \(tiny\) has no GGUF file for the llama.cpp level"):
        run_sweep(spec, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_a_serving_profile_measures_parallel_sequences(tmp_path: Path, smollm2_dir: Path) -> None:
    import polars as pl

    from explorer.launcher.profiles import ProfileSpec, run_profiles
    from explorer.records.store import load_profiles

    spec = ProfileSpec(models=["smollm2-135m"], quantizations=["gguf"], batch_sizes=[1, 4], prompt_tokens=32,
                       new_tokens=8, warmup=1, repeats=3, device="cpu")  # fmt: skip
    (record,) = run_profiles(spec, tmp_path, log=lambda *_: None)
    assert record["status"] == "ok" and record["quant_backend"] == "llama.cpp"
    rows = load_profiles(tmp_path).filter(pl.col("status") == "ok").sort("batch_size")
    assert rows["batch_size"].to_list() == [1, 4]
    for row in rows.iter_rows(named=True):
        b = row["batch_size"]
        assert row["prefill_s"] > 0 and row["generate_s"] > 0 and row["peak_mem_bytes"] > 0
        if row["generate_s"] > row["prefill_s"]:  # else (medians crossed on a busy machine) no decode figure
            assert row["decode_s_per_token"] == pytest.approx((row["generate_s"] - row["prefill_s"]) / 7)
        else:
            assert row["decode_s_per_token"] is None
        assert row["tokens_per_s"] == pytest.approx(b * 8 / row["generate_s"])
        assert row["device_s_per_query"] == pytest.approx(row["generate_s"] / b)


def test_parallel_sequences_do_not_see_each_other(pair) -> None:
    """Each of 4 sequences decoded together continues as it does alone (greedy; the first tokens, before
    batched-kernel rounding can tip a near-tie): one KV cache, kept apart by sequence id."""
    from explorer.runner.llamacpp_profile import ParallelDecoder

    lcpp, _, _ = pair
    texts = ["The capital of France is the city of", "Water freezes at zero degrees and boils at",
             "Question: What is 2 + 3? Answer: The sum is", "A cat is an animal that likes to sleep and"]  # fmt: skip
    n = min(len(lcpp.tok_encode(t)) for t in texts)
    prompts = [lcpp.tok_encode(t)[:n] for t in texts]
    alone = [ParallelDecoder(lcpp.llm, 1, n, 3).generate([p], 3)[0] for p in prompts]
    together = ParallelDecoder(lcpp.llm, 4, n, 3).generate(prompts, 3)
    assert together == alone and len({tuple(t) for t in together}) == 4
