"""Record files and Polars views: content keys, atomic writes, long-format evals, samples."""

from __future__ import annotations

import hashlib
import json
import os

import polars as pl
import pytest

from explorer.records import files
from explorer.records.store import evals_frame, evals_table, load_evals, load_samples

KEY = {"model": {"kind": "demo", "ref": "smollm2-135m"}, "quant": "bf16", "task": "arc_easy", "limit": 50}


def test_cell_id_is_stable_and_sensitive() -> None:
    assert files.cell_id(KEY) == files.cell_id(dict(reversed(list(KEY.items()))))
    assert len(files.cell_id(KEY)) == 16
    for change in ({"quant": "int8"}, {"limit": 51}, {"task": "piqa"}, {"model": {"kind": "demo", "ref": "x"}}):
        assert files.cell_id({**KEY, **change}) != files.cell_id(KEY)


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch) -> None:
    target = tmp_path / "records" / "a.json"
    files.atomic_write_text(target, "first")

    def boom(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        files.atomic_write_text(target, "second")
    assert target.read_text() == "first"
    assert [p.name for p in target.parent.iterdir()] == ["a.json"]  # temp file removed


def _record(cid: str, status: str = "ok", **kw) -> dict:
    base = {
        "cell_id": cid,
        "model": "m",
        "quant": "bf16",
        "task": "t",
        "status": status,
        "n_docs": 2,
        "model_params": 10,
        "quant_backend": "torch",
        "provenance": "measured",
        "versions": {"torch": "x"},
    }
    if status == "ok":
        base["metrics"] = [
            {"metric": "acc", "value": 0.5, "stderr": 0.1},
            {"metric": "acc_norm", "value": 0.25, "stderr": 0.1},
        ]
    else:
        base["error"] = "QuantizationError: nope"
    return {**base, **kw}


def test_long_format_and_failed_rows(tmp_path) -> None:
    files.write_record(tmp_path, _record("a"))
    files.write_record(tmp_path, _record("b", status="failed", quant="nf4"))
    (tmp_path / "records" / ".c.json.123.tmp").write_text("{half")  # a killed writer's leftover
    evals = load_evals(tmp_path)
    assert evals.height == 3
    ok = evals.filter(pl.col("status") == "ok")
    assert sorted(ok["metric"].to_list()) == ["acc", "acc_norm"]
    assert ok.filter(pl.col("metric") == "acc")["value"].item() == 0.5
    failed = evals.filter(pl.col("status") == "failed")
    assert failed["error"].item() == "QuantizationError: nope" and failed["metric"].item() is None
    assert json.loads(ok["versions"][0]) == {"torch": "x"}
    table = evals_table(evals, metrics=("acc",))
    assert table.height == 2 and table.columns[:3] == ["model", "model_params", "quant"]
    assert files.finished_ids(tmp_path) == {"a"}
    assert files.finished_ids(tmp_path, include_failed=True) == {"a", "b"}


def test_samples_roundtrip(tmp_path) -> None:
    rows = [
        {
            "cell_id": "a",
            "task": "t",
            "doc_id": i,
            "doc_hash": "h",
            "target": "0",
            "correct": 1.0,
            "pred": "0",
            "confidence": 0.7,
            "logliks": [-1.0, -2.0],
        }
        for i in range(3)
    ]
    for cid, cell_rows in (("a", rows), ("b", [])):  # samples first, then the record that counts them
        written = files.write_samples(tmp_path, cid, cell_rows)
        assert (
            written.lines == len(cell_rows) and written.sha256 == hashlib.sha256(written.path.read_bytes()).hexdigest()
        )
        files.write_record(tmp_path, _record(cid, n_docs=len(cell_rows), samples_lines=written.lines,
                                             samples_sha256=written.sha256))  # fmt: skip
    files.write_samples(tmp_path, "orphan", rows)  # no record (a killed worker's, a moved record's): not used
    samples = load_samples(tmp_path)
    assert samples.height == 3 and samples["logliks"].to_list()[0] == [-1.0, -2.0]
    assert set(samples["cell_id"]) == {"a"}
    assert load_samples(tmp_path, cell_ids=["b"]).height == 0
    assert evals_frame([]).height == 0
