"""Serving profile of one (model, quantization, device): prefill and per-token decode time vs batch size.

Definitions follow optimum-benchmark: prefill = `generate` with 1 new token; decode = generate with N new
tokens minus prefill; per-token decode time = decode / (N - 1). Each point: warm-ups, then repeats;
median and coefficient of variation. The ladder stops at the first out-of-memory (recorded as such) or
when one point takes longer than the time budget. Run through `python -m explorer.runner JOB.json` (a
`ProfileJob`; one fresh process per model and level, like the sweep).
"""

from __future__ import annotations

import statistics
import time
import traceback
from pathlib import Path
from typing import Any

from explorer.runner.jobs import ProfileJob
from explorer.runner.worker import _versions, one_line, weights_kind


def _generate(model: Any, ids: Any, mask: Any, new_tokens: int, pad_id: int) -> None:
    import torch

    with torch.no_grad():
        model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=False,
            pad_token_id=pad_id,
            use_cache=True,
        )


def profile_point(
    model: Any, vocab_size: int, pad_id: int, batch_size: int, job: ProfileJob, energy: Any, weight_bytes: int
) -> dict[str, Any]:
    """One batch size: prefill and decode timings, peak memory (over the warm-ups and every repeat), energy of the
    full-length generations (CUDA). `job` gives device, prompt_tokens, new_tokens, warmup, repeats and seed."""
    import torch

    from explorer.runner.trackers import LatencyTracker, Trackers, cv

    device, prompt_tokens, new_tokens, repeats = job.device, job.prompt_tokens, job.new_tokens, job.repeats
    gen = torch.Generator().manual_seed(job.seed)
    ids = torch.randint(10, vocab_size, (batch_size, prompt_tokens), generator=gen).to(device)
    mask = torch.ones_like(ids)
    latency = LatencyTracker(device)
    with Trackers(device, energy, weight_bytes) as win:
        latency.repeat(lambda: _generate(model, ids, mask, new_tokens, pad_id), job.warmup, 0)  # warm-ups
        prefill = latency.repeat(lambda: _generate(model, ids, mask, 1, pad_id), 0, repeats)
        with Trackers(device, energy, weight_bytes) as full_win:  # nested: the outer peak keeps the inner one
            full = latency.repeat(lambda: _generate(model, ids, mask, new_tokens, pad_id), 0, repeats)
    prefill_s, full_s = statistics.median(prefill), statistics.median(full)
    decode_s = full_s - prefill_s if full_s > prefill_s else None  # medians crossed: too noisy to tell
    energy_j = full_win.energy_j / repeats if full_win.energy_j is not None else None
    return {
        "batch_size": batch_size,
        "prompt_tokens": prompt_tokens,
        "new_tokens": new_tokens,
        "status": "ok",
        "error": None,
        "prefill_s": prefill_s,
        "prefill_cv": cv(prefill),
        "generate_s": full_s,
        "generate_cv": cv(full),
        "decode_s": decode_s,
        "decode_s_per_token": decode_s / max(new_tokens - 1, 1) if decode_s else None,
        "prefill_tokens_per_s": batch_size * prompt_tokens / prefill_s,
        "decode_tokens_per_s": batch_size * (new_tokens - 1) / decode_s if decode_s else None,
        "tokens_per_s": batch_size * new_tokens / full_s,
        "device_s_per_query": full_s / batch_size,
        "peak_mem_bytes": win.peak_mem_bytes,
        "peak_mem_kind": win.peak_mem_kind,
        "energy_j": energy_j,  # per full generate call (batch_size sequences of new_tokens)
        "energy_j_per_query": energy_j / batch_size if energy_j is not None else None,
        "repeats": repeats,
        "warmup": job.warmup,
    }


def _hf_point(model: Any, tokenizer: Any, job: ProfileJob, record: dict[str, Any]) -> Any:
    """batch size -> row for a transformers model."""
    from explorer.runner.trackers import EnergyTracker

    energy = EnergyTracker(job.device)
    vocab = int(model.config.get_text_config().vocab_size)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return lambda b: profile_point(model, vocab, pad_id, b, job, energy, record.get("weight_bytes") or 0)


def _ladder(point: Any, job: ProfileJob, record: dict[str, Any]) -> None:
    """Walk the batch sizes into record["rows"] (a partial record is written after each point); stop at the first
    out-of-memory (recorded as a failed row) or after a point slower than `max_point_s`."""
    import torch

    from explorer.records.files import write_profile

    for b in job.batch_sizes:
        t0 = time.perf_counter()
        try:
            row = point(b)
        except (torch.OutOfMemoryError, MemoryError, RuntimeError) as exc:
            if not isinstance(exc, (torch.OutOfMemoryError, MemoryError)) and "alloc" not in str(exc).lower():
                raise
            record["rows"].append({"batch_size": b, "status": "failed", "error": one_line(exc)})
            return  # larger batches need more memory still
        record["rows"].append(row)
        if row["status"] != "ok":
            continue  # a size this backend could not run, recorded with its reason
        write_profile(Path(job.out_dir), {**record, "status": "partial"})
        print(
            f"[{job.job_name}] batch {b}: prefill {row['prefill_s']:.3f} s, "
            f"decode {(row['decode_s_per_token'] or float('nan')) * 1e3:.1f} ms/token "
            f"(generate cv {row['generate_cv']:.2f})",
            flush=True,
        )
        if time.perf_counter() - t0 > job.max_point_s:
            return  # the next batch size would take longer still


def run_profile_job(job: ProfileJob) -> dict[str, Any]:
    """Load + quantize once, walk the batch-size ladder; write profiles/<profile_id>.json atomically."""
    from explorer.quant.registry import GGUF_LEVELS
    from explorer.records.files import write_profile
    from explorer.runner.measure import device_name, rss_bytes

    record: dict[str, Any] = {
        "profile_id": job.profile_id,
        "key": job.key,
        "model": job.model_name,
        "model_ref": job.model["ref"],
        "quant": job.quant,
        "device_kind": job.device.split(":")[0],
        "device_name": device_name(job.device),
        "provenance": "measured",
        "weights": weights_kind(job.model),
        "versions": _versions(),
        "rows": [],
    }
    try:
        from explorer.runner.loading import load_quantized, preimport

        preimport(job.quant, job.device)
        if job.quant in GGUF_LEVELS:  # llama.cpp (explorer/runner/llamacpp_profile.py)
            from explorer.runner.llamacpp_profile import llamacpp_point
            from explorer.runner.loading import load_gguf

            llm, info = load_gguf(job.model, job.quant, rss_bytes(), logits_all=False)
            record.update(info, status="ok")
            point = lambda b: llamacpp_point(llm, b, job, info["weight_bytes"])  # noqa: E731
        else:
            model, tokenizer, info = load_quantized(job.model, job.quant, job.device, rss_bytes())
            record.update(info, status="ok")
            point = _hf_point(model, tokenizer, job, record)
        _ladder(point, job, record)
    except Exception as exc:
        traceback.print_exc()
        record.update(status="failed", error=one_line(exc))
    if job.device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()
    write_profile(Path(job.out_dir), record)
    return record
