"""The chance guard of the llama.cpp backend (explorer/runner/guards.py), on hand-made records: pure."""

from __future__ import annotations

from explorer.runner.guards import chance_reason, no_signal


def _record(quant: str, backend: str, acc: float, stderr: float, chance: float = 0.25) -> dict:
    return {"model": "m", "task": "arc_easy", "limit": 100, "num_fewshot": 0, "quant": quant, "status": "ok",
            "quant_backend": backend, "chance": chance, "output_type": "multiple_choice",
            "metrics": [{"metric": "acc", "value": acc, "stderr": stderr}]}  # fmt: skip


ROWS = [{"logliks": [-1.0, -2.5, -3.0, -0.5]}, {"logliks": [-4.0, -1.0, -2.0, -2.0]}]


def test_the_guard_fails_chance_level_scores_only_where_transformers_is_above_chance() -> None:
    broken, hf = _record("gguf", "llama.cpp", 0.26, 0.044), _record("bf16", "torch", 0.55, 0.05)
    reason = chance_reason(broken, ROWS, [hf, broken])
    assert reason is not None and "0.260 is indistinguishable from chance 0.250" in reason and "0.550" in reason
    assert chance_reason(broken, ROWS, [_record("bf16", "torch", 0.30, 0.046)]) is None  # both near chance
    assert chance_reason(broken, ROWS, []) is None  # nothing to compare with
    assert chance_reason(_record("gguf", "llama.cpp", 0.50, 0.05), ROWS, [hf]) is None  # a real score
    other_task = {**hf, "task": "piqa"}
    assert chance_reason(broken, ROWS, [other_task]) is None


def test_the_guard_fails_scores_that_carry_no_signal() -> None:
    flat = [{"logliks": [-2.0, -2.0, -2.0, -2.0]}, {"logliks": [-7.5, -7.5]}]
    assert no_signal(flat) and not no_signal(ROWS)
    reason = chance_reason(_record("gguf", "llama.cpp", 0.25, 0.04), flat, [])
    assert reason is not None and reason.startswith("no signal")
    assert chance_reason({**_record("gguf", "llama.cpp", 0.25, 0.04), "output_type": "other"}, flat, []) is None
