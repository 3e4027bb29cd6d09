"""The Ray executor on a local Ray cluster (CPU resources, started here, shut down after): the same records as the
local executor apart from timings; a Ray worker killed mid-task loses no finished cell, the task is retried once
with the cells it did not write, a second death records them failed, and a re-run completes them; placement
pins a job to the nodes that hold it; the CLI reaches a running cluster by its address."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from explorer.config.spec import SweepSpec
from explorer.launcher.placement import GIB, Node
from explorer.launcher.sweep import run_sweep
from explorer.records.files import read_records
from explorer.records.integrity import check_folder

ray = pytest.importorskip("ray", reason="the [ray] extra is not installed (make test installs it)")
from explorer.launcher.ray_executor import RayExecutor  # noqa: E402

pytestmark = pytest.mark.slow
SPEC = dict(models=["tiny-random-llama"], quantizations=["bf16", "int8"], tasks=["explorer_arith", "explorer_pattern"],
            limit=6, batch_size=2, device="cpu")  # fmt: skip
# what may differ between two runs of one cell: clocks, memory counters, the run
TIMINGS = {"device_s", "device_s_per_query", "load_s", "quantize_s", "wall_s", "peak_mem_bytes", "model_rss_bytes",
           "energy_j", "energy_j_per_query", "run_id", "started_at"}  # fmt: skip


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def _records(out: Path) -> dict[str, dict]:
    good, damaged = check_folder(out)
    assert damaged == [], damaged
    return {r["cell_id"]: r for r in good}


def test_ray_and_local_executors_write_the_same_records(cluster, tmp_path: Path) -> None:
    spec = SweepSpec(**SPEC)
    t0 = time.perf_counter()
    local = run_sweep(spec, tmp_path / "local", progress=False)
    t1 = time.perf_counter()
    on_ray = run_sweep(spec, tmp_path / "ray", progress=False, executor=RayExecutor())
    t2 = time.perf_counter()
    print(f"local {t1 - t0:.1f} s, ray {t2 - t1:.1f} s")
    assert local == on_ray == {"ok": 4, "failed": 0, "skipped": 0, "stopped": 0}
    a, b = _records(tmp_path / "local"), _records(tmp_path / "ray")
    assert sorted(a) == sorted(b) and len(a) == 4  # the same content-keyed cells
    for cid in a:
        differ = {k for k in a[cid].keys() | b[cid].keys() if a[cid].get(k) != b[cid].get(k)}
        assert differ <= TIMINGS, (cid, differ - TIMINGS)
        assert (tmp_path / "local/samples" / f"{cid}.jsonl").read_bytes() == (
            tmp_path / "ray/samples" / f"{cid}.jsonl"
        ).read_bytes()
    again = run_sweep(spec, tmp_path / "local", progress=False, executor=RayExecutor())  # resume across executors
    assert again == {"ok": 0, "failed": 0, "skipped": 4, "stopped": 0}


def _runner_pids() -> dict[int, int]:
    """{pid: parent pid} of the explorer.runner worker processes now alive."""
    out = subprocess.run(["pgrep", "-f", "explorer.runner"], capture_output=True, text=True).stdout.split()
    pids = {}
    for pid in map(int, out):
        try:
            pids[pid] = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return {p: pp for p, pp in pids.items() if pp != os.getpid()}


def _kill_ray_worker(exclude: set[int], timeout: float = 120, after_record: Path | None = None) -> int:
    """SIGKILL the Ray worker (the parent of a runner not in `exclude`), once `after_record` has records."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        ready = after_record is None or any((after_record / "records").glob("*.json"))
        fresh = {p: pp for p, pp in _runner_pids().items() if p not in exclude}
        if ready and fresh:
            runner, worker = next(iter(fresh.items()))
            assert "ray::" in Path(f"/proc/{worker}/cmdline").read_text(errors="replace"), "parent is not a Ray worker"
            os.kill(worker, signal.SIGKILL)
            return runner
        time.sleep(0.05)
    raise AssertionError("no Ray-run worker seen")


def test_a_killed_ray_worker_loses_no_finished_cell_and_a_rerun_completes(cluster, tmp_path: Path) -> None:
    spec, out = SweepSpec(**{**SPEC, "quantizations": ["bf16"], "limit": 40}), tmp_path  # one job, two cells
    counts: dict = {}
    sweep = threading.Thread(target=lambda: counts.update(run_sweep(spec, out, progress=False, executor=RayExecutor())))
    sweep.start()
    first = _kill_ray_worker(set(), after_record=out)  # mid-task: one cell recorded, the others not
    finished = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (out / "records").glob("*.json")}
    _kill_ray_worker({first})  # the retry, as soon as its worker starts
    sweep.join(timeout=300)
    assert not sweep.is_alive()
    records = _records(out)
    assert len(finished) == 1 and counts == {"ok": 1, "failed": 1, "skipped": 0, "stopped": 0}, counts
    for name, (data, mtime) in finished.items():  # the finished cells are untouched
        path = out / "records" / name
        assert path.read_bytes() == data and path.stat().st_mtime_ns == mtime
    failed = [r for r in records.values() if r["status"] == "failed"]
    assert failed and all("Ray task failed" in r["error"] and "retried once" in r["error"] for r in failed), failed
    print("killed twice:", counts, "finished before the kill:", sorted(finished), "failed:", failed[0]["error"])
    rerun = run_sweep(spec, out, progress=False, executor=RayExecutor())
    assert rerun == {"ok": 1, "failed": 0, "skipped": 1, "stopped": 0}
    assert all(r["status"] == "ok" for r in _records(out).values()) and len(read_records(out)) == 2
    for name, (data, _) in finished.items():
        assert (out / "records" / name).read_bytes() == data


def test_placement_pins_a_job_to_the_nodes_that_hold_it() -> None:
    ex = RayExecutor(cpus_per_job=2)
    ex._nodes = [Node("small", "cuda", 24 * GIB, "L4"), Node("big", "cuda", 80 * GIB, "L4")]

    class Job:
        def __init__(self, ref: str) -> None:
            self.model, self.quant = {"kind": "random", "ref": ref}, "bf16"

    opts, pin, env = ex.task_options(Job("qwen2.5-32b"), "cuda:0")  # 32.8e9 x 2 x 1.2 + 1 GiB: only on "big"
    assert (opts["num_gpus"], opts["max_retries"], pin, env) == (1, 0, "big", {})
    assert ex.task_options(Job("llama-3.1-8b"), "cuda:0")[1] is None  # both hold it: Ray schedules
    ex._nodes = [Node("cpu1", "cpu", 64 * GIB, "Xeon (2 threads)", slots=8)]
    opts, pin, env = ex.task_options(Job("qwen2.5-0.5b"), "cpu")
    assert opts["num_cpus"] == 2 and pin is None and env == {"OMP_NUM_THREADS": "2"}


def test_the_cli_runs_on_a_cluster_by_its_address(cluster, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(json.dumps({**SPEC, "quantizations": ["bf16"], "tasks": ["explorer_arith"]}))
    cmd = [sys.executable, "-m", "explorer.cli", "sweep", str(spec), "--out", str(tmp_path / "o"), "--quiet",
           "--executor", "ray", "--address", cluster]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "1 ok, 0 failed" in done.stdout and len(_records(tmp_path / "o")) == 1


def test_the_sweep_panel_runs_on_ray_with_progress_and_eta(cluster, tmp_path: Path) -> None:
    from explorer.ui.sweep_panel import SweepPanel

    panel = SweepPanel(out_dir=tmp_path)
    panel.models.value, panel.quants.value = ("tiny-random-llama",), ("bf16", "int8")
    panel.tasks.value, panel.limit.value, panel.device.value = ("explorer_arith",), 4, "cpu"
    panel.executor.value, panel.ray_address.value = "ray", cluster
    seen_eta = []
    panel.eta.observe(lambda change: seen_eta.append(change["new"]), "value")
    panel.run()
    assert panel.wait(300) and panel.error is None, panel.error
    assert panel.counts == {"ok": 2, "failed": 0, "skipped": 0, "stopped": 0}
    assert panel.progress.max == 2 and panel.progress.value == 2
    assert seen_eta[0].startswith("1/2 cells") and ", ETA " in seen_eta[0] and seen_eta[-1].startswith("2/2 cells")
    assert {r["cell_id"] for r in panel.records} == set(_records(tmp_path))


def test_ray_writes_an_object_store_uri_through_fsspec(cluster, tmp_path: Path) -> None:
    """file:// (a store fsspec writes through, like s3://): the Ray tasks upload each record; the store then holds
    intact records equal to a local run's into a plain folder, apart from timings."""
    spec = SweepSpec(**{**SPEC, "quantizations": ["bf16"]})
    counts = run_sweep(spec, f"file://{tmp_path}/store", progress=False, executor=RayExecutor())
    assert counts == {"ok": 2, "failed": 0, "skipped": 0, "stopped": 0}
    run_sweep(spec, tmp_path / "plain", progress=False)
    a, b = _records(tmp_path / "store"), _records(tmp_path / "plain")
    assert sorted(a) == sorted(b) and len(a) == 2
    for cid in a:
        assert {k for k in a[cid].keys() | b[cid].keys() if a[cid].get(k) != b[cid].get(k)} <= TIMINGS
