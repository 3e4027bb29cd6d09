"""Executors without Ray: memory-aware placement (hand-computed needs), a job no node holds recorded failed
without a worker, the local executor's one worker per GPU, the CLI's executor flags."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from explorer.config.spec import SweepSpec
from explorer.launcher import executors
from explorer.launcher.executors import JobEnd, LocalExecutor, make_executor
from explorer.launcher.placement import GIB, Node, fitting_nodes, need_bytes, no_fit_reason, weight_bytes
from explorer.launcher.sweep import plan_sweep, run_sweep
from explorer.records.files import read_records
from explorer.records.integrity import check_folder

SPEC = dict(models=["tiny-random-llama"], quantizations=["bf16", "int8"], tasks=["explorer_arith"], limit=4,
            batch_size=2, device="cpu")  # fmt: skip


def test_need_is_parameters_times_bytes_per_weight_plus_working_memory() -> None:
    params = 8_030_261_248  # llama-3.1-8b (tests/test_models.py)
    model = {"kind": "random", "ref": "llama-3.1-8b"}
    assert weight_bytes(model, "bf16") == params * 2
    assert need_bytes(model, "bf16") == int(params * 2 * 1.2 + GIB)
    assert need_bytes(model, "int8") == int(params * 1 * 1.2 + GIB)
    assert weight_bytes(model, "int4") == int(params * (0.5 + 2 / 64))
    assert need_bytes({"kind": "hub", "ref": "org/name"}, "bf16") is None  # unknown before a download


def test_local_folders_and_gguf_files_count_their_weight_files(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"\0" * 4000)
    (tmp_path / "config.json").write_text("{}")
    assert weight_bytes({"kind": "local", "ref": str(tmp_path)}, "bf16") == 4000
    assert weight_bytes({"kind": "local", "ref": str(tmp_path)}, "int8") == 2000
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"\0" * 3000)
    assert weight_bytes({"kind": "gguf", "ref": str(gguf)}, "bf16") == 3000


def test_fitting_nodes_and_the_reason_when_none_fits() -> None:
    small, big = Node("a", "cuda", 24 * GIB, "NVIDIA L4", "10.0.0.1"), Node("b", "cuda", 80 * GIB, "H100", "10.0.0.2")
    need = need_bytes({"kind": "random", "ref": "llama-3.1-8b"}, "bf16")  # 8.03e9 x 2 x 1.2 + 1 GiB = 18.9 GiB
    assert fitting_nodes(need, [small, big]) == [small, big]
    need70 = need_bytes({"kind": "random", "ref": "llama-3.1-70b"}, "bf16")
    assert fitting_nodes(need70, [small, big]) == []
    reason = no_fit_reason("random:llama-3.1-70b", "bf16", need70, [small, big])
    assert f"needs {need70 / GIB:.1f} GiB" in reason and "10.0.0.2, H100) has 80.0 GiB" in reason
    assert fitting_nodes(None, [small]) == [small]
    with pytest.raises(ValueError, match="device_kind"):
        Node("c", "tpu", 1)


class _SmallNode(LocalExecutor):
    def nodes(self, device: str) -> list[Node]:
        return [Node("local", "cpu", GIB // 2, "tiny box", "this machine")]


def test_a_job_no_node_holds_is_recorded_failed_without_a_worker(tmp_path: Path, monkeypatch) -> None:
    started = []
    monkeypatch.setattr(executors, "run_one", lambda *a, **k: started.append(a) or JobEnd(a[0]))
    counts = run_sweep(SweepSpec(**SPEC), tmp_path, progress=False, executor=_SmallNode())
    assert counts == {"ok": 0, "failed": 2, "skipped": 0, "stopped": 0} and started == []
    records = read_records(tmp_path)
    assert {r["quant"] for r in records} == {"bf16", "int8"}
    assert all("not placed: tiny-random-llama" in r["error"] and "has 0.5 GiB" in r["error"] for r in records)
    need = need_bytes({"kind": "tiny", "ref": "tiny-random-llama"}, "bf16")
    assert any(f"needs {need / GIB:.1f} GiB" in r["error"] for r in records)


def test_the_local_executor_runs_one_worker_per_gpu(tmp_path: Path, monkeypatch) -> None:
    plan = plan_sweep(SweepSpec(**{**SPEC, "quantizations": ["bf16", "int8", "fp32", "fp16"]}), tmp_path)
    seen: list[tuple[str, str, str]] = []
    both = threading.Barrier(2, timeout=10)  # two jobs run at once, one per GPU

    def fake_run_one(job, account, stop, env=None):
        seen.append((job.job_name, env["CUDA_VISIBLE_DEVICES"], job.device))
        if len(seen) <= 2:
            both.wait()
        return JobEnd(job, {c.cell_id for c in job.cells})

    monkeypatch.setattr(executors, "run_one", fake_run_one)
    ends = list(LocalExecutor(gpus=["0", "1"]).run(plan.jobs, lambda r: None, None))
    assert sorted(e.job.job_name for e in ends) == sorted(j.job_name for j in plan.jobs)
    assert sorted(name for name, _, _ in seen) == sorted(j.job_name for j in plan.jobs)  # each job once
    assert {gpu for _, gpu, _ in seen} == {"0", "1"} and all(not e.missing() for e in ends)


def test_an_unknown_executor_is_one_line_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown executor 'rya'.*did you mean 'ray'"):
        make_executor("rya")
    spec = tmp_path / "spec.yaml"
    spec.write_text("models: [tiny-random-llama]\nquantizations: [bf16]\ntasks: [explorer_arith]\ndevice: cpu\n")
    cmd = [
        sys.executable,
        "-m",
        "explorer.cli",
        "sweep",
        str(spec),
        "--out",
        str(tmp_path / "o"),
        "--executor",
        "lokal",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "unknown executor 'lokal'" in done.stderr and "Traceback" not in done.stderr


def test_results_at_an_object_store_uri_are_uploaded_and_resume_from_a_fresh_machine(tmp_path: Path) -> None:
    """memory:// (fsspec's in-process store): every record lands with its samples and docs; a machine with an
    empty staging copy pulls them and skips every finished cell."""
    import shutil

    import fsspec

    from explorer.records.remote import Store

    uri = f"memory://bucket/{uuid.uuid4().hex}/results"  # the staging copy (user cache) is keyed by the URI
    counts = run_sweep(SweepSpec(**SPEC), uri, progress=False)
    assert counts == {"ok": 2, "failed": 0, "skipped": 0, "stopped": 0}
    fs, root = fsspec.core.url_to_fs(uri)
    records = sorted(p.rsplit("/", 1)[-1] for p in fs.ls(f"{root}/records", detail=False))
    samples = sorted(p.rsplit("/", 1)[-1] for p in fs.ls(f"{root}/samples", detail=False))
    assert len(records) == 2 and samples == [r.replace(".json", ".jsonl") for r in records]
    assert fs.exists(f"{root}/docs/explorer_arith.jsonl") and fs.ls(f"{root}/sweeps")
    staging = Store(uri).staging
    local = {r["cell_id"]: r for r in read_records(staging)}
    for name in records:
        assert json.loads(fs.cat_file(f"{root}/records/{name}")) == local[name.removesuffix(".json")]
    shutil.rmtree(staging)  # another machine: nothing local
    again = run_sweep(SweepSpec(**SPEC), uri, progress=False)
    assert again == {"ok": 0, "failed": 0, "skipped": 2, "stopped": 0}
    good, damaged = check_folder(staging)
    assert damaged == [] and {r["cell_id"] for r in good} == set(local)
    fs.rm(f"{root}/records/{records[0]}")  # an upload that never happened (or a store emptied since)
    third = run_sweep(SweepSpec(**SPEC), uri, progress=False)
    assert third == {"ok": 0, "failed": 0, "skipped": 2, "stopped": 0}
    assert json.loads(fs.cat_file(f"{root}/records/{records[0]}")) == local[records[0].removesuffix(".json")]
    shutil.rmtree(staging)
