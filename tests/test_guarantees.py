"""The README's "Guarantees" under real faults, with a tiny random model and the generated tasks: SIGKILL at random
points, a worker killed as the OOM killer would, a full disk, two sweeps on one folder. After every fault, every
record and samples file on disk passes the one integrity check (`explorer.records.integrity`), and a re-run
finishes what was left."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from explorer.records.files import read_records
from explorer.records.integrity import check_folder

SPEC = (
    "models: [tiny-random-llama]\nquantizations: [bf16, int8]\n"
    "tasks: [explorer_arith, explorer_pattern]\nlimit: 6\nbatch_size: 2\ndevice: cpu\n"
)
CELLS = 4


def _sweep_cmd(spec: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "explorer.cli", "sweep", str(spec), "--out", str(out), "--quiet"]


def _spec(tmp_path: Path) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC)
    return path


def _intact(out: Path) -> list[dict]:
    """Every record and samples file passes the integrity check; the good records."""
    good, damaged = check_folder(out)
    assert damaged == [], damaged
    return good


@pytest.mark.slow
def test_sigkill_at_ten_random_points_never_damages_a_file(tmp_path: Path) -> None:
    spec, rng = _spec(tmp_path), random.Random(20261202)
    t0 = time.monotonic()
    ref = subprocess.run(_sweep_cmd(spec, tmp_path / "ref"), capture_output=True, text=True, timeout=600)
    whole_s = time.monotonic() - t0  # a whole sweep: the kills land anywhere from start-up to the last record
    assert ref.returncode == 0, ref.stderr[-2000:]
    finished = []
    for trial in range(10):
        out = tmp_path / f"out{trial}"
        proc = subprocess.Popen(_sweep_cmd(spec, out), start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(rng.uniform(0.3, 1.0) * whole_s)
        os.killpg(proc.pid, signal.SIGKILL)  # launcher and worker at once, wherever they are
        proc.wait()
        finished.append(len(_intact(out)) if out.exists() else 0)
    assert any(0 < n < CELLS for n in finished), finished  # some kills did land mid-sweep
    out = tmp_path / f"out{max(range(10), key=finished.__getitem__)}"
    done = subprocess.run(_sweep_cmd(spec, out), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    records = _intact(out)
    assert len(records) == CELLS and all(r["status"] == "ok" for r in records)


@pytest.mark.slow
def test_a_worker_killed_like_the_oom_killer_fails_its_cells_and_the_sweep_goes_on(tmp_path: Path) -> None:
    spec, out = _spec(tmp_path), tmp_path / "out"
    proc = subprocess.Popen(_sweep_cmd(spec, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline, worker = time.time() + 240, None
    while time.time() < deadline and worker is None:  # once the first cell is recorded, the worker is mid-job
        if (out / "records").is_dir() and any((out / "records").glob("*.json")):
            kids = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
            worker = int(kids[0]) if kids else None
        time.sleep(0.05)
    assert worker is not None, "no worker seen"
    os.kill(worker, signal.SIGKILL)  # what the kernel's OOM killer does
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 1, (proc.returncode, stderr[-2000:])  # some cells failed: not 0, not a crash
    records = _intact(out)
    failed = [r for r in records if r["status"] == "failed"]
    assert failed and all("SIGKILL" in (r["error"] or "") or "killed" in (r["error"] or "") for r in failed), failed
    assert any(r["status"] == "ok" for r in records)  # the next job ran
    assert "Traceback" not in stderr


def _tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)]).returncode == 0


@pytest.mark.slow
def test_a_full_disk_gives_one_clear_line_and_damages_nothing(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    if not _tmpfs(disk, "256k"):
        pytest.skip("needs root and mount to make a small tmpfs")
    try:
        out = disk / "out"
        (disk / "filler").write_bytes(b"\0" * (256 * 1024 - 20 * 1024))  # ~20 kB left: a record or two
        done = subprocess.run(_sweep_cmd(_spec(tmp_path), out), capture_output=True, text=True, timeout=600)
        assert done.returncode != 0
        assert "Traceback" not in done.stderr, done.stderr[-2000:]
        last = [ln for ln in done.stderr.splitlines() if ln.strip()][-1]
        assert "No space left" in last or "disk full" in last, done.stderr[-2000:]
        _intact(out)
        (disk / "filler").unlink()  # room again: the same command finishes the sweep
        again = subprocess.run(_sweep_cmd(_spec(tmp_path), out), capture_output=True, text=True, timeout=600)
        assert again.returncode == 0, again.stderr[-2000:]
        assert len(_intact(out)) == CELLS
    finally:
        subprocess.run(["umount", str(disk)])


@pytest.mark.slow
def test_two_sweeps_on_one_folder(tmp_path: Path) -> None:
    spec, out = _spec(tmp_path), tmp_path / "out"
    first = subprocess.Popen(_sweep_cmd(spec, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and not (out / ".sweep.lock").exists():
        time.sleep(0.1)
    time.sleep(0.5)
    second = subprocess.run(_sweep_cmd(spec, out), capture_output=True, text=True, timeout=120)
    assert second.returncode == 2 and "another sweep" in second.stderr.lower(), second.stderr
    assert first.wait(timeout=600) == 0
    records = _intact(out)
    assert len(records) == CELLS and len(read_records(out)) == CELLS


@pytest.mark.slow
def test_out_of_memory_in_a_cell_fails_that_cell_and_the_sweep_goes_on(tmp_path: Path) -> None:
    """A memory limit on the workers (EXPLORER_WORKER_MEMORY_BYTES): Qwen2.5-0.5B's shape (1 GB in bf16) cannot be
    built under 600 MB, the tiny model can; the sweep records the first as failed and exits 1."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "models:\n  - tiny-random-llama\n  - {id: 'random:qwen2.5-0.5b', tokenizer: smollm2-135m}\n"
        "quantizations: [bf16]\ntasks: [explorer_arith]\nlimit: 4\nbatch_size: 2\ndevice: cpu\n"
    )
    out = tmp_path / "out"
    env = {**os.environ, "EXPLORER_WORKER_MEMORY_BYTES": "600e6"}
    done = subprocess.run(_sweep_cmd(spec, out), capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    by_model = {r["model"]: r for r in _intact(out)}
    assert by_model["tiny-random-llama"]["status"] == "ok"
    big = by_model["random:qwen2.5-0.5b"]
    assert big["status"] == "failed" and "allocate memory" in big["error"], big["error"]
    assert "failed cell: random:qwen2.5-0.5b bf16 explorer_arith" in done.stderr
