"""lm-eval's HFLM with synchronised timers and token counters around every model call.

Scoring stays entirely lm-eval's: this subclass only wraps `_model_call` (log-likelihood forwards),
`_model_generate` (generation) and `_loglikelihood_tokens` (to count the real, unpadded tokens).

What `device_s` brackets (one `LatencyTracker`, explorer/runner/trackers.py): every forward of a
log-likelihood batch and the log-softmax lm-eval computes over its logits on the device (the
`F.log_softmax(self._model_call(...))` of `HFLM._loglikelihood_tokens`), and every `generate` call
(prefill + decode steps + its sampling). Not bracketed: tokenization, batching and the per-request slicing,
argmax and gather lm-eval does after the log-softmax (a few small ops per request, interleaved with its
Python bookkeeping and a host copy each; counted in `wall_s`), and the metric computation.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import lm_eval.models.huggingface as hf_module
import torch
from lm_eval.models.huggingface import HFLM

from explorer.runner.trackers import LatencyTracker


class TimedHFLM(HFLM):
    """HFLM over an already-loaded (and quantized) model that accounts device time and tokens."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.latency = LatencyTracker(str(self.device))
        self.reset_counters()

    @property
    def device_s(self) -> float:
        return self.latency.total_s

    def reset_counters(self) -> None:
        self.latency.reset()
        self.model_calls = 0
        self.tokens_in = 0
        self.tokens_out = 0
        self.padded_tokens = 0
        self.tokens_read = 0
        self.forward_passes = 0  # log-likelihood batches + (prefill + decode steps) of every generate call

    def _model_call(self, inps: torch.Tensor, attn_mask: Any = None, labels: Any = None) -> torch.Tensor:
        with self.latency.track():
            out = super()._model_call(inps, attn_mask=attn_mask, labels=labels)
        self.model_calls += 1
        self.forward_passes += 1
        self.padded_tokens += int(inps.numel())
        self.tokens_read += _unpadded(inps)
        return out

    def _loglikelihood_tokens(self, requests: list, disable_tqdm: bool = False, override_bs: Any = None) -> list:
        # requests: ((context, continuation), context_enc, continuation_enc); the model sees at most
        # max_length + 1 of these tokens, the last one being predicted only.
        for _, ctx_enc, cont_enc in requests:
            self.tokens_in += min(len(ctx_enc) + len(cont_enc), self.max_length + 1) - 1
        functional = hf_module.F
        hf_module.F = _TimedFunctional(functional, self.latency)  # lm-eval's log-softmax, timed (docstring)
        try:
            return super()._loglikelihood_tokens(requests, disable_tqdm=disable_tqdm, override_bs=override_bs)
        finally:
            hf_module.F = functional

    def _model_generate(self, context: torch.Tensor, max_length: int, stop: list[str], **kw: Any) -> torch.Tensor:
        with self.latency.track():
            out = super()._model_generate(context, max_length, stop, **kw)
        self.model_calls += 1
        pad = self.tokenizer.pad_token_id
        mask = kw.get("attention_mask")
        prompt = int(mask.sum()) if mask is not None else int(context.numel())
        self.tokens_in += prompt
        self.tokens_read += prompt
        # generated tokens up to (not past) padding; lm-eval stops a batch when all sequences hit a stop string,
        # so earlier-finished sequences run on: this counts what the device computed, not the answer's length
        new = out[:, context.shape[1] :]
        self.tokens_out += int((new != pad).sum()) if pad is not None else int(new.numel())
        # the batch ran as many steps as its longest sequence: one prefill makes token 1, then a step each
        self.forward_passes += max(int(new.shape[1]), 1)
        self.padded_tokens += int(out.numel())
        return out


def _unpadded(inps: torch.Tensor) -> int:
    """Tokens a log-likelihood batch really holds: lm-eval right-pads its rows with id 0, so a row's length is
    its last non-zero position + 1. Less than the requests' tokens when lm-eval shares one forward between
    choices of one context (one-token continuations): this is the work the model did."""
    nonzero = inps != 0
    positions = torch.arange(1, inps.shape[1] + 1, device=inps.device).expand_as(inps)
    return int((positions * nonzero).amax(dim=1).sum())


class _TimedFunctional(SimpleNamespace):
    """`torch.nn.functional` as lm-eval's HFLM module sees it while it scores: `log_softmax` timed by the tracker
    (the real function is looked up at each call), everything else untouched."""

    def __init__(self, functional: Any, latency: LatencyTracker) -> None:
        super().__init__(_functional=functional, _latency=latency)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._functional, name)

    def log_softmax(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        with self._latency.track():
            return torch.nn.functional.log_softmax(*args, **kwargs)
