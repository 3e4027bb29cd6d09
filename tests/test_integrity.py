"""One integrity check for every result file: each kind of damage is named, never used, and moved aside."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import polars as pl
import pytest

from explorer.cli_check import EXIT_DAMAGED, add_check_parser, damage_lines
from explorer.records import files, integrity
from explorer.records.store import (
    ARCH_COLUMNS,
    EVAL_SCHEMA,
    SAMPLE_SCHEMA,
    load_evals,
    load_evals_checked,
    load_profiles,
    load_samples,
    load_samples_checked,
)

N_DOCS = 4


def _rows(cid: str) -> list[dict]:
    return [
        {"cell_id": cid, "task": "t", "doc_id": i, "doc_hash": f"h{i}", "filter": "none", "target": "0",
         "correct": float(i % 2), "pred": "0", "confidence": 0.6, "logliks": [-1.0, -2.0]}
        for i in range(N_DOCS)
    ]  # fmt: skip


def _write_cell(out: Path, cid: str, model: str, status: str = "ok", checksum: bool = True) -> None:
    """Samples first, then the record that stores their line count and sha256: what the worker does."""
    rec = {"cell_id": cid, "run_id": "r1", "model": model, "quant": "bf16", "task": "t", "status": status,
           "n_docs": N_DOCS, "batch_size": 4, "provenance": "measured", "versions": {"torch": "x"}}  # fmt: skip
    if status == "ok":
        written = files.write_samples(out, cid, _rows(cid))
        assert written.lines == N_DOCS and written.path == files.samples_path(out, cid)
        rec |= {"metrics": [{"metric": "acc", "value": 0.5, "stderr": 0.1}], "error": None}
        if checksum:
            rec |= {"samples_lines": written.lines, "samples_sha256": written.sha256}
    else:
        rec["error"] = "RuntimeError: out of memory"
    files.write_record(out, rec)


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """Two good ok cells, one failed cell, one good profile, and the victim cell `v` the tests damage."""
    for cid, model in (("a", "m1"), ("b", "m2"), ("v", "victim")):
        _write_cell(tmp_path, cid, model)
    _write_cell(tmp_path, "f", "m3", status="failed")
    profile = {"profile_id": "p1", "model": "m1", "quant": "bf16", "status": "ok", "rows": [{"batch_size": 1}]}
    files.atomic_write_text(tmp_path / "profiles" / "p1.json", json.dumps(profile))
    (tmp_path / "records" / ".v.json.123.tmp").write_text("{half")  # a killed writer's leftover: not a record
    return tmp_path


def _rec(out: Path) -> Path:
    return files.record_path(out, "v")


def _smp(out: Path) -> Path:
    return files.samples_path(out, "v")


def _edit_line(out: Path) -> None:
    lines = _smp(out).read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace('"correct": 1.0', '"correct": 0.0')  # still valid JSON of the sample schema
    _smp(out).write_text("".join(lines))


def _rewrite(out: Path, **change) -> None:
    _rec(out).write_text(json.dumps({**json.loads(_rec(out).read_text()), **change}))


# (what is done to cell v, which file is named, the reason)
DAMAGE = {
    "truncated record": (
        lambda o: _rec(o).write_text(_rec(o).read_text()[:40]),
        _rec,
        "record is not valid JSON (truncated?): ",
    ),
    "record is a list": (lambda o: _rec(o).write_text("[1, 2]"), _rec, "record is a JSON list, not an object"),
    "record of another shape": (
        lambda o: _rec(o).write_text('{"x": 1}'),
        _rec,
        "record lacks cell_id, status, model, quant, task",
    ),
    "cell_id not its name": (
        lambda o: _rewrite(o, cell_id="w"),
        _rec,
        "record's cell_id 'w' does not match its file name 'v'",
    ),
    "wrong field type": (lambda o: _rewrite(o, n_docs="4"), _rec, "record field 'n_docs' is str, should be an integer"),
    "unknown status": (lambda o: _rewrite(o, status="okay"), _rec, "record status 'okay' is not ok or failed"),
    "truncated samples": (
        lambda o: _smp(o).write_bytes(b"".join(_smp(o).read_bytes().splitlines(keepends=True)[:3])[:-30]),
        _smp,
        "samples has 3 lines, the record says 4",
    ),
    "one samples line changed": (
        _edit_line,
        _smp,
        "samples checksum does not match the record's (the file changed after it was written)",
    ),
    "missing samples": (lambda o: _smp(o).unlink(), _smp, "samples file v.jsonl is missing"),
    "empty samples": (lambda o: _smp(o).write_text(""), _smp, "samples has 0 lines, the record says 4"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_each_damage_is_named_never_used_and_repaired(folder: Path, case: str, capsys) -> None:
    damage, named, reason = DAMAGE[case]
    damage(folder)
    assert integrity.check_record(folder, _rec(folder)) is not None
    good, damaged = integrity.check_folder(folder)
    assert [d.path for d in damaged] == [str(named(folder))]
    assert damaged[0].reason.startswith(reason), damaged[0].reason
    assert sorted(r["cell_id"] for r in good) == ["a", "b", "f"]
    evals, reported = load_evals_checked(folder)
    assert sorted(evals["cell_id"].to_list()) == ["a", "b", "f"] and reported == damaged
    samples = load_samples(folder)
    assert sorted(set(samples["cell_id"])) == ["a", "b"] and samples.height == 2 * N_DOCS
    assert files.finished_ids(folder) == {"a", "b"}  # so a sweep re-runs v
    assert damage_lines(folder) == [f"damaged, not used: {named(folder)}: {damaged[0].reason}"]

    assert _check(folder) == EXIT_DAMAGED
    assert f"damaged: {named(folder)}: {damaged[0].reason}" in capsys.readouterr().out
    assert _check(folder, "--repair") == 0
    out = capsys.readouterr().out
    (dest,) = (folder / "damaged").iterdir()
    assert f"to {dest}" in out
    moved = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert moved == ["records/v.json"] + (["samples/v.jsonl"] if case != "missing samples" else [])
    assert not _rec(folder).exists() and not _smp(folder).exists()
    assert _check(folder) == 0 and integrity.check_folder(folder)[1] == []
    assert sorted(load_evals(folder)["cell_id"].to_list()) == ["a", "b", "f"]
    assert load_samples(folder).height == 2 * N_DOCS and load_profiles(folder).height == 1


def _check(folder: Path, *flags: str) -> int:
    parser = argparse.ArgumentParser()
    add_check_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["check", str(folder), *flags])
    return args.func(args)


def test_a_clean_folder_checks_clean_and_the_shipped_folders_are_intact(folder: Path, capsys) -> None:
    assert _check(folder) == 0 and "intact" in capsys.readouterr().out
    assert integrity.check_folder(folder)[1] == [] and damage_lines(folder) == []
    shipped = Path(__file__).resolve().parents[1] / "data"
    # demo_cpu: 2 models x 7 levels (3 transformers, 4 llama.cpp) x 3 tasks; random_cpu ships without samples
    for name, n_records in (("demo_cpu", 42), ("random_cpu", 120), ("llamacpp_cpu", 8)):
        good, damaged = integrity.check_folder(shipped / name)
        assert damaged == [] and len(good) == n_records
    assert integrity.check_profiles(shipped / "demo_cpu")[1] == []
    assert integrity.check_profiles(shipped / "llamacpp_cpu")[1] == []


def test_not_a_results_folder_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="is not a results folder"):
        _check(tmp_path / "nothing")


def test_samples_that_polars_cannot_read_are_reported_not_raised(folder: Path) -> None:
    """Bad types and NaN would make Polars raise ComputeError: they are damage, and load_samples goes on."""
    line = json.dumps({**_rows("v")[0], "doc_id": "x"})
    for bad, reason in (
        (line, "samples line 1 field 'doc_id' is str, should be an integer"),
        (line.replace('"x"', "0").replace("0.6", "NaN"), "samples line 1 has NaN, which is not JSON (null is)"),
        (json.dumps({**_rows("w")[0]}), "samples line 1 belongs to cell 'w', not 'v'"),
        ('{"cell_id": "v"}', "samples line 1 lacks task, doc_id"),
    ):
        _smp(folder).write_text(bad + "\n" + "".join(json.dumps(r) + "\n" for r in _rows("v")[1:]))
        frame, damaged = load_samples_checked(folder)
        assert [(d.path, d.reason) for d in damaged] == [(str(_smp(folder)), reason)]
        assert sorted(set(frame["cell_id"])) == ["a", "b"]


def test_old_records_without_checksum(tmp_path: Path) -> None:
    """Before samples_lines/sha256: n_docs x filters lines that all parse; no samples file is accepted."""
    _write_cell(tmp_path, "old", "m", checksum=False)
    _write_cell(tmp_path, "nosamples", "m", checksum=False)
    files.samples_path(tmp_path, "nosamples").unlink()
    assert integrity.check_folder(tmp_path)[1] == []
    assert load_samples(tmp_path)["cell_id"].unique().to_list() == ["old"]
    two_filters = _rows("old") + [{**r, "filter": "strict"} for r in _rows("old")]
    files.write_samples(tmp_path, "old", two_filters[:-1])
    (damage,) = integrity.check_folder(tmp_path)[1]
    assert damage.reason == "samples has 7 lines, the record says 8 (2 filters x n_docs)"
    files.write_samples(tmp_path, "old", two_filters)
    assert integrity.check_folder(tmp_path)[1] == []
    rec = json.loads(files.record_path(tmp_path, "old").read_text())
    files.write_record(tmp_path, {**rec, "samples_error": "OSError: disk full"})  # the old worker's ok-anyway
    (damage,) = integrity.check_folder(tmp_path)[1]
    assert damage.reason == "the record says ok but its samples were not written: OSError: disk full"


def test_damaged_profiles_are_left_out(folder: Path) -> None:
    (folder / "profiles" / "p2.json").write_text('{"profile_id": "p2", "model": "m"')
    files.atomic_write_text(folder / "profiles" / "p3.json", json.dumps({"profile_id": "p3", "model": "m"}))
    good, damaged = integrity.check_profiles(folder)
    assert [r["profile_id"] for r in good] == ["p1"] and load_profiles(folder).height == 1
    assert [Path(d.path).name for d in damaged] == ["p2.json", "p3.json"]
    assert damaged[1].reason == "profile lacks quant, status"
    assert _check(folder, "--repair") == 0
    assert sorted(p.name for p in (folder / "damaged").rglob("*.json")) == ["p2.json", "p3.json"]


def test_the_check_knows_every_column_the_tables_read() -> None:
    kinds = {pl.String: "str", pl.Int64: "int", pl.Float64: "num", pl.Boolean: "bool"}
    record_columns = set(EVAL_SCHEMA) - {"metric", "value", "stderr", *ARCH_COLUMNS}
    json_columns = {"quant_settings", "versions", "lm_eval_settings"}  # objects in the record, JSON text in Polars
    assert record_columns - json_columns <= set(integrity.RECORD_FIELDS)
    for name in record_columns - json_columns:
        assert integrity.RECORD_FIELDS[name] == kinds[EVAL_SCHEMA[name]], name
    assert all(integrity.RECORD_FIELDS[n] == "dict" for n in json_columns)
    assert {n: kinds[t] for n, t in ARCH_COLUMNS.items()} == integrity.ARCH_FIELDS
    assert set(SAMPLE_SCHEMA) == set(integrity.SAMPLE_FIELDS)


def test_a_samples_write_failure_fails_the_cell(tmp_path: Path, monkeypatch) -> None:
    """The worker in-process on a tiny random model, two cells: the first one's samples cannot be written."""
    from explorer.config.spec import SweepSpec
    from explorer.launcher.sweep import plan_sweep
    from explorer.runner import worker

    spec = SweepSpec(models=["tiny-random-llama"], quantizations=["bf16"], tasks=["explorer_arith"], limit=3,
                     batch_size=4, device="cpu")  # fmt: skip
    plan = plan_sweep(spec, tmp_path)
    (job,) = plan.jobs
    cell = job.cells[0]
    cells = [dataclasses.replace(cell, cell_id="broken"), cell]
    real = files.write_samples

    def flaky(out_dir, cid, rows):
        if cid == "broken":
            raise OSError(28, "No space left on device")
        return real(out_dir, cid, rows)

    monkeypatch.setattr(files, "write_samples", flaky)
    assert worker.run_job(dataclasses.replace(job, cells=cells)) == 1
    broken = json.loads(files.record_path(tmp_path, "broken").read_text())
    assert broken["status"] == "failed" and not files.samples_path(tmp_path, "broken").exists()
    assert broken["error"] == "per-document samples not written: OSError: [Errno 28] No space left on device"
    assert [m["metric"] for m in broken["metrics"]] == ["acc", "acc_norm"]  # kept for diagnosis
    ok = json.loads(files.record_path(tmp_path, cell.cell_id).read_text())
    assert ok["status"] == "ok" and ok["samples_lines"] == 3
    good, damaged = integrity.check_folder(tmp_path)
    assert damaged == [] and sorted(r["cell_id"] for r in good) == sorted(["broken", cell.cell_id])
    settings = ok["lm_eval_settings"]
    assert settings["softmax_dtype"] == "torch.float32" and settings["batch_size"] == 4
    assert settings["dtype"] == "torch.bfloat16" and isinstance(settings["max_length"], int)
    assert files.finished_ids(tmp_path) == {cell.cell_id}
    evals = load_evals(tmp_path)
    assert evals.filter(pl.col("status") == "failed")["metric"].to_list() == [None]
    assert json.loads(evals.filter(pl.col("status") == "ok")["lm_eval_settings"][0])["backend"] == "causal"
