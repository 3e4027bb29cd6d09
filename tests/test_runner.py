"""TimedHFLM's counters against lm-eval's own requests: every request counted once, nothing else."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def tiny_lm():
    from explorer.models.sources import load_model, parse_model
    from explorer.runner.timed_lm import TimedHFLM

    model, tok = load_model(parse_model("tiny-random-llama"), torch.float32, "cpu", log=lambda *_: None)
    return TimedHFLM(pretrained=model, tokenizer=tok, batch_size=4, device="cpu")


def test_loglikelihood_tokens_and_time_match_the_requests(tiny_lm) -> None:
    import lm_eval

    from explorer.paths import sub_cache
    from explorer.tasks.offline import prepare_tasks, task_manager

    prepared = prepare_tasks(["explorer_arith"], None, sub_cache("tasks"))
    tiny_lm.reset_counters()
    res = lm_eval.simple_evaluate(
        model=tiny_lm,
        tasks=["explorer_arith"],
        limit=6,
        log_samples=True,
        task_manager=task_manager(prepared.include_path),
        verbosity="ERROR",
    )
    samples = res["samples"]["explorer_arith"]
    expected = 0
    for s in samples:
        for context, continuation in s["arguments"]:
            ctx, cont = tiny_lm._encode_pair(context, continuation)
            expected += min(len(ctx) + len(cont), tiny_lm.max_length + 1) - 1
    assert tiny_lm.tokens_in == expected  # 6 docs x 4 choices, each request once
    # at most 24 requests / batch 4 forwards; fewer when lm-eval shares one forward between one-token choices
    assert tiny_lm.tokens_out == 0 and 1 <= tiny_lm.model_calls <= 24 // 4
    # the forwards held fewer tokens than the requests (one-token choices share their context's forward),
    # and padding only adds to what the batches carried
    assert 0 < tiny_lm.tokens_read < expected and tiny_lm.tokens_read <= tiny_lm.padded_tokens
    assert tiny_lm.device_s > 0
