"""The device check: one command that measures a (CUDA) machine without internet and packs the results.

Steps, each recorded in manifest.json with its timing and error (a failing step never loses the others):
  1. ceilings: matmul FLOP/s and copy bytes/s in bf16, fp16 and fp32;
  2. serving profiles of real architectures with random weights (cost does not depend on weight values);
  3. a short sweep (lm-eval on the explorer's generated tasks) measuring in-situ cost on the device.
Everything lands in OUT/ and in OUT.tar.gz (well under 16 MB) to copy back and commit under data/.
`--quick` shrinks every step so the same code path runs on a CPU in a test.

    python -m explorer.launcher.device_check --out /tmp/dc [--quick] [--budget-s 480]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import time
import traceback
from pathlib import Path
from typing import Any

GPU_PLAN: dict[str, Any] = {
    "ceiling_dtypes": ["bfloat16", "float16", "float32"],
    "profile_models": ["random:smollm2-135m", "random:llama-3.2-1b", "random:llama-3.1-8b", "random:qwen2.5-7b"],
    "profile_quants": ["bf16"],
    "batch_sizes": [1, 4, 16, 64],
    "prompt_tokens": 512,
    "new_tokens": 64,
    "repeats": 3,
    "sweep_models": ["random:smollm2-135m", "random:llama-3.1-8b"],
    "sweep_quants": ["bf16"],
    "sweep_tasks": ["explorer_arith", "explorer_pattern"],
    "sweep_limit": 200,
    "sweep_batch_size": 32,
}
QUICK_PLAN: dict[str, Any] = {
    "ceiling_dtypes": ["bfloat16"],
    "profile_models": ["random:smollm2-135m"],
    "profile_quants": ["bf16"],
    "batch_sizes": [1, 2],
    "prompt_tokens": 16,
    "new_tokens": 4,
    "repeats": 2,
    "sweep_models": ["tiny-random-llama"],
    "sweep_quants": ["bf16"],
    "sweep_tasks": ["explorer_arith"],
    "sweep_limit": 5,
    "sweep_batch_size": 4,
}


def _gpu_info() -> str | None:
    try:
        return subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total,power.limit,clocks.max.sm", "--format=csv"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def _ceilings_step(out: Path, dev: str, dtype: str, quick: bool) -> dict:
    """A `CeilingsJob` through the launcher; returns the roofs (ceilings/<dtype>.json has the whole record)."""
    from explorer.launcher.process import exit_reason, launch, log_path
    from explorer.runner.jobs import CeilingsJob

    small = {"matmul_n": 256, "copy_bytes": 16 << 20} if quick else {}
    job = CeilingsJob(f"ceilings-{dtype}", str(out.resolve()), dev, dtype, **small)
    code, path = launch(job), out / "ceilings" / f"{dtype}.json"
    if not path.exists():
        raise RuntimeError(exit_reason(code, log_path(job)))
    result = json.loads(path.read_text())
    return {k: result[k] for k in ("matmul_flops", "copy_bytes_per_s", "matmul_cv", "copy_cv")}


def _profile_step(out: Path, dev: str, plan: dict[str, Any], model: str) -> list:
    from explorer.launcher.profiles import ProfileSpec, run_profiles

    ladder = {k: plan[k] for k in ("batch_sizes", "prompt_tokens", "new_tokens", "repeats")}
    spec = ProfileSpec(models=[model], quantizations=plan["profile_quants"], device=dev, max_point_s=60.0, **ladder)
    return [(r["quant"], r.get("status"), r.get("error")) for r in run_profiles(spec, out)]


def _sweep_step(out: Path, dev: str, plan: dict[str, Any]) -> dict:
    from explorer.config.spec import SweepSpec
    from explorer.launcher.sweep import run_sweep

    spec = SweepSpec(models=plan["sweep_models"], quantizations=plan["sweep_quants"], tasks=plan["sweep_tasks"],
                     limit=plan["sweep_limit"], batch_size=plan["sweep_batch_size"], device=dev)  # fmt: skip
    return run_sweep(spec, out, progress=False)


class _Steps:
    """Runs the steps in order into the manifest: a failing step is recorded and the next one runs; once the
    budget is spent the rest are recorded as skipped."""

    def __init__(self, out: Path, manifest: dict[str, Any], budget_s: float) -> None:
        self.out, self.manifest, self.budget_s, self.t_start = out, manifest, budget_s, time.perf_counter()

    def __call__(self, name: str, fn: Any) -> None:
        from explorer.records.files import atomic_write_text

        if time.perf_counter() - self.t_start > self.budget_s:
            self.manifest["steps"].append({"step": name, "status": "skipped", "error": "time budget spent"})
            return
        t0 = time.perf_counter()
        entry: dict[str, Any] = {"step": name}
        try:
            entry["result"] = fn()
            entry["status"] = "ok"
        except Exception as exc:
            traceback.print_exc()
            entry.update(status="failed", error=f"{type(exc).__name__}: {exc}"[:400])
        entry["seconds"] = time.perf_counter() - t0
        self.manifest["steps"].append(entry)
        atomic_write_text(self.out / "manifest.json", json.dumps(self.manifest, indent=1, default=str))
        print(f"[device_check] {name}: {entry['status']} in {entry['seconds']:.1f} s", flush=True)


def _archive(out: Path) -> Path:
    archive = out.with_suffix(".tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(out.rglob("*")):
            if path.is_file() and path.parent.name != "jobs":
                tar.add(path, arcname=str(path.relative_to(out.parent)))
    return archive


def run_device_check(out: str | Path, device: str = "auto", quick: bool = False, budget_s: float = 480.0) -> dict:
    """Run the steps into `out` (see module docstring); returns the manifest (also written to out)."""
    from explorer.launcher.sweep import resolve_device
    from explorer.records.files import atomic_write_text
    from explorer.runner.worker import _versions

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plan = QUICK_PLAN if quick else GPU_PLAN
    dev = resolve_device(device)
    manifest: dict[str, Any] = {
        "device": dev,
        "quick": quick,
        "plan": plan,
        "versions": _versions(),
        "nvidia_smi": _gpu_info(),
        "steps": [],
        "provenance": "measured",
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    step = _Steps(out, manifest, budget_s)
    for dtype in plan["ceiling_dtypes"]:
        step(f"ceilings {dtype}", lambda dtype=dtype: _ceilings_step(out, dev, dtype, quick))
    for model in plan["profile_models"]:
        step(f"profile {model}", lambda model=model: _profile_step(out, dev, plan, model))
    step("sweep", lambda: _sweep_step(out, dev, plan))
    manifest["wall_s"] = time.perf_counter() - step.t_start
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1, default=str))
    archive = _archive(out)
    manifest["archive"] = str(archive)
    manifest["archive_bytes"] = archive.stat().st_size
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for the results (an OUT.tar.gz is written beside it)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: the CPU test of the same code path")
    parser.add_argument("--budget-s", type=float, default=480.0, help="skip the remaining steps after this long")
    args = parser.parse_args(argv)
    manifest = run_device_check(args.out, device=args.device, quick=args.quick, budget_s=args.budget_s)
    failed = [s["step"] for s in manifest["steps"] if s["status"] != "ok"]
    print(
        f"[device_check] done in {manifest['wall_s']:.0f} s; archive {manifest['archive']} "
        f"({manifest['archive_bytes'] / 1e6:.2f} MB); not ok: {failed or 'none'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
