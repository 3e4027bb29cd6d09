"""Plan and run serving profiles: one fresh process per (model, quantization), resumable like sweeps."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from explorer.launcher.process import exit_reason, launch, log_path, results_folder
from explorer.launcher.sweep import _slug, resolve_device
from explorer.records.files import cell_id, write_profile
from explorer.runner.jobs import ProfileJob


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


LADDER = ("batch_sizes", "prompt_tokens", "new_tokens", "warmup", "repeats", "max_point_s")


def _profile_job(spec: ProfileSpec, source: Any, quant: str, device: str, dev_name: str, out_dir: Path) -> ProfileJob:
    """The typed job of one (model, level); its id hashes what the timings depend on (an upgrade re-profiles)."""
    from explorer.quant.registry import QuantizationError, package_version, select_backend

    try:
        requires = select_backend(quant, device.split(":")[0]).requires
    except QuantizationError:
        requires = ()
    versions = {name: package_version(name) for name in ("transformers", "torch", *requires)}
    ladder = {k: getattr(spec, k) for k in LADDER}
    key = {"kind": "profile", "versions": versions, "model": source.key(), "quant": quant, "device": dev_name,
           **ladder, "batch_sizes": list(spec.batch_sizes)}  # fmt: skip
    name = f"profile-{_slug(source.name)}__{quant}"
    return ProfileJob(name, str(out_dir.resolve()), device, dataclasses.asdict(source), source.name, quant,
                      cell_id(key), key, **ladder, offline=source.kind != "hub")  # fmt: skip


def _dead(job: ProfileJob, code: int, dev_name: str) -> dict[str, Any]:
    """The failed record of a profile whose worker died before writing one."""
    return {"profile_id": job.profile_id, "key": job.key, "model": job.model_name, "quant": job.quant, "rows": [],
            "device_name": dev_name, "status": "failed", "provenance": "measured",
            "error": exit_reason(code, log_path(job))}  # fmt: skip


def run_profiles(spec: ProfileSpec, out_dir: str | Path, log: Any = print) -> list[dict[str, Any]]:
    """Profile every (model, level) not yet profiled in out_dir; returns all their records (a level this device
    has no backend for gets a failed record naming what it needs)."""
    from explorer.models.sources import parse_model
    from explorer.runner.measure import device_name

    device = resolve_device(spec.device)
    dev_name = device_name(device)
    records = []
    with results_folder(Path(out_dir)) as out:
        for source in [parse_model(entry) for entry in spec.models]:
            for quant in spec.quantizations:
                job = _profile_job(spec, source, quant, device, dev_name, out)
                path = out / "profiles" / f"{job.profile_id}.json"
                if path.exists() and json.loads(path.read_text()).get("status") == "ok":
                    records.append(json.loads(path.read_text()))
                    continue
                path.unlink(missing_ok=True)  # a stale failed/partial result must not pass for this run's
                log(f"profiling {source.name} {quant} on {dev_name}: batch sizes {spec.batch_sizes}")
                code = launch(job)
                if not path.exists():
                    write_profile(out, _dead(job, code, dev_name))
                records.append(json.loads(path.read_text()))
    return records
