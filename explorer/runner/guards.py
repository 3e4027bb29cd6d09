"""Guards against a backend that scores without really scoring (pure functions over records and samples).

The silent failure this catches: a backend whose log-likelihoods carry no information (lm-eval's `gguf` model
type against a llama-server that ignores `echo`, llama.cpp #27174) still yields an accuracy, exactly chance, and
nothing fails. A llama.cpp multiple-choice cell is failed (its record kept, status failed, the reason in
`error`) when
- every document gave all its choices the same log-likelihood (no signal at all), or
- its accuracy is indistinguishable from chance (acc - chance < Z x stderr) while a transformers-backend cell of
  the same model, task, limit and few-shot count in the same results folder is not (acc - chance >= Z x stderr).
"""

from __future__ import annotations

from typing import Any

Z = 2.0  # one-sided, about 98%: "distinguishable from chance" means at least Z standard errors above it


def _acc(record: dict[str, Any]) -> tuple[float, float] | None:
    for m in record.get("metrics") or []:
        if m["metric"] == "acc" and m.get("stderr") is not None:
            return float(m["value"]), float(m["stderr"])
    return None


def above_chance(record: dict[str, Any]) -> bool | None:
    """True when the cell's accuracy is at least Z standard errors above its chance level; None without one."""
    acc = _acc(record)
    if acc is None or record.get("chance") is None:
        return None
    return acc[0] - float(record["chance"]) >= Z * max(acc[1], 1e-12)


def no_signal(rows: list[dict[str, Any]]) -> bool:
    """Every multiple-choice document gave all its choices the same log-likelihood."""
    docs = [r["logliks"] for r in rows if r.get("logliks") and len(r["logliks"]) > 1]
    return bool(docs) and all(max(v) - min(v) < 1e-9 for v in docs if None not in v)


def _same_cell(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keys = ("model", "task", "limit", "num_fewshot")
    return all(a.get(k) == b.get(k) for k in keys)


def chance_reason(record: dict[str, Any], rows: list[dict[str, Any]], others: list[dict[str, Any]]) -> str | None:
    """Why a llama.cpp cell's scores cannot be trusted (module text), or None. `others`: the folder's records."""
    if record.get("output_type") != "multiple_choice" or record.get("status") != "ok":
        return None
    if no_signal(rows):
        return "no signal: every choice of every document got the same log-likelihood (the backend did not score)"
    if above_chance(record) is not False:
        return None
    for other in others:
        ok = other.get("status") == "ok" and other.get("quant_backend") not in (None, "llama.cpp")
        if ok and _same_cell(record, other) and above_chance(other):
            acc, ref = _acc(record), _acc(other)
            return (
                f"accuracy {acc[0]:.3f} is indistinguishable from chance {record['chance']:.3f} (stderr "
                f"{acc[1]:.3f}) while the {other['quant_backend']} backend ({other['quant']}) scores {ref[0]:.3f} "
                "on the same task: the llama.cpp scores look broken"
            )
    return None
