"""Wall time of one small sweep with the local and the Ray executor, side by side on this machine.

    .venv/bin/python scripts/bench_executors.py [--limit 40] [--repeats 2]

Each run writes into a fresh folder; the Ray cluster is a local one started once (its start-up is reported
apart). Ray runs twice: one job at a time (a CPU job asks all the node's CPUs, so the device name and the cell
ids equal the local run's), and two at once (1 CPU each). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from explorer.config.spec import SweepSpec
from explorer.launcher.ray_executor import RayExecutor
from explorer.launcher.sweep import run_sweep


def _timed(spec: SweepSpec, out: Path, executor=None) -> float:
    t0 = time.perf_counter()
    counts = run_sweep(spec, out, progress=False, executor=executor)
    assert counts["failed"] == 0 and counts["ok"] > 0, counts
    return round(time.perf_counter() - t0, 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    tasks = ["explorer_arith", "explorer_pattern"]
    spec = SweepSpec(["tiny-random-llama"], ["bf16", "int8"], tasks, limit=args.limit, batch_size=2, device="cpu")
    import ray

    t0 = time.perf_counter()
    ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray_start_s = round(time.perf_counter() - t0, 2)
    rows = {"local": [], "ray_one_job_at_a_time": [], "ray_1_cpu_per_job": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):  # interleaved: A, B, C, A, B, C (this machine is shared and noisy)
            rows["local"].append(_timed(spec, Path(tmp) / f"local{i}"))
            rows["ray_one_job_at_a_time"].append(_timed(spec, Path(tmp) / f"ray{i}", RayExecutor()))
            rows["ray_1_cpu_per_job"].append(_timed(spec, Path(tmp) / f"ray1cpu{i}", RayExecutor(cpus_per_job=1)))
    ray.shutdown()
    cells = len(spec.models) * len(spec.quantizations) * len(spec.tasks)
    print(json.dumps({"cells": cells, "limit": args.limit, "ray_start_s": ray_start_s, "wall_s": rows}, indent=1))


if __name__ == "__main__":
    main()
