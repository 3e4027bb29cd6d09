"""Serving profile of one (model, quantization, device): prefill and per-token decode time vs batch size.

Definitions follow optimum-benchmark: prefill = `generate` with 1 new token; decode = generate with N new
tokens minus prefill; per-token decode time = decode / (N - 1). Each point: warm-ups, then repeats;
median and coefficient of variation. The ladder stops at the first out-of-memory (recorded as such) or
when one point takes longer than the time budget. Run as `python -m explorer.runner.profile JOB.json`
(one fresh process per model and level, like the sweep).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from explorer.runner.worker import _versions, die_with_parent, one_line, weights_kind


def _timed_generate(model: Any, ids: Any, mask: Any, new_tokens: int, device: str, pad_id: int) -> float:
    import torch

    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
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
    if cuda:
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0


def profile_point(
    model: Any,
    vocab_size: int,
    pad_id: int,
    device: str,
    batch_size: int,
    prompt_tokens: int,
    new_tokens: int,
    warmup: int,
    repeats: int,
    baseline_rss: int,
    meter: Any,
    seed: int = 0,
) -> dict[str, Any]:
    """One batch size: prefill and decode timings, peak memory, energy (CUDA)."""
    import torch

    from explorer.runner.ceilings import cv
    from explorer.runner.measure import Window

    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(10, vocab_size, (batch_size, prompt_tokens), generator=gen).to(device)
    mask = torch.ones_like(ids)
    with Window(device, baseline_rss, meter) as win:  # peak memory over everything
        for _ in range(warmup):
            _timed_generate(model, ids, mask, new_tokens, device, pad_id)
        prefill = [_timed_generate(model, ids, mask, 1, device, pad_id) for _ in range(repeats)]
        with Window(device, baseline_rss, meter) as full_win:  # energy of the full-length generations only
            full = [_timed_generate(model, ids, mask, new_tokens, device, pad_id) for _ in range(repeats)]
    prefill_s, full_s = statistics.median(prefill), statistics.median(full)
    decode_s = full_s - prefill_s if full_s > prefill_s else None  # medians crossed: too noisy to tell
    energy = full_win.energy_j / repeats if full_win.energy_j is not None else None
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
        "energy_j": energy,  # per full generate call (batch_size sequences of new_tokens)
        "energy_j_per_query": energy / batch_size if energy is not None else None,
        "repeats": repeats,
        "warmup": warmup,
    }


def run_profile_job(job: dict[str, Any]) -> dict[str, Any]:
    """Load + quantize once, walk the batch-size ladder; write profiles/<profile_id>.json atomically."""
    from explorer.records.files import atomic_write_text
    from explorer.runner.measure import EnergyMeter, device_name, rss_bytes

    device = job["device"]
    path = Path(job["out_dir"]) / "profiles" / f"{job['profile_id']}.json"
    record: dict[str, Any] = {
        "profile_id": job["profile_id"],
        "key": job["key"],
        "model": job["model_name"],
        "model_ref": job["model"]["ref"],
        "quant": job["quant"],
        "device_kind": device.split(":")[0],
        "device_name": device_name(device),
        "provenance": "measured",
        "weights": weights_kind(job["model"]),
        "versions": _versions(),
        "rows": [],
    }
    try:
        import torch

        from explorer.runner.loading import load_quantized, preimport

        preimport(job["quant"], device)
        baseline = rss_bytes()
        model, tokenizer, info = load_quantized(job["model"], job["quant"], device, baseline)
        record.update(info)
        record["status"] = "ok"
        meter = EnergyMeter(device)
        vocab = int(model.config.get_text_config().vocab_size)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        for b in job["batch_sizes"]:
            t0 = time.perf_counter()
            try:
                row = profile_point(
                    model,
                    vocab,
                    pad_id,
                    device,
                    b,
                    job["prompt_tokens"],
                    job["new_tokens"],
                    job["warmup"],
                    job["repeats"],
                    baseline,
                    meter,
                    seed=job.get("seed", 0),
                )
            except (torch.OutOfMemoryError, MemoryError, RuntimeError) as exc:
                if not isinstance(exc, (torch.OutOfMemoryError, MemoryError)) and "alloc" not in str(exc).lower():
                    raise
                record["rows"].append({"batch_size": b, "status": "failed", "error": one_line(exc)})
                break  # larger batches need more memory still
            record["rows"].append(row)
            atomic_write_text(path, json.dumps({**record, "status": "partial"}, indent=1, default=str))
            print(
                f"[{job['job_name']}] batch {b}: prefill {row['prefill_s']:.3f} s, "
                f"decode {(row['decode_s_per_token'] or float('nan')) * 1e3:.1f} ms/token "
                f"(generate cv {row['generate_cv']:.2f})",
                flush=True,
            )
            if time.perf_counter() - t0 > job["max_point_s"]:
                break  # the next batch size would take longer still
    except Exception as exc:
        traceback.print_exc()
        record.update(status="failed", error=one_line(exc))
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()
    atomic_write_text(path, json.dumps(record, indent=1, default=str))
    return record


def main(argv: list[str] | None = None) -> int:
    import os

    die_with_parent(int(os.environ.get("EXPLORER_LAUNCHER_PID", os.getppid())))
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m explorer.runner.profile JOB.json", file=sys.stderr)
        return 2
    run_profile_job(json.loads(Path(argv[0]).read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
