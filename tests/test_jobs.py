"""Typed jobs (explorer/runner/jobs.py) and the one launcher (explorer/launcher/process.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from explorer.launcher.process import exit_reason, launch, log_path
from explorer.runner.jobs import JOB_SCHEMA, CeilingsJob, Cell, EvalJob, ProfileJob, job_json, read_job

MODEL = {"kind": "tiny", "ref": "tiny-random-llama"}


def _jobs(out: Path) -> list:
    cell = Cell("c1", "explorer_arith", "explorer_arith", {"task": "explorer_arith"}, "generated")
    return [
        EvalJob("e", str(out), "cpu", MODEL, "tiny", "bf16", [cell], run_id="r", limit=3, include_path=["/x"]),
        ProfileJob("p", str(out), "cpu", MODEL, "tiny", "bf16", "pid", {"k": 1}, batch_sizes=[1, 2]),
        CeilingsJob("c", str(out), "cpu", "float32", matmul_n=64, copy_bytes=1 << 16),
    ]


def test_every_kind_round_trips_through_its_file(tmp_path: Path) -> None:
    for job in _jobs(tmp_path):
        path = tmp_path / f"{job.job_name}.json"
        path.write_text(job_json(job))
        assert json.loads(path.read_text())["kind"] == job.kind
        assert read_job(path) == job
    assert read_job(path).__class__ is CeilingsJob


def test_a_job_file_of_another_version_or_kind_is_refused(tmp_path: Path) -> None:
    data = json.loads(job_json(_jobs(tmp_path)[0]))
    path = tmp_path / "job.json"
    path.write_text(json.dumps({**data, "job_schema": JOB_SCHEMA + 1}))
    with pytest.raises(ValueError, match=rf"job schema {JOB_SCHEMA + 1}, this worker reads {JOB_SCHEMA}"):
        read_job(path)
    path.write_text(json.dumps({**data, "kind": "evl"}))
    with pytest.raises(ValueError, match=r"unknown job kind 'evl' \(did you mean 'eval'\?\)"):
        read_job(path)
    proc = subprocess.run([sys.executable, "-m", "explorer.runner", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "unknown job kind 'evl'" in proc.stderr


def test_launch_runs_a_ceilings_job_in_a_worker_process(tmp_path: Path) -> None:
    job = _jobs(tmp_path)[2]
    polls = []
    assert launch(job, on_poll=lambda: polls.append(1)) == 0
    result = json.loads((tmp_path / "ceilings" / "float32.json").read_text())
    assert result["dtype"] == "float32" and result["matmul_n"] == 64 and result["matmul_flops"] > 0
    assert polls and (tmp_path / "jobs" / "c.json").exists() and log_path(job).exists()


def test_a_worker_that_dies_is_named_with_its_signal_and_last_log_line(tmp_path: Path) -> None:
    job = CeilingsJob("bad", str(tmp_path), "cpu", "no_such_dtype")
    code = launch(job)
    assert code != 0 and not (tmp_path / "ceilings" / "no_such_dtype.json").exists()
    reason = exit_reason(code, log_path(job))
    assert (
        reason.startswith(f"worker exited with code {code}; last log line: AttributeError")
        and "no_such_dtype" in reason
    )
    assert exit_reason(-9, tmp_path / "none.log").startswith("worker killed by SIGKILL (likely out of memory)")
