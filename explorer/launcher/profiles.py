"""Plan and run serving profiles: one fresh process per (model, quantization), resumable like sweeps."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from explorer.launcher.sweep import _slug, _worker_exit_reason, resolve_device
from explorer.records.files import atomic_write_text, cell_id


@dataclass
class ProfileSpec:
    """A serving-profile ladder for some models and quantization levels on one device."""

    models: list[Any] = field(default_factory=list, metadata={"help": "Model entries, as in a sweep spec."})
    quantizations: list[str] = field(default_factory=lambda: ["bf16"], metadata={"help": "Levels to profile."})
    batch_sizes: list[int] = field(
        default_factory=lambda: [1, 2, 4, 8, 16, 32, 64], metadata={"help": "Batch-size ladder (stops at OOM)."}
    )
    prompt_tokens: int = field(default=128, metadata={"help": "Prompt length in tokens."})
    new_tokens: int = field(default=32, metadata={"help": "Generated tokens per sequence (>= 2)."})
    warmup: int = field(default=1, metadata={"help": "Warm-up generate calls per point."})
    repeats: int = field(default=3, metadata={"help": "Timed repeats per point (median, CV)."})
    device: str = field(default="auto", metadata={"help": "auto | cpu | cuda | cuda:N"})
    max_point_s: float = field(default=120.0, metadata={"help": "Stop the ladder after a point this slow."})

    def __post_init__(self) -> None:
        from explorer.models.sources import parse_model
        from explorer.quant.registry import check_level

        if not self.models:
            raise ValueError("profile: give at least one model")
        for entry in self.models:
            parse_model(entry)
        for level in self.quantizations:
            check_level(level)
        if not self.batch_sizes or any(int(b) < 1 for b in self.batch_sizes):
            raise ValueError(f"profile: batch sizes must be positive integers, got {self.batch_sizes}")
        if self.new_tokens < 2:
            raise ValueError("profile: new_tokens must be >= 2 (decode = generate(N) - generate(1))")
        if self.prompt_tokens < 1 or self.repeats < 1 or self.warmup < 0:
            raise ValueError("profile: prompt_tokens and repeats must be >= 1, warmup >= 0")


def run_profiles(spec: ProfileSpec, out_dir: str | Path, log: Any = print) -> list[dict[str, Any]]:
    """Profile every (model, level) not yet profiled in out_dir; returns all their records (a level this device
    has no backend for gets a failed record naming what it needs)."""
    from explorer.models.sources import parse_model
    from explorer.quant.registry import QuantizationError, package_version, select_backend
    from explorer.runner.measure import device_name

    out_dir = Path(out_dir)
    for sub in ("profiles", "jobs", "logs"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    device = resolve_device(spec.device)
    dev_name = device_name(device)
    records = []
    for entry in spec.models:
        source = parse_model(entry)
        for quant in spec.quantizations:
            try:  # what the timings depend on: an upgrade re-profiles
                requires = select_backend(quant, device.split(":")[0]).requires
            except QuantizationError:
                requires = ()
            libraries = ("transformers", "torch", *requires)
            key = {
                "kind": "profile",
                "versions": {name: package_version(name) for name in libraries},
                "model": source.key(),
                "quant": quant,
                "device": dev_name,
                "batch_sizes": list(spec.batch_sizes),
                "prompt_tokens": spec.prompt_tokens,
                "new_tokens": spec.new_tokens,
                "warmup": spec.warmup,
                "repeats": spec.repeats,
                "max_point_s": spec.max_point_s,
            }
            pid = cell_id(key)
            path = out_dir / "profiles" / f"{pid}.json"
            if path.exists() and json.loads(path.read_text()).get("status") == "ok":
                records.append(json.loads(path.read_text()))
                continue
            path.unlink(missing_ok=True)  # a stale failed/partial result must not pass for this run's
            name = f"profile-{_slug(source.name)}__{quant}"
            job = {
                "profile_id": pid,
                "key": key,
                "job_name": name,
                "model": dataclasses.asdict(source),
                "model_name": source.name,
                "quant": quant,
                "device": device,
                "out_dir": str(out_dir.resolve()),
                **{
                    k: getattr(spec, k)
                    for k in ("batch_sizes", "prompt_tokens", "new_tokens", "warmup", "repeats", "max_point_s")
                },
            }
            job_path = out_dir / "jobs" / f"{name}.json"
            atomic_write_text(job_path, json.dumps(job, indent=1))
            log(f"profiling {source.name} {quant} on {dev_name}: batch sizes {spec.batch_sizes}")
            log_path = out_dir / "logs" / f"{name}.log"
            with open(log_path, "a") as handle:
                code = subprocess.call(
                    [sys.executable, "-m", "explorer.runner.profile", str(job_path)],
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, "EXPLORER_LAUNCHER_PID": str(os.getpid())},
                )
            if path.exists():
                record = json.loads(path.read_text())
            else:
                record = {
                    "profile_id": pid,
                    "key": key,
                    "model": source.name,
                    "quant": quant,
                    "rows": [],
                    "device_name": dev_name,
                    "status": "failed",
                    "provenance": "measured",
                    "error": _worker_exit_reason(code, log_path),
                }
                atomic_write_text(path, json.dumps(record, indent=1))
            records.append(record)
    return records
