"""Sweep plumbing on a tiny random-weight model and the generated tasks: records, failures, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from explorer.config.spec import SweepSpec
from explorer.launcher.sweep import plan_sweep, run_sweep
from explorer.records.files import read_records
from explorer.records.store import load_evals, load_samples


@pytest.fixture(scope="module")
def gen_task_dir(tmp_path_factory, gen_task_yaml) -> Path:
    folder = tmp_path_factory.mktemp("usertasks")
    data = folder / "gen.jsonl"
    data.write_text("".join(json.dumps({"question": f"{i} + {i} =", "answer": str(2 * i)}) + "\n" for i in range(6)))
    (folder / "tiny_gen.yaml").write_text(gen_task_yaml(data, 6))
    return folder


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory, gen_task_dir) -> tuple[Path, SweepSpec, dict]:
    out = tmp_path_factory.mktemp("sweep")
    spec = SweepSpec(
        models=["tiny-random-llama", "no-such-org/no-such-model"],
        quantizations=["bf16"],  # nf4 on a CPU is refused at plan time (tests/test_faults.py)
        tasks=["explorer_arith", "tiny_gen"],
        limit=6,
        batch_size=4,
        device="cpu",
        include_path=[str(gen_task_dir)],
    )
    counts = run_sweep(spec, out, progress=False)
    return out, spec, counts


def test_every_cell_has_one_record(sweep_dir) -> None:
    out, _, counts = sweep_dir
    records = read_records(out)
    assert len(records) == 4 and len({r["cell_id"] for r in records}) == 4
    assert counts == {"ok": 2, "failed": 2, "skipped": 0, "stopped": 0}


def test_ok_cells_carry_measurements(sweep_dir) -> None:
    out, _, _ = sweep_dir
    evals = load_evals(out).filter(pl.col("status") == "ok")
    arith = evals.filter((pl.col("task") == "explorer_arith") & (pl.col("metric") == "acc")).row(0, named=True)
    assert arith["n_docs"] == 6 and arith["model_params"] > 0 and arith["quant_backend"] == "torch"
    assert arith["device_s_per_query"] > 0 and arith["tokens_in_per_query"] > 4 and arith["peak_mem_bytes"] > 0
    assert arith["tokens_out_per_query"] == 0 and arith["energy_j_per_query"] is None  # no sensor on CPU
    assert arith["provenance"] == "measured" and arith["chance"] == pytest.approx(0.25)
    gen = evals.filter(pl.col("task") == "tiny_gen").row(0, named=True)
    assert gen["metric"] == "exact_match" and gen["tokens_out_per_query"] > 0
    # what projections need: the architecture as loaded, and every forward pass (each decode step of a batch)
    for row in (arith, gen):  # tiny-random-llama: 2 layers, hidden 64, 4 heads, 2 KV heads, tied
        assert (row["n_layers"], row["hidden_size"], row["n_kv_heads"], row["head_dim"]) == (2, 64, 2, 16)
        assert row["tied_embeddings"] is True and row["vocab_size"] > 256
    assert arith["forward_passes"] == arith["model_calls"]  # log-likelihood: one forward per batch
    # generation: a prefill and up to max_gen_toks - 1 more steps per batch of 4 (6 documents: 2 batches)
    assert gen["model_calls"] == 2 and gen["model_calls"] < gen["forward_passes"] <= 2 * 6
    assert gen["forward_passes"] / 6 >= gen["tokens_out_per_query"] / 4  # steps of a batch >= its mean tokens
    samples = load_samples(out, cell_ids=[arith["cell_id"]])
    assert samples.height == 6 and samples["doc_id"].to_list() == list(range(6))
    assert all(0.25 <= c <= 1 for c in samples["confidence"]) and all(len(x) == 4 for x in samples["logliks"])
    assert samples["correct"].mean() == pytest.approx(arith["value"])


def test_failures_are_readable(sweep_dir) -> None:
    out, _, _ = sweep_dir
    failed = [r for r in read_records(out) if r["status"] == "failed"]
    bad = [r for r in failed if r["model"] == "no-such-org/no-such-model" and r["quant"] == "bf16"]
    assert len(failed) == 2 and len(bad) == 2 and all("no-such-org/no-such-model" in r["error"] for r in bad)
    assert all("\n" not in r["error"] and len(r["error"]) <= 400 for r in failed)


def test_rerun_skips_finished_cells(sweep_dir) -> None:
    out, spec, _ = sweep_dir
    plan = plan_sweep(spec, out, retry_failed=False)
    assert plan.jobs == [] and plan.skipped == 4 and plan.total == 4
    assert sorted((r["model"], r["task"]) for r in plan.skipped_failed) == [
        ("no-such-org/no-such-model", "explorer_arith"),
        ("no-such-org/no-such-model", "tiny_gen"),
    ]
    retry = plan_sweep(spec, out)
    assert sum(len(j.cells) for j in retry.jobs) == 2  # failed cells are retried by default, ok ones never
    assert retry.skipped_failed == [] and retry.local_tasks is True  # generated + a user task on local files


def test_sigkill_mid_sweep_then_resume(tmp_path) -> None:
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(
        "models: [tiny-random-llama]\nquantizations: [bf16, int8, int4]\n"
        "tasks: [explorer_arith, explorer_pattern]\nlimit: 8\nbatch_size: 4\ndevice: cpu\n"
    )
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "explorer.cli", "sweep", str(spec_path), "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and len(list((out / "records").glob("*.json"))) < 1:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # launcher and worker together, mid-sweep
    proc.wait()
    first = {p.stem for p in (out / "records").glob("*.json")}
    assert 1 <= len(first) < 6
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]  # every cell ok (the first run's count as ok)
    assert f"{len(first)} already done" in done.stdout
    records = read_records(out)
    assert len(records) == 6 and len({r["cell_id"] for r in records}) == 6
    assert all(r["status"] == "ok" for r in records)
    assert not list((out / "records").glob(".*.tmp"))
    assert first <= {r["cell_id"] for r in records}


def test_table_cli(sweep_dir, capsys) -> None:
    from explorer.cli import main

    out, _, _ = sweep_dir
    assert main(["table", str(out), "--csv", "--metric", "acc"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("model,model_params,quant,quant_backend,task,metric,value,stderr,n_docs")
    assert sum(",ok" in ln for ln in lines) == 1 and sum(",failed" in ln for ln in lines) == 2
    assert main(["table", str(out / "nothing")]) == 1


def test_stop_keeps_finished_cells_and_resume_completes(tmp_path) -> None:
    import threading

    stop = threading.Event()
    spec = SweepSpec(
        models=["tiny-random-llama"],
        quantizations=["bf16", "int8"],
        tasks=["explorer_arith"],
        limit=4,
        batch_size=4,
        device="cpu",
    )
    seen: list[dict] = []

    def on_record(record: dict) -> None:
        seen.append(record)
        stop.set()  # a user pressing Stop as soon as the first cell lands

    counts = run_sweep(spec, tmp_path, progress=False, on_record=on_record, stop=stop)
    assert counts["ok"] == 1 and counts["stopped"] == 1 and counts["failed"] == 0
    assert [r["cell_id"] for r in read_records(tmp_path)] == [seen[0]["cell_id"]]
    again = run_sweep(spec, tmp_path, progress=False)
    assert again == {"ok": 1, "failed": 0, "skipped": 1, "stopped": 0}
    assert len(read_records(tmp_path)) == 2


def test_one_sweep_per_folder(tmp_path) -> None:
    from explorer.launcher.process import results_folder

    with results_folder(tmp_path), pytest.raises(ValueError, match=r"another sweep \(pid \d+\) is writing to"):
        spec = SweepSpec(models=["tiny-random-llama"], tasks=["explorer_arith"], limit=2, device="cpu")
        run_sweep(spec, tmp_path, progress=False)
    assert not (tmp_path / "records").exists()  # refused before planning: nothing written
