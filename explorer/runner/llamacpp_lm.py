"""lm-eval's `TemplateLM` over llama-cpp-python, in process: the llama.cpp backend.

Scoring stays lm-eval's: `TemplateLM` splits each (context, continuation) exactly as `HFLM` does (trailing
spaces of the context go to the continuation; an empty context gets the prefix token), and lm-eval computes every
metric from the `(log-likelihood, is_greedy)` pairs and generations this class returns.

Log-likelihoods come from the logits, not from llama.cpp's completion logprobs: `echo=True, logprobs=N` returned
wrong prompt logprobs here (../shared/FACTS-ml.md; llama-cpp-python #1983), and lm-eval's `gguf` model type,
which relies on the server's echo, has silently scored chance (llama.cpp #27174). For each request the tokens
(context + continuation, the last `n_ctx + 1` of them, as HFLM truncates) are evaluated with
`Llama(logits_all=True)`, and the continuation's log-probability is the float32 log-softmax of the logits one
position before each of its tokens. Requests are scored in token order so that a shared context (the choices of
one question) is evaluated once: llama.cpp keeps the KV cache of the common prefix.

What `device_s` brackets (a `LatencyTracker`, as for HFLM): every `eval` (prefill of the new tokens, the output
head over them) and the log-softmax over the logits it returned; for generation the whole `create_completion`
(prefill + decode + greedy sampling). llama.cpp runs on the CPU threads given (`n_threads`, recorded in the
device name), synchronously, so the bracket holds all of its work.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from lm_eval import utils
from lm_eval.api.model import TemplateLM

from explorer.runner.trackers import LatencyTracker


class LlamaCppLM(TemplateLM):
    """lm-eval LM over a loaded `llama_cpp.Llama` (created with logits_all=True)."""

    def __init__(self, llm: Any, max_gen_toks: int = 256) -> None:
        super().__init__()
        self.llm, self.max_gen_toks = llm, max_gen_toks
        self.latency = LatencyTracker("cpu")
        self.reset_counters()

    # ---- what lm-eval and the worker read
    @property
    def device_s(self) -> float:
        return self.latency.total_s

    @property
    def max_length(self) -> int:
        return int(self.llm.n_ctx())

    @property
    def eot_token_id(self) -> int:
        return int(self.llm.token_eos())

    @property
    def prefix_token_id(self) -> int:
        bos = int(self.llm.token_bos())
        return bos if bos >= 0 else self.eot_token_id

    def reset_counters(self) -> None:
        self.latency.reset()
        self.model_calls = self.tokens_in = self.tokens_out = self.padded_tokens = 0
        self.tokens_read = self.forward_passes = 0

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, **kwargs: Any) -> list[int]:
        """As HFLM with its defaults: the special tokens the model's tokenizer adds (llama.cpp: BOS where the
        GGUF's `tokenizer.ggml.add_bos_token` says so, as the HF tokenizer converted from it does), none when
        the string already starts with the prefix token."""
        add = add_special_tokens is not False
        if add_special_tokens is None and string.startswith(self.tok_decode([self.prefix_token_id]) or "\0"):
            add = False
        return list(self.llm.tokenize(string.encode("utf-8"), add_bos=add, special=False))

    def tok_decode(self, tokens: list[int]) -> str:
        return self.llm.detokenize(tokens).decode("utf-8", errors="replace")

    # ---- log-likelihoods
    def _loglikelihood_tokens(self, requests: list, disable_tqdm: bool = False, **kwargs: Any) -> list:
        order = sorted(range(len(requests)), key=lambda i: requests[i][1] + requests[i][2])
        out: list[tuple[float, bool] | None] = [None] * len(requests)
        for i in order:
            cache_key, ctx, cont = requests[i]
            answer = self._score(ctx, cont)
            out[i] = answer
            if cache_key is not None:
                self.cache_hook.add_partial("loglikelihood", cache_key, answer)
        return out  # type: ignore[return-value]

    def _score(self, ctx: list[int], cont: list[int]) -> tuple[float, bool]:
        whole = (ctx + cont)[-(self.max_length + 1) :]
        inp, n_cont = whole[:-1], len(cont)
        self.tokens_in += len(inp)
        with self.latency.track():
            self._eval(inp)
            logits = np.asarray(self.llm.scores[len(inp) - n_cont : len(inp)], dtype=np.float32)
            top = logits.max(axis=1, keepdims=True)
            logprobs = logits - top - np.log(np.exp(logits - top).sum(axis=1, keepdims=True))
        target = np.asarray(whole[-n_cont:])
        total = float(logprobs[np.arange(n_cont), target].sum())
        return total, bool((logprobs.argmax(axis=1) == target).all())

    def _eval(self, tokens: list[int]) -> None:
        """Evaluate `tokens`, reusing the KV cache of the prefix they share with what was evaluated last."""
        llm, keep = self.llm, 0
        limit = min(llm.n_tokens, len(tokens) - 1)  # at least one token is evaluated: its logits are needed
        held = llm.input_ids[:limit]
        while keep < limit and held[keep] == tokens[keep]:
            keep += 1
        llm.n_tokens = keep
        new = tokens[keep:]
        llm.eval(new)
        self.model_calls += 1
        self.forward_passes += -(-len(new) // llm.n_batch)
        self.tokens_read += len(new)
        self.padded_tokens += len(new)

    def loglikelihood_rolling(self, requests: list, disable_tqdm: bool = False) -> list[float]:
        out = []
        for (string,) in [req.args for req in requests]:
            windows = map(
                utils.make_disjoint_window,
                utils.get_rolling_token_windows(
                    token_list=self.tok_encode(string),
                    prefix_token=self.prefix_token_id,
                    max_seq_len=self.max_length,
                    context_len=1,
                ),
            )
            total = sum(ll for ll, _ in self._loglikelihood_tokens([(None, *w) for w in windows]))
            self.cache_hook.add_partial("loglikelihood_rolling", (string,), total)
            out.append(total)
        return out

    # ---- generation (greedy, as lm-eval's HFLM with do_sample=False)
    def generate_until(self, requests: list, disable_tqdm: bool = False) -> list[str]:
        out = []
        for context, gen_kwargs in [req.args for req in requests]:
            kwargs = dict(gen_kwargs)
            until = kwargs.get("until") or [self.tok_decode([self.eot_token_id])]
            until = [until] if isinstance(until, str) else list(until)
            max_new = int(kwargs.get("max_gen_toks", self.max_gen_toks))
            prompt = self.tok_encode(context)[-(self.max_length - max_new) :]
            with self.latency.track():
                res = self.llm.create_completion(prompt, max_tokens=max_new, temperature=0.0, top_k=1, stop=until)
            text = res["choices"][0]["text"]
            for term in until:
                text = text.split(term)[0] if term else text
            self.model_calls += 1
            self.tokens_in += len(prompt)
            self.tokens_read += len(prompt)
            self.tokens_out += int(res["usage"]["completion_tokens"])
            self.forward_passes += 1 + int(res["usage"]["completion_tokens"])
            self.padded_tokens += len(prompt) + int(res["usage"]["completion_tokens"])
            self.cache_hook.add_partial("generate_until", (context, gen_kwargs), text)
            out.append(text)
        return out
