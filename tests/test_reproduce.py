"""The README's "reproduce a cell with plain lm-eval" recipe, run: `explorer reproduce DIR CELL` prints the command,
plain lm-eval recomputes the cell, and its per-document log-likelihoods and scores are the explorer's."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from explorer.config.spec import SweepSpec
from explorer.launcher.sweep import run_sweep
from explorer.records.files import read_records
from explorer.records.reproduce import lm_eval_command
from explorer.records.store import load_samples


@pytest.mark.slow
def test_plain_lm_eval_gives_the_same_per_document_results(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    spec = SweepSpec(models=["tiny-random-llama"], quantizations=["bf16"], tasks=["explorer_arith"], limit=6,
                     batch_size=2, device="cpu")  # fmt: skip
    run_sweep(spec, out, progress=False)
    (record,) = read_records(out)
    assert record["status"] == "ok" and record["lm_eval_settings"]["softmax_dtype"].endswith("float32")
    from explorer.cli import main

    assert main(["reproduce", str(out), record["cell_id"], "--output-path", str(tmp_path / "plain")]) == 0
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    assert printed.startswith("lm_eval run --model hf") and "softmax_dtype=float32" in printed
    cmd = lm_eval_command(record, str(tmp_path / "plain"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "lm_eval", *cmd[1:]], capture_output=True, text=True, env=env,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (samples_file,) = (tmp_path / "plain").rglob("samples_*.jsonl")
    plain = {s["doc_id"]: s for s in map(json.loads, samples_file.read_text().splitlines())}
    ours = load_samples(out).sort("doc_id")
    assert ours.height == len(plain) == 6
    for row in ours.iter_rows(named=True):
        theirs = plain[row["doc_id"]]
        logliks = [float(r[0]) for r in theirs["filtered_resps"]]
        assert all(math.isclose(a, b, rel_tol=0, abs_tol=1e-6) for a, b in zip(row["logliks"], logliks, strict=True))
        assert float(theirs["acc"]) == row["correct"]


def test_quantized_levels_are_not_offered_to_plain_lm_eval() -> None:
    record = {"cell_id": "x", "quant": "int8", "quant_backend": "torchao-int8-weight-only"}
    with pytest.raises(ValueError, match="plain lm-eval cannot apply it"):
        lm_eval_command(record)
