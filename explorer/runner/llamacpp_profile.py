"""Serving profile of a llama.cpp level (explorer/runner/profile.py's definitions) at 1..B parallel sequences.

Batch size B = B sequences decoded together in one llama.cpp context (`n_seq_max = B`, one unified KV cache),
as llama-server's `--parallel B` serves B requests: the prefill is one `llama_decode` of the B prompts (each its
own sequence id), every decode step one `llama_decode` of B tokens, one per sequence; tokens are picked greedily
from each sequence's last logits. prefill = that first call + the first pick; full = `new_tokens` picks; decode
per token = (full - prefill) / (new_tokens - 1). The context is made once per batch size on the loaded model and
cleared between repeats, so each repeat pays its prefill.
"""

from __future__ import annotations

import ctypes
import statistics
from collections.abc import Sequence
from typing import Any

from explorer.runner.jobs import ProfileJob


class ParallelDecoder:
    """B sequences greedily continued together on `llm`'s model (llama-cpp-python's low-level API)."""

    def __init__(self, llm: Any, n_seq: int, prompt_tokens: int, new_tokens: int) -> None:
        from llama_cpp import _internals
        from llama_cpp import llama_cpp as C

        params = type(llm.context_params).from_buffer_copy(llm.context_params)
        per_seq = prompt_tokens + new_tokens
        params.n_seq_max, params.kv_unified = n_seq, True
        params.n_ctx = max(256, -(-n_seq * per_seq // 256) * 256)
        params.n_batch = max(n_seq * prompt_tokens, n_seq)
        params.n_ubatch = min(params.n_batch, 512)
        self.C, self.n_seq, self.n_vocab = C, n_seq, int(llm.n_vocab())
        self.ctx = _internals.LlamaContext(model=llm._model, params=params, verbose=False)
        self.batch = _internals.LlamaBatch(n_tokens=params.n_batch, embd=0, n_seq_max=n_seq, verbose=False)

    def _fill(self, tokens: Sequence[Sequence[int]], start: int) -> list[int]:
        """Put each sequence's `tokens[i]` at positions start.. into the batch; the indices of their last tokens."""
        b, k, last = self.batch.batch, 0, []
        for seq, toks in enumerate(tokens):
            for j, tok in enumerate(toks):
                b.token[k], b.pos[k], b.n_seq_id[k], b.logits[k] = tok, start + j, 1, j == len(toks) - 1
                b.seq_id[k][0] = seq
                k += 1
            last.append(k - 1)
        b.n_tokens = k
        return last

    def _picks(self, rows: list[int]) -> list[int]:
        import numpy as np

        floats = ctypes.POINTER(ctypes.c_float)
        logits = [ctypes.cast(self.C.llama_get_logits_ith(self.ctx.ctx, i), floats) for i in rows]
        return [int(np.ctypeslib.as_array(p, (self.n_vocab,)).argmax()) for p in logits]

    def generate(self, prompts: Sequence[Sequence[int]], new_tokens: int) -> list[list[int]]:
        """Greedy continuations (`new_tokens` each) of `prompts` (one per sequence, all the same length)."""
        self.ctx.kv_cache_clear()
        rows = self._fill(prompts, 0)
        self.ctx.decode(self.batch)
        picks = self._picks(rows)
        out = [[t] for t in picks]
        for step in range(1, new_tokens):
            rows = self._fill([[t] for t in picks], len(prompts[0]) + step - 1)
            self.ctx.decode(self.batch)
            picks = self._picks(rows)
            for seq, tok in enumerate(picks):
                out[seq].append(tok)
        return out

    def close(self) -> None:
        self.batch.close()
        self.ctx.close()


def llamacpp_point(llm: Any, batch_size: int, job: ProfileJob, weight_bytes: int) -> dict[str, Any]:
    """One row of the ladder: `batch_size` parallel sequences (see the module text)."""
    import random

    from explorer.runner.trackers import EnergyTracker, LatencyTracker, Trackers, cv

    rng = random.Random(job.seed)
    vocab, n, b = int(llm.n_vocab()), job.new_tokens, batch_size
    prompts = [[rng.randrange(10, vocab) for _ in range(job.prompt_tokens)] for _ in range(b)]
    latency = LatencyTracker("cpu")
    with Trackers("cpu", EnergyTracker("cpu"), weight_bytes) as win:
        dec = ParallelDecoder(llm, b, job.prompt_tokens, n)
        try:
            latency.repeat(lambda: dec.generate(prompts, n), job.warmup, 0)
            prefill = latency.repeat(lambda: dec.generate(prompts, 1), 0, job.repeats)
            full = latency.repeat(lambda: dec.generate(prompts, n), 0, job.repeats)
        finally:
            dec.close()
    prefill_s, full_s = statistics.median(prefill), statistics.median(full)
    decode_s = full_s - prefill_s if full_s > prefill_s else None
    return {
        "batch_size": b, "prompt_tokens": job.prompt_tokens, "new_tokens": n, "status": "ok", "error": None,
        "prefill_s": prefill_s, "prefill_cv": cv(prefill), "generate_s": full_s, "generate_cv": cv(full),
        "decode_s": decode_s, "decode_s_per_token": decode_s / max(n - 1, 1) if decode_s else None,
        "prefill_tokens_per_s": b * job.prompt_tokens / prefill_s,
        "decode_tokens_per_s": b * (n - 1) / decode_s if decode_s else None, "tokens_per_s": b * n / full_s,
        "device_s_per_query": full_s / b, "peak_mem_bytes": win.peak_mem_bytes, "peak_mem_kind": win.peak_mem_kind,
        "energy_j": None, "energy_j_per_query": None, "repeats": job.repeats, "warmup": job.warmup,
    }  # fmt: skip
